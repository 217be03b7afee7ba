import Foundation
import SkyportCore

/// A kind of job Skyport's UWS interface runs: the parameters it takes (as a JSON schema) and how they become a request.
public struct UWSJobType: Sendable {
    public var name: String
    public var summary: String
    /// The JSON schema of its parameters (names in lower case; every value is text, as UWS parameters are).
    public var schema: JSONValue
    /// Checks the parameters (names in lower case) and builds the request they describe.
    /// Throws a `BrokerError` (`badParameter`, `invalidParameters`) naming the parameter at fault.
    public var request: @Sendable (_ parameters: [String: String], _ now: Date, _ egress: EgressPolicy) throws -> NormalisedRequest

    /// Every registered type; the first is the default.
    public static let all: [UWSJobType] = [.execute]

    public static func named(_ name: String) -> UWSJobType? { all.first { $0.name == name.lowercased() } }

    /// UWS job-control parameters every type accepts at creation (names compared case-insensitively).
    public static let controlParameters = ["phase", "runid", "executionduration", "destruction", "type"]

    /// `execute`: negotiate an ExecutionBroker request, accept the best offer, and follow the session it becomes.
    static let execute = UWSJobType(
        name: "execute",
        summary: "Negotiate an ExecutionBroker request, accept the best offer and follow the session it becomes.",
        schema: .object([
            "$schema": .string("https://json-schema.org/draft/2020-12/schema"),
            "type": .string("object"),
            "properties": .object([
                "request": .object([
                    "type": .string("string"),
                    "description": .string("An ExecutionBroker request document, as JSON or YAML text (the body POST /requests takes)."),
                ]),
                "software": .object([
                    "type": .string("string"),
                    "description": .string("A codemeta.json describing the software to run, as JSON text (instead of request)."),
                ]),
                "basket": .object([
                    "type": .string("string"),
                    "description": .string("ESAP shopping-basket items, as JSON text (an array or one item); only with software."),
                ]),
            ]),
            "oneOf": .array([
                .object(["required": .array([.string("request")])]),
                .object(["required": .array([.string("software")])]),
            ]),
            "additionalProperties": .bool(false),
        ]),
        request: { parameters, now, egress in try executeRequest(parameters, now: now, egress: egress) })

    static func executeRequest(_ p: [String: String], now: Date, egress: EgressPolicy) throws -> NormalisedRequest {
        if let extra = p.keys.sorted().first(where: { !["request", "software", "basket"].contains($0) }) {
            throw BrokerError.badParameter(field: extra, message: "unknown parameter '\(extra)' for job type execute: use request, or software with basket")
        }
        if let text = p["request"] {
            if p["software"] != nil || p["basket"] != nil {
                throw BrokerError.badParameter(
                    field: p["software"] != nil ? "software" : "basket", message: "give either request, or software (with basket), not both")
            }
            return try parse(Documents.parseText(text, parameter: "request"), now: now, egress: egress, parameter: { _ in "request" })
        }
        guard let software = p["software"] else {
            throw BrokerError.badParameter(
                field: "request", message: "missing parameter: give request (an ExecutionBroker request document) or software (a codemeta.json)")
        }
        var doc: [String: JSONValue] = ["software": try Documents.parseText(software, parameter: "software", yamlAllowed: false)]
        if let basket = p["basket"] { doc["basket"] = try Documents.parseText(basket, parameter: "basket", yamlAllowed: false) }
        return try parse(.object(doc), now: now, egress: egress, parameter: { $0.hasPrefix("basket") ? "basket" : "software" })
    }

    /// Runs the request parser, naming the job parameter a failing field came from.
    static func parse(_ doc: JSONValue, now: Date, egress: EgressPolicy, parameter: (String) -> String) throws -> NormalisedRequest {
        do {
            // A UWS client is told at once (a 4xx) what an ExecutionBroker client is told with `result: NO`.
            return try ExecutionRequestParser.parse(doc, now: now, egress: egress, strict: true)
        } catch let failure as ValidationFailure {
            throw BrokerError.invalidParameters(failure.errors.map { FieldError(parameter($0.field), $0.description) })
        }
    }

    /// `GET /uws/types`: every type with the JSON schema of its parameters.
    public static var catalogue: JSONValue {
        .object([
            "default": .string(all[0].name),
            "controlParameters": .array(["PHASE", "RUNID", "EXECUTIONDURATION", "DESTRUCTION", "type"].map(JSONValue.string)),
            "types": .array(all.map { .object(["name": .string($0.name), "summary": .string($0.summary), "parameters": $0.schema]) }),
        ])
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import SkyportBroker
import SkyportCore

/// The served OpenAPI document as the rule for request bodies: each JSON or YAML body is checked against the schema
/// `specs/openapi.yaml` gives its operation before a handler reads it (`SchemaCheck`), so every constraint the spec
/// states is enforced, in the spec's own terms. (XML bodies, whose types are inferred, are read leniently.)
enum APIContract {
    /// The spec, parsed once.
    static let document: JSONValue = {
        let text = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)
        // The spec is part of the binary and checked by the tests; an unreadable one is a build defect.
        guard let document = try? YAMLBridge.parse(text) else { fatalError("the embedded openapi.yaml is not readable") }
        return document
    }()

    static let check = SchemaCheck(document: document)

    /// The check requests are put to. HttpUrl's pattern also states the default egress rule. Here only its syntax is
    /// checked: every field that holds one is then put to this broker's own egress rule (SKYPORT_EGRESS_ALLOW) by its
    /// handler, which says why.
    static let requestCheck = check.deciding(SpecPattern.httpURL) { SpecPattern.matches($0, SpecPattern.httpURLSyntax) }

    /// Each operation's JSON request-body schema by method and the spec's path template (`POST /requests`), found and
    /// compiled once rather than walked in the document for every request.
    static let bodySchemas: [String: SchemaCheck.Schema] = {
        var found: [String: SchemaCheck.Schema] = [:]
        for (path, operations) in document["paths"]?.objectValue ?? [:] {
            for (method, operation) in operations.objectValue ?? [:] {
                if let schema = operation["requestBody"]?["content"]?["application/json"]?["schema"] {
                    found[method.uppercased() + " " + path] = check.compile(schema)
                }
            }
        }
        return found
    }()

    /// Throws the fields that break the request-body schema of the operation (`method` and the spec's `path`
    /// template); nothing when the operation has no JSON body schema.
    static func checkBody(_ document: JSONValue, _ method: HTTPRequest.Method, _ path: String) throws {
        guard let schema = bodySchemas[method.rawValue + " " + path] else { return }
        let problems = requestCheck.problems(document, schema)
        if !problems.isEmpty { throw ValidationFailure(problems) }
    }

    /// The schema of a UWS job's request documents.
    static let executionRequest = check.schema(at: "#/components/schemas/ExecutionRequest").map(check.compile)

    /// Checks the documents a UWS job's `request` (or `software` and `basket`) parameters carry against the spec's
    /// ExecutionRequest, as `POST /requests` checks its body: a field at fault is a 400 naming the parameter and,
    /// in its message, the field. Text that does not parse is left to the job type, which says why.
    static func checkUWSDocuments(_ parameters: [(name: String, value: String)]) throws {
        var given: [String: String] = [:]
        for (name, value) in parameters where given[name.lowercased()] == nil { given[name.lowercased()] = value }
        var document: [String: JSONValue] = [:]
        if let text = given["request"] {
            guard case .object(let parsed)? = try? Documents.parseText(text, parameter: "request") else { return }
            document = parsed
        } else {
            for key in ["software", "basket"] {
                if let text = given[key], let parsed = try? Documents.parseText(text, parameter: key, yamlAllowed: false) { document[key] = parsed }
            }
        }
        guard !document.isEmpty, let schema = executionRequest else { return }
        let problems = requestCheck.problems(.object(document), schema)
        guard !problems.isEmpty else { return }
        let named = problems.map { problem in
            let parameter = given["request"] != nil ? "request" : (problem.field.hasPrefix("basket") ? "basket" : "software")
            return FieldError(parameter, "\(problem.field): \(problem.message)")
        }
        throw BrokerError.invalidParameters(named)
    }

    /// Reads a JSON or YAML body (as `Representation.readDocument`) and checks it against the operation's schema.
    static func readBody(_ request: Request, limit: Int, _ method: HTTPRequest.Method, _ path: String) async throws -> JSONValue {
        let document = try await Representation.readDocument(request, limit: limit)
        try checkBody(document, method, path)
        return document
    }
}

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
    static let check: SchemaCheck = {
        let text = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)
        // The spec is part of the binary and checked by the tests; an unreadable one is a build defect.
        guard let document = try? YAMLBridge.parse(text) else { fatalError("the embedded openapi.yaml is not readable") }
        return SchemaCheck(document: document)
    }()

    /// Throws the fields that break the request-body schema of the operation (`method` and the spec's `path`
    /// template); nothing when the operation has no JSON body schema.
    static func checkBody(_ document: JSONValue, _ method: HTTPRequest.Method, _ path: String) throws {
        let pointer = "#/paths/\(path.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1"))/\(method.rawValue.lowercased())/requestBody/content/application~1json/schema"
        guard let schema = check.schema(at: pointer) else { return }
        // HttpUrl's pattern also states the default egress rule. Here only its syntax is checked: every field that holds
        // one is then put to this broker's own egress rule (SKYPORT_EGRESS_ALLOW) by its handler, which says why.
        let problems = check.deciding(SpecPattern.httpURL) { SpecPattern.matches($0, SpecPattern.httpURLSyntax) }.problems(document, schema)
        if !problems.isEmpty { throw ValidationFailure(problems) }
    }

    /// Reads a JSON or YAML body (as `Representation.readDocument`) and checks it against the operation's schema.
    static func readBody(_ request: Request, limit: Int, _ method: HTTPRequest.Method, _ path: String) async throws -> JSONValue {
        let document = try await Representation.readDocument(request, limit: limit)
        try checkBody(document, method, path)
        return document
    }
}

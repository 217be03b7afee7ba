import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SkyportBroker
import SkyportCore
import Testing

/// Every request example in specs/openapi.yaml is a request the server takes (issue 18: one source of truth).
@Suite struct SpecExamplesTests {
    static let specFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../specs/openapi.yaml").standardized

    /// `(method, path, content type, example)` for every request body example in the spec.
    static func examples() throws -> [(String, String, String, JSONValue)] {
        let spec = try YAMLBridge.parse(String(contentsOf: specFile, encoding: .utf8))
        var out: [(String, String, String, JSONValue)] = []
        for (path, operations) in spec["paths"]?.objectValue ?? [:] {
            for (method, operation) in operations.objectValue ?? [:] {
                for (type, content) in operation["requestBody"]?["content"]?.objectValue ?? [:] {
                    if let example = content["example"] { out.append((method.uppercased(), path, type, example)) }
                    for (_, named) in content["examples"]?.objectValue ?? [:] {
                        if let value = named["value"] { out.append((method.uppercased(), path, type, value)) }
                    }
                }
            }
        }
        // Resources first (a facility, then a request and its session), the rest after.
        let order = ["/facilities", "/requests", "/sessions/{uuid}"]
        return out.sorted { a, b in
            let x = order.firstIndex(of: a.1) ?? order.count, y = order.firstIndex(of: b.1) ?? order.count
            return x != y ? x < y : (a.1, a.0, a.2) < (b.1, b.0, b.2)
        }
    }

    @Test func everyRequestExampleInTheSpecIsTaken() async throws {
        let examples = try Self.examples()
        #expect(examples.count >= 6, "\(examples.map { "\($0.0) \($0.1)" })")
        let answers = try await TestBroker().run { (client: any TestClientProtocol) async throws -> [String] in
            var answers: [String] = []
            var session: String?
            for (method, path, type, example) in examples {
                var uri = path
                if path.contains("{uuid}") {
                    guard let session else { answers.append("\(method) \(path): no session to act on"); continue }
                    uri = path.replacingOccurrences(of: "/sessions/{uuid}", with: session)
                }
                var headers: HTTPFields = [.contentType: type, .authorization: "Bearer \(TestBroker.aliceToken)"]
                let body: String
                switch type {
                case "application/json": body = String(decoding: example.jsonBytes, as: UTF8.self)
                case "application/yaml": body = try YAMLBridge.serialize(example)
                case "application/x-www-form-urlencoded":
                    body = (example.objectValue ?? [:]).sorted { $0.key < $1.key }.map { key, value in
                        let text = value.stringValue ?? String(decoding: value.jsonBytes, as: UTF8.self)
                        return "\(key)=\(text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text)"
                    }.joined(separator: "&")
                default:
                    answers.append("\(method) \(path): an example in \(type), which this test does not send")
                    continue
                }
                let r = try await client.execute(uri: uri, method: HTTPRequest.Method(method)!, headers: headers, body: ByteBuffer(string: body))
                if r.status.code >= 400 { answers.append("\(method) \(path) (\(type)): \(r.status.code) \(String(buffer: r.body))") }
                if path == "/requests", let set = try? r.json() { session = (offers(set).first.map(sessionURL)).flatMap { URL(string: $0)?.path } }
            }
            return answers
        }
        #expect(answers.isEmpty, "\(answers.joined(separator: "\n"))")
    }
}

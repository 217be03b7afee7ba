import Foundation
@testable import SkyportCore
@testable import SkyportRemotes
import SkyportTestSupport
import Testing

/// JSON written by other parties, nested deeper than Foundation's decoders survive (they trap on some texts past
/// 512 levels, as FuzzBasket found for basket `item_data`): every reader of outside JSON goes through Skyport's
/// bounded reader first, so such a document is an error or a log line, never a stopped broker.
@Suite struct DeepJSONTests {
    static let depths = [511, 512, 513, 600, 20_000]

    static func nested(_ depth: Int) -> String { String(repeating: "[", count: depth) + String(repeating: "]", count: depth) }
    static func unclosed(_ depth: Int) -> String { String(repeating: "[", count: depth) }

    @Test(arguments: depths)
    func theBoundedDecoderThrowsInsteadOfTrapping(_ depth: Int) {
        for text in [Self.nested(depth), Self.unclosed(depth), #"{"a":"# + Self.unclosed(depth)] {
            let decoded = try? JSONValue.decode([JSONValue].self, from: Data(text.utf8))
            if depth > JSONValue.maxDepth || text.hasSuffix("[") { #expect(decoded == nil) }
        }
    }

    @Test(arguments: depths)
    func aBinderHubEventNestedDeepIsALogLine(_ depth: Int) {
        let data = #"{"phase": "building", "message": "# + Self.unclosed(depth) + "}"
        let event = BinderEvent(data: data)
        #expect(event.phase == "unknown" && event.message == data)
    }

    @Test func binderHubEventFieldsAreReadFromTheBoundedReader() {
        let event = BinderEvent(data: #"{"phase": "Ready", "message": "up\n", "status_code": 200, "url": "https://hub/user/x/", "token": "t", "image": "r2d:1"}"#)
        #expect(event == BinderEvent(phase: "ready", message: "up\n", statusCode: 200, url: "https://hub/user/x/", token: "t", imageName: "r2d:1"))
        #expect(BinderEvent(data: #"{"phase": "failed", "message": 42}"#).message == "42")
    }

    @Test(arguments: depths)
    func aCommandListNestedDeepIsNotAList(_ depth: Int) {
        #expect(RequestDocument.list(Self.unclosed(depth)) == nil)
        #expect(RequestDocument.list(#"["sleep", ["10"]]"#) == nil)
        #expect(RequestDocument.list(#"["sleep","10"]"#) == .array([.string("sleep"), .string("10")]))
    }

    @Test(arguments: [513, 20_000])
    func aBinderHubHealthDocumentNestedDeepIsUnavailableNotATrap(_ depth: Int) async throws {
        try await withStubHTTPServer { server in
            server.route("/bh/health", .json(#"{"ok": true, "checks": "# + Self.unclosed(depth), status: 200))
            server.route("/bh/versions", .json(Self.unclosed(depth)))
            let result = try await withEgress { egress in
                await HealthProbe(egress: egress, timeout: .seconds(30)).probe(Endpoint(kind: .binderhub, url: server.base.absoluteString + "/bh"))
            }
            #expect(!result.healthy)
            #expect(result.reason == "BinderHub /health answered HTTP 200 without a health document")
            #expect(result.fingerprint == nil)
        }
    }

    @Test(arguments: [513, 20_000])
    func aDjangoUWSDocumentNestedDeepIsAnInvalidResponse(_ depth: Int) async throws {
        try await withStubHTTPServer { server in
            server.route("/jobs/1/", .json(#"{"jobId": "# + Self.unclosed(depth)))
            server.route("/jobs/", .json(Self.unclosed(depth)))
            try await withRemoteHTTP { http in
                let client = DjangoUWSClient(http: http)
                for call in [{ _ = try await client.job(server.base.appending(path: "jobs/1/")) },
                             { _ = try await client.find(jobList: server.base.appending(path: "jobs/"), runId: "x") }] as [() async throws -> Void] {
                    do {
                        try await call()
                        Issue.record("a \(depth)-deep document was read")
                    } catch let error as RemoteError {
                        #expect(error.kind == .invalidResponse, "\(error)")
                        #expect(error.description.contains("nested deeper than 512 levels"), "\(error)")
                    }
                }
            }
        }
    }
}

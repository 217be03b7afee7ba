import Foundation
import HummingbirdTesting
import SkyportApp
import SkyportBroker
import SkyportHTTP
import SkyportStore
import Testing
import Yams

@Suite struct SystemAPITests {
    @Test func healthReportsVersionAndStore() async throws {
        try await TestBroker(store: try SQLiteStore(path: ":memory:")).run { client in
            let r = try await client.send(.get, "/health")
            #expect(r.status == .ok)
            let body = try r.json()
            #expect(body["status"] as? String == "ok")
            #expect(body["version"] as? String == SkyportRuntime.version)
            #expect((body["store"] as? [String: Any])?["kind"] as? String == "sqlite")
        }
    }

    @Test func metricsCountRequestsByRouteAndStatus() async throws {
        try await TestBroker().run { client in
            _ = try await client.send(.get, "/facilities")
            _ = try await client.send(.get, "/facilities/nothing-here")
            _ = try await client.send(.get, "/facilities/nothing-here")
            let text = try await client.send(.get, "/metrics").text
            #expect(text.contains(#"skyport_http_requests_total{method="GET",route="/facilities",status="200"} 1"#))
            #expect(text.contains(#"skyport_http_requests_total{method="GET",route="/facilities/{id}",status="404"} 2"#))
            #expect(text.contains("skyport_http_request_duration_seconds_bucket"))
        }
    }

    /// The served OpenAPI document and the router must agree: every route documented, every documented route served.
    @Test func servedSpecAndRoutesAgree() async throws {
        let (_, routes) = SkyportRouter.build(APIDependencies(broker: Broker(store: InMemoryStore()), metrics: .init(), version: "test"))
        let served = try await TestBroker().run { client in try await client.send(.get, "/openapi.yaml").text }
        let spec = try #require(try Yams.load(yaml: served) as? [String: Any])
        let paths = try #require(spec["paths"] as? [String: [String: Any]])
        let methods = Set(["get", "put", "post", "delete", "patch", "head", "options"])
        var documented = Set<String>()
        for (path, item) in paths {
            for key in item.keys where methods.contains(key) { documented.insert("\(key.uppercased()) \(path)") }
        }
        let registered = Set(routes.map(\.description))
        #expect(registered.subtracting(documented).isEmpty, "routes missing from specs/openapi.yaml: \(registered.subtracting(documented).sorted())")
        #expect(documented.subtracting(registered).isEmpty, "documented routes not served: \(documented.subtracting(registered).sorted())")
        #expect(registered.count >= 8)

        // The served document is the file in specs/.
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../specs/openapi.yaml")
        #expect(served == (try String(contentsOf: file, encoding: .utf8)))
    }
}

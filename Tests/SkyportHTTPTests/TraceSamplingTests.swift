import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SkyportCore
@testable import SkyportHTTP
import Testing

/// Which requests are traced: decided at the door, before any span is made.
@Suite struct TraceSamplingTests {
    /// A router whose one route answers whether its request is traced.
    static func app(ratio: Double) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: SampledTracingMiddleware(ratio: ratio))
        router.get("/traced") { _, _ in TraceScope.traced ? "yes" : "no" }
        return Application(router: router)
    }

    @Test func aCallersTraceparentIsAlwaysContinuedAndTheRestAreSampled() async throws {
        try await Self.app(ratio: 0).test(.router) { client in
            let untraced = try await client.execute(uri: "/traced", method: .get)
            #expect(String(buffer: untraced.body) == "no")
            var headers = HTTPFields()
            headers[HTTPField.Name("traceparent")!] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let continued = try await client.execute(uri: "/traced", method: .get, headers: headers)
            #expect(String(buffer: continued.body) == "yes")
        }
        try await Self.app(ratio: 1).test(.router) { client in
            let sampled = try await client.execute(uri: "/traced", method: .get)
            #expect(String(buffer: sampled.body) == "yes")
        }
        // Outside any request nothing is traced.
        #expect(TraceScope.traced == false)
    }
}

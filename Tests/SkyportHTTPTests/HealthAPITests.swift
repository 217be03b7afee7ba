import Foundation
import HummingbirdTesting
import SkyportCore
import SkyportTestSupport
import Testing

/// The health checks through the whole broker: a facility nothing answers for is found unavailable by the
/// background checks, shown so on its document, and rejected with `facility-unavailable` when asked.
@Suite struct HealthAPITests {
    @Test func aFacilityThatFailsItsChecksIsShownUnavailableAndNotOffered() async throws {
        var broker = try await TestBroker(withServices: true)
        broker.config.healthPeriod = 1
        try await broker.run { client in
            #expect(try await client.send(.post, "/facilities", json: computeFacility("down"), token: TestBroker.aliceToken).status == .created)
            var health: [String: Any]?
            _ = try await eventually(every: .milliseconds(200)) {
                health = try await client.send(.get, "/facilities/down").json()["health"] as? [String: Any]
                return health?["status"] as? String == "unavailable"
            }
            #expect(health?["status"] as? String == "unavailable", "\(String(describing: health))")
            #expect((health?["reason"] as? String ?? "").contains("not reachable"), "\(String(describing: health))")
            #expect(health?["checked"] != nil)

            let answer = try await client.request(json: notebookRequest)
            #expect(offers(answer.body).isEmpty)
            let rejected = try #require(answer.body["rejected"] as? [[String: Any]])
            let reasons = rejected.first { $0["facility"] as? String == "down" }?["reasons"] as? [[String: Any]] ?? []
            #expect(reasons.contains { $0["code"] as? String == "facility-unavailable" }, "\(rejected)")
        }
    }
}

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
            #expect(health?["checked"] != nil)
            // What the probe found is for operators; anyone else reads that the check failed.
            #expect(health?["reason"] as? String == "failed its last health check", "\(String(describing: health))")
            let operatorView = try await client.send(.get, "/facilities/down", token: TestBroker.aliceToken).json()
            let asOperator = operatorView["health"] as? [String: Any]
            #expect((asOperator?["reason"] as? String ?? "").contains("not reachable"), "\(String(describing: asOperator))")

            let answer = try await client.request(json: notebookRequest)
            #expect(offers(answer.body).isEmpty)
            let reasons = Self.reasons(answer.body, "down")
            let reason = try #require(reasons.first { $0["code"] as? String == "facility-unavailable" }, "\(answer.body)")
            // An anonymous caller: the reduced reason, no probe detail (no remote status or text, no probe times).
            #expect(reason["message"] as? String == "facility down is unavailable")
            #expect(reason["requested"] as? String == "available" && reason["offered"] as? String == "unavailable")
            #expect(!answer.body.description.contains("not reachable"))
            // A user with a token of their own is no operator: the same.
            let path = try #require(answer.path)
            let asUser = try await client.send(.get, path, token: "skp_some-user").json()
            #expect(Self.reasons(asUser, "down").first?["message"] as? String == "facility down is unavailable")
            // An operator reads the same offer set with the probe's finding and its times (rendered from the stored detail).
            let asAlice = try await client.send(.get, path, token: TestBroker.aliceToken).json()
            let full = try #require(Self.reasons(asAlice, "down").first?["message"] as? String)
            #expect(full.hasPrefix("facility down is unavailable since ") && full.contains("(checked ") && full.contains("not reachable"), "\(full)")
        }
    }

    static func reasons(_ body: [String: Any], _ facility: String) -> [[String: Any]] {
        let rejected = body["rejected"] as? [[String: Any]] ?? []
        return rejected.first { $0["facility"] as? String == facility }?["reasons"] as? [[String: Any]] ?? []
    }
}

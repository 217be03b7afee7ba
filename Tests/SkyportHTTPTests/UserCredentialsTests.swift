import Foundation
import HTTPTypes
import HummingbirdTesting
import SkyportCore
import SkyportRemotes
import SkyportTestSupport
import Synchronization
import Testing

/// The user's credentials carried to the facility: a facility endpoint that takes the caller's own token
/// (`forward`) or one exchanged for it at the caller's issuer (`exchange`, RFC 8693 at the real OpenID provider the
/// test command starts), renewed while the job runs, and a session failing when it can no longer be renewed. The
/// facility is a UWS job list on loopback that records the `Authorization` of every call.
@Suite(.serialized, .enabled(if: TestPeers.run(TestPeers.oidc != nil), "OpenID provider not started: scripts/peers.sh start oidc"))
struct UserCredentialsTests {
    static let audience = "https://uws.facility.test"
    static let accept = #"{"kind":"uri:enum-value-update","path":"phase","value":"ACCEPTED"}"#

    /// A UWS 1.1 job list holding one job that stays EXECUTING; every call's `Authorization` is kept, in order.
    final class Facility: Sendable {
        let server: StubHTTPServer
        let seen = Calls()

        final class Calls: Sendable {
            let list = Mutex<[(path: String, authorization: String?)]>([])
        }

        init() async throws {
            server = try await StubHTTPServer.start()
            let base = server.base.absoluteString
            let calls = seen
            let record: @Sendable (StubRequest) -> Void = { r in calls.list.withLock { $0.append((r.path, r.header("Authorization"))) } }
            server.route("/uws/jobs") { r, _ in
                record(r)
                return StubResponse(status: 303, headers: [("Location", base + "/uws/jobs/j1")])
            }
            server.route("/uws/jobs/j1/phase") { r, _ in
                record(r)
                return StubResponse(status: 303, headers: [("Location", base + "/uws/jobs/j1")])
            }
            server.route("/uws/jobs/j1") { r, _ in
                record(r)
                return .xml("""
                    <uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" version="1.1"><uws:jobId>j1</uws:jobId>\
                    <uws:ownerId/><uws:phase>EXECUTING</uws:phase><uws:startTime/><uws:endTime/>\
                    <uws:executionDuration>0</uws:executionDuration><uws:destruction/><uws:results/></uws:job>
                    """)
            }
        }

        var calls: [(path: String, authorization: String?)] { seen.list.withLock { $0 } }
        var tokens: [String] { calls.compactMap { $0.authorization.map { String($0.dropFirst("Bearer ".count)) } } }
    }

    func broker(margin: Int = 60, issuer given: URL? = nil) async throws -> TestBroker {
        var broker = try await TestBroker(withServices: true)
        let issuer = try (given ?? TestPeers.requireOIDC()).absoluteString
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skyport-issuers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let secret = dir.appendingPathComponent("secret")
        try Data("skyport-secret".utf8).write(to: secret)
        let issuers = dir.appendingPathComponent("issuers.json")
        try Data(#"[{"issuer": "\#(issuer)", "audiences": ["skyport"], "client": {"clientId": "skyport", "clientSecretFile": "\#(secret.path)"}}]"#.utf8)
            .write(to: issuers)
        broker.config.auth = .oidc
        broker.config.oidcIssuersFile = issuers.path
        broker.config.credentialMargin = margin
        return broker
    }

    static func facility(_ id: String, _ facility: Facility, mode: String) -> String {
        """
        {"id": "\(id)", "name": "\(id)", "accepts": ["jupyter-notebook"], "capacity": {"cores": 32, "memory": 32},
         "limits": {"cores": 16, "memory": 16, "duration": "P1D"},
         "endpoints": [{"kind": "uws", "url": "\(facility.server.base.absoluteString)/uws/jobs",
                        "credentials": {"mode": "\(mode)", "audience": "\(audience)"}}]}
        """
    }

    /// The JWT's payload claims.
    static func claims(_ jwt: String) throws -> [String: Any] {
        let parts = jwt.split(separator: ".")
        try #require(parts.count == 3, "not a JWT: \(jwt.prefix(20))")
        var b64 = String(parts[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        let data = try #require(Data(base64Encoded: b64))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Asks as `token` and returns the first offer's session path.
    func offer(_ client: some TestClientProtocol, token: String) async throws -> String {
        let asked = try await client.send(.post, "/requests", json: notebookRequest, token: token)
        let first = try #require(offers(try asked.json()).first, "\(asked.text)")
        return try #require(URL(string: sessionURL(first))?.path)
    }

    @Test func aForwardingEndpointGetsTheCallersOwnTokenOnlyWhenItWasIssuedForIt() async throws {
        let facility = try await Facility()
        defer { Task { await facility.server.stop() } }
        let plain = try await OIDCAuthAPITests.token("alice")
        let forFacility = try await OIDCAuthAPITests.token("alice", audience: "skyport \(Self.audience)")
        let admin = try await OIDCAuthAPITests.token("ada", audience: "skyport \(Self.audience)", groups: ["/skyport/admins"])
        var broker = try await broker()
        broker.config.roles = RoleMapping(adminGroups: ["/skyport/admins"])
        let store = broker.store
        try await broker.run { client in
            let made = try await client.send(.post, "/facilities", json: Self.facility("fwd", facility, mode: "forward"), token: TestBroker.aliceToken)
            #expect(made.status == .created, "\(made.text)")
            // A token not issued for the facility: the acceptance is refused, saying why, and the offer stays open.
            let first = try await offer(client, token: plain)
            let refused = try await client.send(.post, first, json: Self.accept, token: plain)
            let code = try refused.json()["code"] as? String
            #expect(refused.status == .forbidden && code == "credentials-refused", "\(refused.text)")
            #expect(refused.text.contains("only one issued for audience \(Self.audience)"), "\(refused.text)")
            let still = try await client.send(.get, first, token: plain).text
            #expect(still.contains("\"OFFERED\""))

            let session = try await offer(client, token: forFacility)
            // An admin sees the offer, but cannot accept it with their own token in the owner's place.
            let byAdmin = try await client.send(.post, session, json: Self.accept, token: admin)
            #expect(byAdmin.status == .forbidden && byAdmin.text.contains("only the offer's owner can accept it"), "\(byAdmin.text)")
            #expect(try await client.send(.post, session, json: Self.accept, token: forFacility).status == .ok)
            #expect(try await eventually { facility.calls.contains { $0.path == "/uws/jobs/j1" } })
            #expect(Set(facility.tokens) == [forFacility], "\(facility.calls.map(\.path))")
            // Sealed at rest, never shown.
            let id = try #require(UUID(uuidString: String(session.split(separator: "/").last ?? "")))
            let record = try #require(try await store.session(id))
            let stored = String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
            #expect(stored.contains("\"credential\"") && !stored.contains(forFacility))
            let shown = try await client.send(.get, session, token: forFacility).text
            #expect(!shown.contains(forFacility))
        }
    }

    @Test func anExchangingEndpointGetsATokenForItsAudienceRenewedWhileTheJobRuns() async throws {
        let facility = try await Facility()
        defer { Task { await facility.server.stop() } }
        let alice = try await OIDCAuthAPITests.token("alice")
        let sub = try #require(try Self.claims(alice)["sub"] as? String)
        // Every call finds the exchanged token (300 s) within the margin: each is exchanged again.
        try await broker(margin: 10_000).run { client in
            let made = try await client.send(.post, "/facilities", json: Self.facility("xch", facility, mode: "exchange"), token: TestBroker.aliceToken)
            #expect(made.status == .created, "\(made.text)")
            let session = try await offer(client, token: alice)
            #expect(try await client.send(.post, session, json: Self.accept, token: alice).status == .ok)
            #expect(try await eventually { Set(facility.tokens).count >= 2 && facility.calls.contains { $0.path == "/uws/jobs/j1" } })
            for token in Set(facility.tokens) {
                let claims = try Self.claims(token)
                let aud = (claims["aud"] as? [String]) ?? [(claims["aud"] as? String) ?? ""]
                #expect(aud == [Self.audience] && claims["sub"] as? String == sub, "\(claims)")
                #expect(token != alice)
            }
        }
    }

    @Test func aSessionWhoseTokenCanNoLongerBeRenewedFailsWithThatReason() async throws {
        let facility = try await Facility()
        defer { Task { await facility.server.stop() } }
        let alice = try await OIDCAuthAPITests.token("alice")
        let expires = try #require(try Self.claims(alice)["exp"] as? Double)
        // The broker's clock, moved past Alice's token's expiry once the job runs.
        let ahead = Mutex<TimeInterval>(0)
        var broker = try await broker()
        broker.now = { Date().addingTimeInterval(ahead.withLock { $0 }) }
        try await broker.run { client in
            let made = try await client.send(.post, "/facilities", json: Self.facility("xch2", facility, mode: "exchange"), token: TestBroker.aliceToken)
            #expect(made.status == .created, "\(made.text)")
            let session = try await offer(client, token: alice)
            #expect(try await client.send(.post, session, json: Self.accept, token: alice).status == .ok)
            #expect(try await eventually { facility.calls.contains { $0.path == "/uws/jobs/j1" } })
            ahead.withLock { $0 = expires - Date().timeIntervalSince1970 + 3_600 }
            var body: [String: Any] = [:]
            #expect(try await eventually {
                body = try await client.send(.get, session, token: TestBroker.aliceToken).json()
                return body["phase"] as? String == "FAILED"
            })
            let text = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
            #expect(text.contains("can no longer be renewed"), "\(text)")
        }
    }
}

extension UserCredentialsTests {
    /// Core-hours are counted from the session's real start (the facility says EXECUTING) on the broker's clock;
    /// once the quota is spent, no offer is made, and the usage shows it.
    @Test func aQuotaOfCoreHoursCountsFromTheRealStartAndStopsOffersOnceSpent() async throws {
        let facility = try await Facility()
        defer { Task { await facility.server.stop() } }
        // Valid for a day: the broker's clock moves hours ahead below.
        let fred = try await OIDCAuthAPITests.token("fred", groups: [], lifetime: 86_400)
        let ahead = Mutex<TimeInterval>(0)
        var broker = try await broker()
        broker.now = { Date().addingTimeInterval(ahead.withLock { $0 }) }
        let quotas = FileManager.default.temporaryDirectory.appendingPathComponent("quotas-\(UUID().uuidString).json")
        try Data(#"{"quotas": [{"account": "user:*", "coreHours": 10, "window": "P1D"}]}"#.utf8).write(to: quotas)
        broker.config.quotasFile = quotas.path
        try await broker.run { client in
            // A service-credential facility: the job runs with Skyport's own credential.
            let document = Self.facility("hours", facility, mode: "service").replacingOccurrences(of: #", "audience": "\#(Self.audience)""#, with: "")
            let made = try await client.send(.post, "/facilities", json: document, token: TestBroker.aliceToken)
            #expect(made.status == .created, "\(made.text)")
            let session = try await offer(client, token: fred)
            let cores = try #require(((try await client.send(.get, session, token: fred).json()["compute"] as? [String: Any])?["cores"] as? [String: Any])?["min"] as? Int)
            #expect(try await client.send(.post, session, json: Self.accept, token: fred).status == .ok)
            #expect(try await eventually { try await client.send(.get, session, token: fred).json()["phase"] as? String == "RUNNING" })
            let running = try await client.send(.get, "/usage", token: fred).json()
            let now = try #require((running["accounts"] as? [[String: Any]])?.first?["usage"] as? [String: Any])
            #expect(now["sessions"] as? Int == 1, "\(running)")
            // The accepted hour is booked ahead and counts as spent: two hours of 4 cores more do not fit in what is left.
            let booked = try #require(now["bookedCoreHours"] as? Double)
            #expect(booked > 0 && booked <= Double(cores), "\(running)")
            let longer = notebookRequest.replacingOccurrences(of: #""min": 2, "max": 4}, "memory""#, with: #""min": 4, "max": 4}, "memory""#)
                .replacingOccurrences(of: "PT1H", with: "PT2H")
            let refused = try await client.send(.post, "/requests", json: longer, token: fred)
            #expect(offers(try refused.json()).isEmpty && refused.text.contains("used or booked"), "\(refused.text)")
            // Later on the broker's clock, by as long as it takes the job to use the 10 core-hours.
            ahead.withLock { $0 = 36_000 / Double(cores) }
            let usage = try await client.send(.get, "/usage", token: fred).json()
            let mine = try #require((usage["accounts"] as? [[String: Any]])?.first)
            let hours = try #require((mine["usage"] as? [String: Any])?["coreHours"] as? Double)
            #expect(abs(hours - 10) < 0.05, "\(usage)")
            // Spent: no offer, and the set says which quota.
            let asked = try await client.send(.post, "/requests", json: notebookRequest, token: fred)
            #expect(offers(try asked.json()).isEmpty && asked.text.contains("your quota of core-hours: limit 10"), "\(asked.text)")
        }
    }
}

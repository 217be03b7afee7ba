import Foundation
import HTTPTypes
import HummingbirdTesting
import SkyportCore
import SkyportTestSupport
import Testing

/// Quotas, group shares, `GET /usage`, the admin quota API and the audit record, end to end with tokens from the
/// real OpenID provider the test command starts.
@Suite(.serialized, .enabled(if: TestPeers.run(TestPeers.oidc != nil), "OpenID provider not started: scripts/peers.sh start oidc"))
struct QuotaAPITests {
    static let accept = #"{"kind":"uri:enum-value-update","path":"phase","value":"ACCEPTED"}"#

    func broker(quotas: String? = nil, maxOffers: Int? = nil) async throws -> TestBroker {
        var broker = try await OIDCAuthAPITests().oidcBroker()
        broker.config.roles = RoleMapping(adminGroups: ["/skyport/admins"])
        if let maxOffers { broker.config.maxOffers = maxOffers }
        if let quotas {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("quotas-\(UUID().uuidString).json")
            try Data(quotas.utf8).write(to: file)
            broker.config.quotasFile = file.path
        }
        return broker
    }

    static func body(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func aGroupsQuotaOfOfferedCoresStopsSquattingAndTheUsageSaysSo() async throws {
        // Dora's token lists many groups; the one with a quota comes last.
        let dora = try await OIDCAuthAPITests.token("dora", groups: (1...40).map { "/vo/\($0)" } + ["/skao"])
        let erin = try await OIDCAuthAPITests.token("erin", groups: [])
        let quotas = #"{"quotas": [{"account": "group:/skao", "offeredCores": 8}]}"#
        try await broker(quotas: quotas).run { client in
            for id in ["a", "b", "c"] { _ = try await client.send(.post, "/facilities", json: computeFacility(id), token: TestBroker.aliceToken) }
            // 4 cores an offer: two offers fill the group's 8, and the third facility is not offered.
            let first = try await client.send(.post, "/requests", json: notebookRequest, token: dora)
            #expect(offers(try first.json()).count == 2, "\(first.text)")
            #expect(first.text.contains("urn:quota-exceeded") && first.text.contains("group /skao's quota of cores held by outstanding offers: limit 8, held 8"), "\(first.text)")
            let second = try await client.send(.post, "/requests", json: notebookRequest, token: dora)
            #expect(offers(try second.json()).isEmpty && second.text.contains("limit 8, held 8"), "\(second.text)")
            // Someone outside the group is not held to it.
            #expect(offers(try await client.send(.post, "/requests", json: notebookRequest, token: erin).json()).count >= 3)

            let usage = try Self.body(try await client.send(.get, "/usage", token: dora).text)
            let accounts = try #require(usage["accounts"] as? [[String: Any]])
            #expect(accounts.count == 2)
            let group = try #require(accounts.first { $0["account"] as? String == "group:/skao" })
            #expect((group["usage"] as? [String: Any])?["offeredCores"] as? Int == 8)
            #expect((group["quota"] as? [String: Any])?["offeredCores"] as? Int == 8)
            // Rejecting an offer frees what it held.
            let session = try #require(URL(string: sessionURL(offers(try first.json())[0]))?.path)
            let reject = Self.accept.replacingOccurrences(of: "ACCEPTED", with: "REJECTED")
            #expect(try await client.send(.post, session, json: reject, token: dora).status == .ok)
            let freed = try Self.body(try await client.send(.get, "/usage", token: dora).text)
            let after = try #require((freed["accounts"] as? [[String: Any]])?.first { $0["account"] as? String == "group:/skao" })
            #expect((after["usage"] as? [String: Any])?["offeredCores"] as? Int == 4)
            // Anonymous callers have no usage to see.
            #expect(try await client.execute(uri: "/usage", method: .get, headers: [:]).status == .unauthorized)
        }
    }

    @Test func aQuotaOfConcurrentSessionsRefusesTheSecondAcceptanceAndFurtherOffers() async throws {
        let fred = try await OIDCAuthAPITests.token("fred", groups: [])
        try await broker(quotas: #"{"quotas": [{"account": "user:*", "sessions": 1}]}"#).run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("a"), token: TestBroker.aliceToken)
            let one = offers(try await client.send(.post, "/requests", json: notebookRequest, token: fred).json())
            let two = offers(try await client.send(.post, "/requests", json: notebookRequest, token: fred).json())
            try #require(!one.isEmpty && !two.isEmpty)
            let s1 = try #require(URL(string: sessionURL(one[0]))?.path)
            let s2 = try #require(URL(string: sessionURL(two[0]))?.path)
            #expect(try await client.send(.post, s1, json: Self.accept, token: fred).status == .ok)
            let refused = try await client.send(.post, s2, json: Self.accept, token: fred)
            #expect(refused.status == .forbidden, "\(refused.text)")
            let error = try Self.body(refused.text)
            #expect(error["code"] as? String == "quota-exceeded")
            #expect((error["detail"] as? String)?.contains("your quota of concurrent sessions: limit 1, running 1") == true, "\(error)")
            #expect(try await client.send(.get, s2, token: fred).text.contains("\"OFFERED\""))
            // A new request gets no offers while the session runs, and says why.
            let blocked = try await client.send(.post, "/requests", json: notebookRequest, token: fred)
            #expect(offers(try blocked.json()).isEmpty && blocked.text.contains("quota of concurrent sessions: limit 1, running 1"), "\(blocked.text)")
            // Cancelling it ends the session: accepting is possible again.
            let cancel = Self.accept.replacingOccurrences(of: "ACCEPTED", with: "CANCELLED")
            #expect(try await client.send(.post, s1, json: cancel, token: fred).status == .ok)
            let again = offers(try await client.send(.post, "/requests", json: notebookRequest, token: fred).json())
            let firstAgain = try #require(again.first)
            let s3 = try #require(URL(string: sessionURL(firstAgain))?.path)
            #expect(try await client.send(.post, s3, json: Self.accept, token: fred).status == .ok)
        }
    }

    @Test func groupSharesKeepTheRestOfAShareInUseForItsGroup() async throws {
        let dora = try await OIDCAuthAPITests.token("dora", groups: ["/skao"])
        let erin = try await OIDCAuthAPITests.token("erin", groups: ["/escape"])
        let fred = try await OIDCAuthAPITests.token("fred", groups: [])
        try await broker(maxOffers: 1).run { client in
            var facility = try #require(try JSONValue.parse(computeFacility("shared", cores: 8, capacityCores: 8)).objectValue)
            facility["access"] = .object(["shares": .array([
                .object(["group": .string("/skao"), "fraction": .number(0.5)]), .object(["group": .string("/escape"), "fraction": .number(0.5)]),
            ])])
            let json = String(decoding: try JSONEncoder().encode(JSONValue.object(facility)), as: UTF8.self)
            #expect(try await client.send(.post, "/facilities", json: json, token: TestBroker.aliceToken).status == .created)
            func ask(_ token: String, min: Int, max: Int) async throws -> (cores: [Int], text: String) {
                let request = notebookRequest.replacingOccurrences(of: #""cores": {"min": 2, "max": 4}"#, with: #""cores": {"min": \#(min), "max": \#(max)}"#)
                let r = try await client.send(.post, "/requests", json: request, token: token)
                return (offers(try r.json()).compactMap { (($0["compute"] as? [String: Any])?["cores"] as? [String: Any])?["min"] as? Int }, r.text)
            }
            // ESCAPE uses 2 of its 4: the other 2 are kept for it, so SKAO gets its own 4 and no more.
            #expect(try await ask(erin, min: 2, max: 2).cores == [2])
            let skao = try await ask(dora, min: 4, max: 8)
            #expect(skao.cores == [4], "\(skao.text)")
            let more = try await ask(dora, min: 2, max: 2)
            #expect(more.cores.isEmpty && more.text.contains("urn:share-exhausted") && more.text.contains("group /skao's share: limit 4 cores, held 4"), "\(more.text)")
            // Someone in no share group has only the part no group has a share of (none here).
            let outsider = try await ask(fred, min: 1, max: 1)
            #expect(outsider.cores.isEmpty && outsider.text.contains("the part no group has a share of: limit 0 cores"), "\(outsider.text)")
            // ESCAPE still has its 2.
            #expect(try await ask(erin, min: 2, max: 2).cores == [2])
            // The shares are the operators' to see.
            #expect(!(try await client.send(.get, "/facilities/shared", token: dora).text.contains("/escape")))
        }
    }

    @Test func adminsSetQuotasThroughTheAPIAndReadTheAuditRecord() async throws {
        let ada = try await OIDCAuthAPITests.token("ada", groups: ["/skyport/admins"])
        let fred = try await OIDCAuthAPITests.token("fred", groups: [])
        let quotas = #"{"quotas": [{"account": "user:*", "offeredCores": 100}]}"#
        try await broker(quotas: quotas).run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("a"), token: TestBroker.aliceToken)
            // Every bad field is named.
            let bad = try await client.send(.put, "/quotas", json: #"{"account": "user:nobody", "sessions": -1, "window": "P1D", "cpus": 3}"#, token: ada)
            #expect(bad.status == .unprocessableContent, "\(bad.text)")
            let fields = Set(((try Self.body(bad.text))["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String })
            #expect(fields == ["account", "cpus", "coreHours", "sessions"], "\(bad.text)")  // a window needs coreHours
            let bad2 = try await client.send(.put, "/quotas", json: #"{"account": "group:/x", "sessions": -1, "window": "P1D", "cpus": 3}"#, token: ada)
            let fields2 = Set(((try Self.body(bad2.text))["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String })
            #expect(bad2.status == .unprocessableContent && fields2 == ["sessions", "coreHours", "cpus"], "\(bad2.text) \(fields2)")
            // Only admins.
            #expect(try await client.send(.put, "/quotas", json: #"{"account": "group:/x", "sessions": 1}"#, token: fred).status == .forbidden)
            #expect(try await client.send(.get, "/quotas", token: fred).status == .forbidden)
            #expect(try await client.send(.get, "/audit", token: fred).status == .forbidden)

            let fredAccount = try #require((try Self.body(try await client.send(.get, "/usage", token: fred).text)["accounts"] as? [[String: Any]])?.first?["account"] as? String)
            let set = try await client.send(.put, "/quotas", json: #"{"account": "\#(fredAccount)", "offeredCores": 0}"#, token: ada)
            #expect(set.status == .created, "\(set.text)")
            let listed = try await client.send(.get, "/quotas", token: ada).text
            #expect(listed.contains("\"source\":\"file\"") && listed.contains("\"source\":\"api\""), "\(listed)")
            // It applies at once: Fred's own quota overrides the default.
            let none = try await client.send(.post, "/requests", json: notebookRequest, token: fred)
            #expect(offers(try none.json()).isEmpty && none.text.contains("limit 0, held 0"), "\(none.text)")
            #expect(try await client.send(.delete, "/quotas?account=\(fredAccount.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)", token: ada).status == .noContent)
            #expect(try await client.send(.delete, "/quotas?account=\(fredAccount.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)", token: ada).status == .notFound)
            #expect(!offers(try await client.send(.post, "/requests", json: notebookRequest, token: fred).json()).isEmpty)

            // The record: who asked, who set and removed the quota, who registered the facility.
            let audit = try Self.body(try await client.send(.get, "/audit?limit=50", token: ada).text)
            let events = try #require(audit["events"] as? [[String: Any]])
            let seen = Set(events.map { "\($0["action"] ?? "")|\($0["actor"] ?? "")" })
            let adaOwner = try #require((try Self.body(try await client.send(.get, "/usage", token: ada).text)["accounts"] as? [[String: Any]])?.first?["account"] as? String)
            let adaActor = String(adaOwner.dropFirst("user:".count))
            let fredActor = String(fredAccount.dropFirst("user:".count))
            for expected in ["quota-set|\(adaActor)", "quota-delete|\(adaActor)", "ask|\(fredActor)", "facility-create|operator:alice"] {
                #expect(seen.contains(expected), "\(expected) in \(seen)")
            }
            let asks = try Self.body(try await client.send(.get, "/audit?action=ask&actor=\(fredActor.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)", token: ada).text)
            #expect((asks["events"] as? [[String: Any]])?.count == 2)
            #expect(try await client.send(.get, "/audit?action=nothing", token: ada).status == .unprocessableContent)
        }
    }

    @Test func operatorTokensAreAdminsOnlyWhereNobodySignsIn() async throws {
        let fred = try await OIDCAuthAPITests.token("fred", groups: [])
        try await broker().run { (client: any TestClientProtocol) async throws in
            for path in ["/audit", "/quotas", "/usage"] {
                #expect(try await client.send(.get, path, token: TestBroker.aliceToken).status == .forbidden, "\(path)")
                #expect(try await client.execute(uri: path, method: .get, headers: [:]).status == .unauthorized, "\(path)")
            }
            #expect(try await client.send(.get, "/audit", token: fred).status == .forbidden)
        }
        try await TestBroker().run { (client: any TestClientProtocol) async throws in
            #expect(try await client.send(.get, "/audit", token: TestBroker.aliceToken).status == .ok)
            #expect(try await client.send(.put, "/quotas", json: #"{"account": "group:/x", "sessions": 1}"#, token: TestBroker.aliceToken).status == .created)
            #expect(try await client.execute(uri: "/audit", method: .get, headers: [:]).status == .unauthorized)
            // An open-mode user's own token is no admin's.
            #expect(try await client.send(.get, "/audit", token: "someone-else-entirely").status == .unauthorized)
        }
    }
}

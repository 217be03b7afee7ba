import Foundation
import HTTPTypes
import HummingbirdTesting
import SkyportCore
import SkyportRemotes
import SkyportTestSupport
import Testing

/// `SKYPORT_AUTH=oidc` end to end, with tokens from the real OpenID provider the test command starts (idpyoidc on
/// loopback): which routes need a signed-in caller, how refusals read, and who owns a UWS job.
/// Runs `body` with an egress gate that lets loopback through, then shuts it down.
func withTestEgress<T: Sendable>(_ body: (Egress) async throws -> T) async throws -> T {
    let egress = Egress(policy: .loopback, resolver: TestResolver())
    do {
        let value = try await body(egress)
        await egress.shutdown()
        return value
    } catch {
        await egress.shutdown()
        throw error
    }
}

@Suite(.serialized, .enabled(if: TestPeers.run(TestPeers.oidc != nil), "OpenID provider not started: scripts/peers.sh start oidc"))
struct OIDCAuthAPITests {
    /// A user's access token from the provider (its authorization-code flow, driven by its test helper).
    /// `groups`, when given, replace the user's groups at the provider (an empty list clears them).
    static func token(
        _ user: String, audience: String = "skyport", groups: [String]? = nil, issuer given: URL? = nil, lifetime: Int? = nil
    ) async throws -> String {
        let issuer = try given ?? TestPeers.requireOIDC()
        return try await withTestEgress { egress in
            let http = RemoteHTTP(egress: egress, purpose: .identity, retry: RetryPolicy(maxAttempts: 1))
            var form = [("user", user), ("audience", audience)]
            if let groups { form.append(("groups", groups.joined(separator: ","))) }
            if let lifetime { form.append(("lifetime", String(lifetime))) }
            let r = try await http.postForm(issuer.appending(path: "test/login"), form, accept: "application/json")
            return try #require(try JSONValue.parse(r.body)["access_token"]?.stringValue, "login: \(String(decoding: r.body, as: UTF8.self))")
        }
    }

    func oidcBroker() async throws -> TestBroker {
        var broker = try await TestBroker()
        broker.config.auth = .oidc
        broker.config.oidcIssuer = try TestPeers.requireOIDC().absoluteString
        broker.config.oidcAudiences = ["skyport"]
        return broker
    }

    @Test func theScientistsRoutesNeedASignedInCallerAndThePublicOnesStayOpen() async throws {
        let alice = try await Self.token("alice")
        let foreign = try await Self.token("alice", audience: "https://uws.example.org")
        try await oidcBroker().run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("a"), token: TestBroker.aliceToken)
            for (method, path) in [(HTTPRequest.Method.post, "/requests"), (.get, "/uws/jobs"), (.post, "/accepts"),
                                   (.get, "/offersets/00000000-0000-0000-0000-000000000000"),
                                   (.get, "/sessions/00000000-0000-0000-0000-000000000000")] {
                let none = try await client.execute(uri: path, method: method, headers: [:])
                #expect(none.status == .unauthorized, "\(method) \(path)")
                #expect(none.headers[.wwwAuthenticate] == "Bearer realm=\"skyport\"", "\(method) \(path)")
                let wrong = try await client.execute(uri: path, method: method, headers: [.authorization: "Bearer \(foreign)"])
                #expect(wrong.status == .unauthorized, "\(method) \(path)")
                let challenge = wrong.headers[.wwwAuthenticate] ?? ""
                #expect(challenge.contains("error=\"invalid_token\"") && challenge.contains("error_description=\"the token's audience"), "\(challenge)")
            }
            for path in ["/health", "/facilities", "/facilities/a", "/capabilities", "/availability"] {
                #expect(try await client.execute(uri: path, method: .get, headers: [:]).status == .ok, "\(path)")
            }
            // Signed in: the request is offered, and the UWS job list is the user's.
            let offered = try await client.send(.post, "/requests", json: notebookRequest, token: alice)
            #expect(offered.status == .seeOther, "\(offered.text)")
            let jobs = try await client.execute(uri: "/uws/jobs", method: .get, headers: [.authorization: "Bearer \(alice)"])
            #expect(jobs.status == .ok)
            // An operator's token still works where a scientist's is needed.
            #expect(try await client.send(.post, "/requests", json: notebookRequest, token: TestBroker.aliceToken).status == .seeOther)
            // A scientist is no operator.
            #expect(try await client.send(.post, "/facilities", json: computeFacility("b"), token: alice).status == .forbidden)
        }
    }

    @Test func aUWSJobIsOwnedByTheIssuerAndSubjectOfItsToken() async throws {
        let alice = try await Self.token("alice")
        let issuer = try TestPeers.requireOIDC().absoluteString
        try await oidcBroker().run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("a"), token: TestBroker.aliceToken)
            let created = try await client.execute(
                uri: "/uws/jobs", method: .post,
                headers: [.authorization: "Bearer \(alice)", .contentType: "application/x-www-form-urlencoded"],
                body: .init(string: UWSAPITests.encode(UWSAPITests.request)))
            #expect(created.status == .seeOther, "\(created.text)")
            let job = try #require(created.headers[.location].flatMap { URL(string: $0)?.path })
            let owner = try await client.execute(uri: job + "/owner", method: .get, headers: [.authorization: "Bearer \(alice)"])
            #expect(owner.text.hasPrefix(issuer + "#"), "\(owner.text)")
            // Bob does not see Alice's job.
            let bob = try await Self.token("bob")
            #expect(try await client.execute(uri: job, method: .get, headers: [.authorization: "Bearer \(bob)"]).status == .notFound)
        }
    }

    @Test func offerSetsAndSessionsBelongToWhoeverAskedAndDoNotExistForAnyoneElse() async throws {
        let alice = try await Self.token("alice")
        let bob = try await Self.token("bob")
        try await oidcBroker().run { client in
            for id in ["a", "b"] { _ = try await client.send(.post, "/facilities", json: computeFacility(id), token: TestBroker.aliceToken) }
            let asked = try await client.send(.post, "/requests", json: notebookRequest, token: alice)
            #expect(asked.status == .seeOther)
            let setPath = try #require(asked.headers[.location].flatMap { URL(string: $0)?.path })
            let offered = offers(try asked.json())
            try #require(offered.count >= 2)
            let session = try #require(URL(string: sessionURL(offered[0]))?.path)
            let accept = #"{"kind":"uri:enum-value-update","path":"phase","value":"ACCEPTED"}"#

            // Bob: none of it exists, and he cannot accept, reject or cancel it.
            #expect(try await client.send(.get, setPath, token: bob).status == .notFound)
            #expect(try await client.send(.get, session, token: bob).status == .notFound)
            #expect(try await client.send(.post, session, json: accept, token: bob).status == .notFound)
            // Alice sees and accepts; an operator sees everything.
            #expect(try await client.send(.get, setPath, token: alice).status == .ok)
            #expect(try await client.send(.post, session, json: accept, token: alice).status == .ok)
            #expect(try await client.send(.get, session, token: TestBroker.bobToken).status == .ok)
            // Bob's attempt changed nothing: the accepted session is Alice's and still ACCEPTED (or further on).
            let after = try await client.send(.get, session, token: alice)
            #expect((try after.json())["phase"] as? String != "OFFERED")
        }
    }

    @Test func anIdempotencyKeyIsTheCallersOwn() async throws {
        let alice = try await Self.token("alice")
        let bob = try await Self.token("bob")
        try await oidcBroker().run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("a"), token: TestBroker.aliceToken)
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "run-1"]
            let first = try await client.send(.post, "/requests", json: notebookRequest, token: alice, headers: key)
            let again = try await client.send(.post, "/requests", json: notebookRequest, token: alice, headers: key)
            // Bob's same key with another body is no conflict, and gives him his own set.
            let other = try await client.send(.post, "/requests", json: notebookRequest.replacingOccurrences(of: "PT1H", with: "PT2H"), token: bob, headers: key)
            #expect(first.status == .seeOther && again.status == .seeOther && other.status == .seeOther, "\(other.text)")
            #expect(first.headers[.location] == again.headers[.location])
            #expect(other.headers[.location] != first.headers[.location])
        }
    }

    @Test func aFacilityForOneGroupIsOfferedToItsMembersOnlyAndItsPolicyIsShownToOperatorsOnly() async throws {
        let member = try await Self.token("dora", groups: ["/skao", "/skao/users"])
        let outsider = try await Self.token("erin", groups: [])
        try await oidcBroker().run { client in
            var restricted = try #require(try JSONValue.parse(computeFacility("ska-only")).objectValue)
            restricted["access"] = .object(["allowGroups": .array([.string("/skao")])])
            let registered = try await client.send(
                .post, "/facilities", json: String(decoding: try JSONEncoder().encode(JSONValue.object(restricted)), as: UTF8.self), token: TestBroker.aliceToken)
            #expect(registered.status == .created, "\(registered.text)")
            _ = try await client.send(.post, "/facilities", json: computeFacility("open"), token: TestBroker.aliceToken)

            func facilities(offeredTo token: String) async throws -> (offered: Set<String>, rejected: [String: [String]]) {
                let body = try await client.send(.post, "/requests", json: notebookRequest, token: token).json()
                let offered = Set(offers(body).compactMap { ($0["facility"] as? [String: Any])?["id"] as? String })
                var rejected: [String: [String]] = [:]
                for r in body["rejected"] as? [[String: Any]] ?? [] {
                    rejected[r["facility"] as? String ?? ""] = (r["reasons"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
                }
                return (offered, rejected)
            }
            let dora = try await facilities(offeredTo: member)
            #expect(dora.rejected["ska-only"] == nil && dora.offered.contains("ska-only"), "\(dora)")
            let erin = try await facilities(offeredTo: outsider)
            #expect(erin.rejected["ska-only"] == ["not-authorized"], "\(erin)")
            #expect(erin.rejected["open"] == nil && !erin.offered.contains("ska-only"))

            // The policy: operators read it, nobody else.
            let publicView = try await client.send(.get, "/facilities/ska-only", token: outsider)
            #expect(publicView.status == .ok && !publicView.text.contains("access") && !publicView.text.contains("/skao"), "\(publicView.text)")
            #expect(!(try await client.send(.get, "/facilities").text.contains("/skao")))
            #expect(try await client.send(.get, "/facilities/ska-only", token: TestBroker.aliceToken).text.contains("/skao"))
            #expect(try await client.send(.get, "/facilities", token: TestBroker.aliceToken).text.contains("/skao"))
        }
    }

    @Test func groupsMakeOperatorsAndAdmins() async throws {
        let olga = try await Self.token("olga", groups: ["/skao/ops"])
        let ada = try await Self.token("ada", groups: ["/skyport/admins"])
        let fred = try await Self.token("fred", groups: [])
        var broker = try await oidcBroker()
        broker.config.roles = RoleMapping(operatorGroups: ["/skao/ops": "skao-ops"], adminGroups: ["/skyport/admins"])
        try await broker.run { client in
            let made = try await client.send(.post, "/facilities", json: computeFacility("by-olga"), token: olga)
            #expect(made.status == .created, "\(made.text)")
            #expect((try made.json())["owner"] as? String == "skao-ops")
            #expect(try await client.send(.post, "/facilities", json: computeFacility("by-fred"), token: fred).status == .forbidden)
            #expect(try await client.send(.post, "/facilities", json: computeFacility("by-ada"), token: ada).status == .forbidden)
            // Fred's offer set: his own, an admin's and an operator's to see; nobody else's.
            let asked = try await client.send(.post, "/requests", json: notebookRequest, token: fred)
            let setPath = try #require(asked.headers[.location].flatMap { URL(string: $0)?.path })
            #expect(try await client.send(.get, setPath, token: fred).status == .ok)
            #expect(try await client.send(.get, setPath, token: ada).status == .ok)
            #expect(try await client.send(.get, setPath, token: olga).status == .ok)
            let other = try await Self.token("gina", groups: [])
            #expect(try await client.send(.get, setPath, token: other).status == .notFound)
        }
    }
}

extension OIDCAuthAPITests {
    /// pyvo's own UWS code drives `/uws/jobs` of an `oidc` broker with bearer tokens from the provider
    /// (scripts/pyvo_check.py): the jobs are the token's identity's, another user's token sees none of them.
    @Test func pyvoDrivesTheUWSJobListWithABearerTokenFromTheProvider() async throws {
        let env = ProcessInfo.processInfo.environment
        let venv = env["SKYPORT_PYVO_VENV"] ?? ((env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/skyport/pyvo-venv")
        let python = venv + "/bin/python"
        try TestPeers.requirePresent(
            FileManager.default.isExecutableFile(atPath: python), "the pyvo venv is absent at \(venv) (scripts/pyvo_check.sh --install-only; the test command does)")
        let alice = try await Self.token("alice")
        let bob = try await Self.token("bob")
        let issuer = try TestPeers.requireOIDC().absoluteString
        let sub = try #require(try UserCredentialsTests.claims(alice)["sub"] as? String)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/pyvo_check.py").standardized.path
        try await oidcBroker().run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("tap"), token: TestBroker.aliceToken)
            let base = "http://127.0.0.1:\(try #require(client.port))"
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("pyvo-oidc-\(UUID().uuidString).txt")
            defer { try? FileManager.default.removeItem(at: out) }
            let run = try await vosiRunProcess(
                python, [script, base, "--token", alice, "--other-token", bob, "--expect-owner", issuer + "#" + sub], stdout: out)
            let printed = try String(contentsOf: out, encoding: .utf8)
            #expect(run.status == 0, "pyvo_check.py failed:\n\(printed)\n\(run.output)")
            #expect(printed.contains("RESULT: PASS") && printed.contains("owner=\(issuer)#\(sub)"), "\(printed)")
        }
    }
}

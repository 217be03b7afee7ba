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
    let egress = Egress(policy: .loopback, resolver: SystemResolver())
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
    static func token(_ user: String, audience: String = "skyport") async throws -> String {
        let issuer = try TestPeers.requireOIDC()
        return try await withTestEgress { egress in
            let http = RemoteHTTP(egress: egress, purpose: .identity, retry: RetryPolicy(maxAttempts: 1))
            let r = try await http.postForm(issuer.appending(path: "test/login"), [("user", user), ("audience", audience)], accept: "application/json")
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
}

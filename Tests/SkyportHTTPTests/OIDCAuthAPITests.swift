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
}

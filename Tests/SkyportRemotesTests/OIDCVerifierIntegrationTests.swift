import Foundation
import Logging
import SkyportCore
@testable import SkyportRemotes
import SkyportTestSupport
import Testing

/// Token validation against a real OpenID provider (idpyoidc, started on loopback by `scripts/peers.sh start oidc`):
/// its discovery, its published keys (and their rotation), its signed JWT access tokens and its introspection.
/// Times are given (`now`), never read from the clock: expiry and the refetch rate limit are judged at chosen instants.
@Suite(.serialized, .enabled(if: TestPeers.run(TestPeers.oidc != nil), "OpenID provider not started: scripts/peers.sh start oidc"))
struct OIDCVerifierIntegrationTests {
    static let audience = "skyport"

    /// The provider's test helpers: a user logged in through its authorization-code flow, its keys rotated.
    struct Provider {
        let issuer: URL
        let http: RemoteHTTP

        func login(_ user: String, groups: [String] = [], audience: String = OIDCVerifierIntegrationTests.audience, lifetime: Int = 600,
                   format: String = "jwt") async throws -> String {
            let response = try await http.postForm(issuer.appending(path: "test/login"), [
                ("user", user), ("groups", groups.joined(separator: ",")), ("audience", audience), ("lifetime", "\(lifetime)"),
                ("token_format", format),
            ], accept: "application/json")
            #expect(response.status == 200, "login: \(String(decoding: response.body, as: UTF8.self))")
            return try #require(try JSONValue.parse(response.body)["access_token"]?.stringValue)
        }

        func rotate() async throws {
            let response = try await http.postForm(issuer.appending(path: "test/rotate"), [], accept: "application/json")
            #expect(response.status == 200)
        }

        /// Skyport's own client at the provider (it introspects).
        func skyportClient() async throws -> IssuerConfiguration.Client {
            let response = try await http.get(issuer.appending(path: "test/clients"), accept: "application/json")
            let clients = try JSONValue.parse(response.body)
            let secret = try #require(clients["skyport"]?["client_secret"]?.stringValue ?? clients["skyport"]?.stringValue)
            return IssuerConfiguration.Client(id: "skyport", secret: secret)
        }
    }

    /// The instant a JWT was issued (its `iat`): the JWTs are judged at a time given relative to it, never at the
    /// wall clock's.
    static func issued(_ token: String) throws -> Date {
        let payload = try #require(Base64URL.decode(token.split(separator: ".")[1]))
        return try #require(TokenRules.date(try JSONValue.parse(payload)["iat"]))
    }

    func withVerifier(
        audiences: [String] = [audience], issuerOverride: String? = nil, rotating: Bool = false,
        _ body: (OIDCVerifier, Provider, String) async throws -> Void
    ) async throws {
        // Keys are rotated only at the second provider: every other test's tokens come from the first.
        let issuerURL = rotating
            ? try TestPeers.require(TestPeers.rotatingOIDC, "the second OpenID provider is not running: SKYPORT_TEST_OIDC_ROTATING_ISSUER is unset (bash scripts/peers.sh start oidc)")
            : try TestPeers.requireOIDC()
        try await withEgress { egress in
            let http = RemoteHTTP(egress: egress, purpose: .identity, retry: RetryPolicy(maxAttempts: 1))
            let provider = Provider(issuer: issuerURL, http: http)
            let iss = issuerOverride ?? issuerURL.absoluteString
            let config = IssuerConfiguration(
                trust: TrustedIssuer(issuer: iss, audiences: audiences), introspectionClient: try await provider.skyportClient())
            let verifier = OIDCVerifier(issuers: [config], egress: egress, logger: Logger(label: "test"))
            try await body(verifier, provider, iss)
        }
    }

    @Test func aValidTokenGivesTheIdentityWithItsGroupsAndTwoUsersAreTwoIdentities() async throws {
        try await withVerifier { verifier, provider, iss in
            let aliceToken = try await provider.login("alice", groups: ["/skao", "/skao/users"])
            let alice = try await verifier.identity(for: aliceToken, now: try Self.issued(aliceToken)).get()
            #expect(alice.issuer == iss)
            #expect(alice.groups.starts(with: ["/skao", "/skao/users"]))
            let bobToken = try await provider.login("bob")
            let bob = try await verifier.identity(for: bobToken, now: try Self.issued(bobToken)).get()
            #expect(bob.subject != alice.subject)
            #expect(bob.owner != alice.owner)
        }
    }

    @Test func expiredWrongAudienceTamperedAndUnsignedTokensAreRefusedEachWithItsReason() async throws {
        try await withVerifier { verifier, provider, _ in
            let token = try await provider.login("alice")
            let now = try Self.issued(token)
            #expect(try await verifier.identity(for: token, now: now).get().subject.isEmpty == false)
            // An hour on (the token lives 10 minutes): expired.
            guard case .failure(.expired) = await verifier.identity(for: token, now: now.addingTimeInterval(3_600)) else {
                Issue.record("an expired token was not refused as expired")
                return
            }
            let other = try await provider.login("alice", audience: "https://uws.example.org")
            guard case .failure(.wrongAudience(let aud)) = await verifier.identity(for: other, now: try Self.issued(other)) else {
                Issue.record("a token for another audience was not refused")
                return
            }
            #expect(aud.contains("https://uws.example.org"))

            // The payload changed (another subject) under the same signature.
            let parts = token.split(separator: ".").map(String.init)
            var claims = try #require(try JSONValue.parse(Base64URL.decode(parts[1]) ?? Data()).objectValue)
            claims["sub"] = .string("mallory")
            let forged = [parts[0], Base64URL.encode(try JSONEncoder().encode(JSONValue.object(claims))), parts[2]].joined(separator: ".")
            #expect(await verifier.identity(for: forged, now: now) == .failure(.badSignature))

            // `alg: none` with the provider's own key id, and HS256 "signed" with a public value.
            var header = try #require(try JSONValue.parse(Base64URL.decode(parts[0]) ?? Data()).objectValue)
            header["alg"] = .string("none")
            let unsigned = [Base64URL.encode(try JSONEncoder().encode(JSONValue.object(header))), parts[1], ""].joined(separator: ".")
            #expect(await verifier.identity(for: unsigned, now: now) == .failure(.algorithmNotAllowed("none")))
            header["alg"] = .string("HS256")
            let hmac = [Base64URL.encode(try JSONEncoder().encode(JSONValue.object(header))), parts[1], parts[2]].joined(separator: ".")
            #expect(await verifier.identity(for: hmac, now: now) == .failure(.algorithmNotAllowed("HS256")))
        }
    }

    @Test func aTokenFromAnIssuerNotTrustedIsRefusedBeforeAnythingIsFetched() async throws {
        try await withVerifier(issuerOverride: "https://iam.example.org/") { verifier, provider, _ in
            let token = try await provider.login("alice")
            guard case .failure(.unknownIssuer) = await verifier.identity(for: token, now: try Self.issued(token)) else {
                Issue.record("a token of an untrusted issuer was not refused")
                return
            }
        }
    }

    @Test func keysRotatedAtTheProviderAreFetchedAgainAtMostOnceAHalfMinuteAndTheOldOnesStopWorking() async throws {
        try await withVerifier(rotating: true) { verifier, provider, _ in
            let before = try await provider.login("alice")
            let t0 = try Self.issued(before)
            #expect((try? await verifier.identity(for: before, now: t0).get()) != nil)
            try await provider.rotate()
            let after = try await provider.login("alice")
            // Within 30 s of the last fetch an unknown key id is not fetched for: refused, and the issuer not asked.
            guard case .failure(.unknownKey) = await verifier.identity(for: after, now: t0.addingTimeInterval(10)) else {
                Issue.record("a new key id was fetched for within the rate limit")
                return
            }
            // Later, the new key is fetched and works; the rotated-out key no longer does.
            #expect((try? await verifier.identity(for: after, now: t0.addingTimeInterval(31)).get()) != nil)
            guard case .failure(.unknownKey) = await verifier.identity(for: before, now: t0.addingTimeInterval(32)) else {
                Issue.record("a key the provider no longer publishes still verified")
                return
            }
        }
    }

    @Test func opaqueTokensAreIntrospectedAndUnknownOnesAreInactive() async throws {
        try await withVerifier { verifier, provider, iss in
            let opaque = try await provider.login("carol", groups: ["/skao"], format: "opaque")
            let carol = try await verifier.identity(for: opaque, now: Date()).get()
            #expect(carol.issuer == iss)
            #expect(carol.groups.contains("/skao"))
            // A token the issuer does not know is inactive whenever it is asked about.
            #expect(await verifier.identity(for: "0123456789abcdef0123456789abcdef", now: .distantFuture) == .failure(.inactive))
        }
    }
}

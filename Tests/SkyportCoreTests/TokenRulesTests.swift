import Foundation
import SkyportCore
import Testing

@Suite struct TokenRulesTests {
    let issuer = TrustedIssuer(issuer: "https://iam.example.org/", audiences: ["https://skyport.example.org", "skyport"])
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func claims(_ extra: [String: JSONValue] = [:]) -> [String: JSONValue] {
        var c: [String: JSONValue] = [
            "iss": .string("https://iam.example.org/"), "sub": .string("a1b2"), "aud": .string("skyport"),
            "exp": .number(1_800_000_600), "iat": .number(1_800_000_000), "nbf": .number(1_800_000_000),
        ]
        for (k, v) in extra { c[k] = v }
        return c
    }

    @Test func aValidTokenGivesItsIdentityWithGroupsFromEveryConfiguredClaimInOrder() throws {
        let identity = try TokenRules.identity(claims([
            "wlcg.groups": .array([.string("/skao"), .string("/skao/users")]),
            "groups": .array([.string("/skao"), .string("astro")]),
            "eduperson_entitlement": .string("urn:mace:egi.eu:group:vo.example.eu:role=member#aai.egi.eu"),
            "preferred_username": .string("alice"), "wlcg.ver": .string("1.0"),
        ]), issuer: issuer, now: now).get()
        var expected = Identity(
            issuer: "https://iam.example.org/", subject: "a1b2", name: "alice",
            groups: ["/skao", "/skao/users", "astro", "urn:mace:egi.eu:group:vo.example.eu:role=member#aai.egi.eu"])
        // The token's audiences and expiry come with it (what a facility taking the user's own token is judged by).
        (expected.audiences, expected.expires) = (["skyport"], Date(timeIntervalSince1970: 1_800_000_600))
        #expect(identity == expected)
        #expect(identity.owner == "https://iam.example.org/#a1b2")
        #expect(identity.isMember(of: "/skao/users") && !identity.isMember(of: "/ska"))
    }

    @Test func timesAreJudgedWithSixtySecondsOfLeewayAndNoMore() {
        // Expired 59 s ago: still inside the leeway; 61 s ago: refused.
        #expect((try? TokenRules.identity(claims(["exp": .number(1_799_999_941)]), issuer: issuer, now: now).get()) != nil)
        #expect(TokenRules.identity(claims(["exp": .number(1_799_999_939)]), issuer: issuer, now: now)
            == .failure(.expired(Date(timeIntervalSince1970: 1_799_999_939))))
        #expect(TokenRules.identity(claims(["nbf": .number(1_800_000_061)]), issuer: issuer, now: now)
            == .failure(.notYetValid(Date(timeIntervalSince1970: 1_800_000_061))))
        #expect(TokenRules.identity(claims(["iat": .number(1_800_000_100)]), issuer: issuer, now: now)
            == .failure(.issuedInFuture(Date(timeIntervalSince1970: 1_800_000_100))))
        var noExp = claims()
        noExp["exp"] = nil
        #expect(TokenRules.identity(noExp, issuer: issuer, now: now) == .failure(.missingClaim("exp")))
    }

    @Test func theAudienceMustBeOneOfSkyportsInAStringAnArrayOrAnIntrospectionsSpaceSeparatedList() {
        #expect((try? TokenRules.identity(claims(["aud": .array([.string("other"), .string("https://skyport.example.org")])]), issuer: issuer, now: now).get()) != nil)
        #expect((try? TokenRules.identity(claims(["aud": .string("other skyport")]), issuer: issuer, now: now).get()) != nil)
        #expect(TokenRules.identity(claims(["aud": .string("https://uws.example.org")]), issuer: issuer, now: now)
            == .failure(.wrongAudience(["https://uws.example.org"])))
        // WLCG's "any" audience counts only where it is configured.
        #expect(TokenRules.identity(claims(["aud": .string(TokenRules.anyAudience)]), issuer: issuer, now: now)
            == .failure(.wrongAudience([TokenRules.anyAudience])))
        var any = issuer
        any.audiences.append(TokenRules.anyAudience)
        #expect((try? TokenRules.identity(claims(["aud": .string(TokenRules.anyAudience)]), issuer: any, now: now).get()) != nil)
        var noAud = claims()
        noAud["aud"] = nil
        #expect(TokenRules.identity(noAud, issuer: issuer, now: now) == .failure(.wrongAudience([])))
    }

    @Test func theIssuerIsComparedExactlyAndTheSubjectIsRequired() {
        #expect(TokenRules.identity(claims(["iss": .string("https://iam.example.org")]), issuer: issuer, now: now)
            == .failure(.unknownIssuer("https://iam.example.org")))
        #expect(TokenRules.identity(claims(["sub": .string("")]), issuer: issuer, now: now) == .failure(.missingClaim("sub")))
        #expect(TokenRules.identity(claims(["wlcg.ver": .string("2.0")]), issuer: issuer, now: now) == .failure(.unsupportedProfile("2.0")))
        #expect((try? TokenRules.identity(claims(["wlcg.ver": .string("1.3")]), issuer: issuer, now: now).get()) != nil)
    }

    @Test func onlyAsymmetricAlgorithmsThatFitTheKeyAreAccepted() {
        #expect(TokenRules.algorithm("ES256", allowedBy: issuer, keyType: "EC") == nil)
        #expect(TokenRules.algorithm("RS256", allowedBy: issuer, keyType: "RSA") == nil)
        #expect(TokenRules.algorithm("PS256", allowedBy: issuer, keyType: "RSA") == nil)
        #expect(TokenRules.algorithm("none", allowedBy: issuer, keyType: "RSA") == .algorithmNotAllowed("none"))
        #expect(TokenRules.algorithm("HS256", allowedBy: issuer, keyType: "oct") == .algorithmNotAllowed("HS256"))
        // An RSA key published without `alg` must not verify an ES256 token, nor an EC key an RS256 one.
        #expect(TokenRules.algorithm("ES256", allowedBy: issuer, keyType: "RSA") == .algorithmNotAllowed("ES256"))
        #expect(TokenRules.algorithm("RS256", allowedBy: issuer, keyType: "EC") == .algorithmNotAllowed("RS256"))
        // Configured out: ES384 is asymmetric but not in this issuer's list.
        #expect(TokenRules.algorithm("ES384", allowedBy: issuer, keyType: "EC") == .algorithmNotAllowed("ES384"))
        // Even configured, HMAC is never accepted.
        var hmac = issuer
        hmac.algorithms.append("HS256")
        #expect(TokenRules.algorithm("HS256", allowedBy: hmac, keyType: "oct") == .algorithmNotAllowed("HS256"))
        #expect(TokenRules.algorithm(nil, allowedBy: issuer, keyType: "EC") == .malformed("the header has no 'alg'"))
    }

    @Test func aCompactJWTIsSplitAndDecodedAndAnythingElseIsOpaqueOrMalformed() throws {
        let header = Base64URL.encode(Data(#"{"alg":"ES256","kid":"k1","typ":"at+jwt"}"#.utf8))
        let payload = Base64URL.encode(Data(#"{"iss":"https://iam.example.org/","sub":"a1b2"}"#.utf8))
        let jwt = try #require(UnverifiedJWT.parse("\(header).\(payload).c2ln")).get()
        #expect(jwt.algorithm == "ES256" && jwt.keyID == "k1" && jwt.issuer == "https://iam.example.org/")
        // Opaque tokens (no dots, or not three parts) go to introspection.
        #expect(UnverifiedJWT.parse("2YotnFZFEjr1zCsicMWpAA") == nil)
        #expect(UnverifiedJWT.parse("a.b") == nil)
        #expect(UnverifiedJWT.parse("\(header).!!.c2ln") == .failure(.malformed("a part is not base64url")))
        #expect(UnverifiedJWT.parse("\(header).\(Base64URL.encode(Data("[1]".utf8))).c2ln") == .failure(.malformed("the payload is not a JSON object")))
        #expect(Base64URL.decode("YQ") == Data("a".utf8))
        #expect(Base64URL.decode("YQ==") == nil)
    }

    @Test func refusalsExplainThemselvesWithoutEchoingLongInput() {
        let long = String(repeating: "x", count: 1_000)
        #expect(TokenRefusal.unknownIssuer(long).description.count < 200)
        #expect(TokenRefusal.expired(now).description == "the token expired at 2027-01-15T08:00:00Z")
        #expect(TokenRefusal.wrongAudience(["a", "b"]).description == "the token's audience (a b) is not this service")
    }
}

import Foundation
import HTTPTypes
import Synchronization
import HummingbirdTesting
import SkyportCore
import SkyportRemotes
import SkyportTestSupport
import Testing

/// A browser signs in on the web pages at the real OpenID provider the test command starts (idpyoidc on loopback):
/// the authorization-code flow with PKCE, Skyport's client at the issuer, the answer bound to the browser that
/// started it.
@Suite(.serialized, .enabled(if: TestPeers.run(TestPeers.oidc != nil), "OpenID provider not started: scripts/peers.sh start oidc"))
struct WebSignInTests {
    /// A broker in `oidc` mode trusting the provider, with Skyport's client there (`skyport`, not the audience its
    /// tokens must carry: `skyport-web`), members of `/skao/operators` acting as operator `alice`, and `clock`'s time.
    func broker(clock: WallClock = WallClock()) async throws -> (TestBroker, String) {
        var broker = try await TestBroker()
        broker.now = { clock.now }
        let issuer = try TestPeers.requireOIDC().absoluteString
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skyport-web-issuers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let secret = dir.appendingPathComponent("secret")
        try Data("skyport-secret".utf8).write(to: secret)
        let issuers = dir.appendingPathComponent("issuers.json")
        try Data(#"[{"issuer": "\#(issuer)", "audiences": ["skyport-web"], "client": {"clientId": "skyport", "clientSecretFile": "\#(secret.path)"}}]"#.utf8)
            .write(to: issuers)
        broker.config.auth = .oidc
        broker.config.oidcIssuersFile = issuers.path
        broker.config.roles = RoleMapping(operatorGroups: ["/skao/operators": "alice"])
        return (broker, issuer)
    }

    /// Follows the issuer's authorization URL as the browser would (the provider's test login: `login_hint` names the
    /// user): the path and query of the broker's callback it redirects to.
    static func authorize(_ url: String, user: String, groups: [String] = []) async throws -> String {
        var components = try #require(URLComponents(string: url))
        components.queryItems = (components.queryItems ?? []) + [URLQueryItem(name: "login_hint", value: user)]
            + (groups.isEmpty ? [] : [URLQueryItem(name: "groups", value: groups.joined(separator: ","))])
        let target = try #require(components.url)
        let location = try await withTestEgress { egress in
            let http = RemoteHTTP(egress: egress, purpose: .identity, retry: RetryPolicy(maxAttempts: 1))
            let answer = try await http.get(target)
            #expect(answer.status == 302, "\(String(decoding: answer.body, as: UTF8.self))")
            return try #require(answer.location)
        }
        #expect(location.path == "/ui/signin/callback")
        return location.path + "?" + (location.query ?? "")
    }

    /// A user name no other test logs in with: the provider keeps one set of groups per user, and other suites run
    /// beside this one.
    static func user(_ name: String) -> String { "web-\(name)-\(UUID().uuidString.prefix(8).lowercased())" }

    @Test func aBrowserSignsInAtItsIssuerAndActsAsThatIdentity() async throws {
        let (broker, issuer) = try await broker()
        let carol = Self.user("carol")
        try await broker.run { client in
            _ = try await client.send(.post, "/facilities", json: facilityJSON(id: "tap-signin"), token: TestBroker.aliceToken)
            var browser = Browser(client)
            // The scientist's pages send a browser that is not signed in to sign in, and offer the issuer.
            let mine = try await browser.get("/ui/mine")
            #expect(mine.status == .seeOther && mine.headers[.location] == "/ui/signin?next=/ui/mine")
            let signin = try await browser.get("/ui/signin?next=/ui/mine")
            let link = try #require(Browser.firstMatch(#"<a class="issuer" href="([^"]+)">Sign in at 127.0.0.1</a>"#, in: signin.text))
                .replacingOccurrences(of: "&amp;", with: "&")
            #expect(link == "/ui/signin/oidc?issuer=\(issuer)&next=/ui/mine")

            let started = try await browser.get(link)
            #expect(started.status == .seeOther)
            let authorization = try #require(started.headers[.location])
            #expect(authorization.hasPrefix(issuer + "/authorization?"))
            for part in ["response_type=code", "client_id=skyport", "code_challenge_method=S256", "code_challenge=", "state=", "nonce=",
                         "audience=skyport-web"] {
                #expect(authorization.contains(part), "\(part) in \(authorization)")
            }
            let callback = try await Self.authorize(authorization, user: carol)

            // Another browser cannot finish this sign-in.
            var other = Browser(client)
            _ = try await other.get("/ui/")
            #expect(try await other.get(callback).status == .badRequest)

            let done = try await browser.get(callback)
            #expect(done.status == .seeOther && done.headers[.location] == "/ui/mine", "\(done.text.prefix(2000))")
            #expect(done.headers[.setCookie]?.hasPrefix("__Host-skyport_auth=") == true)
            #expect(try await browser.get("/ui/mine").text.contains("The sessions you made as \(carol)."))
            // The code is used up: the same answer again is refused by the issuer.
            #expect(try await browser.get(callback).status == .forbidden)

            // Asked in the browser, the offer set is carol's: My work lists it, another identity does not see it.
            let ask = try await browser.get("/ui/")
            let asked = try await browser.post("/ui/ask", ["tap_query": "SELECT 1"], from: ask)
            #expect(asked.status == .seeOther)
            #expect(try await browser.get("/ui/mine").text.contains(#"<tr class="session" data-phase="OFFERED">"#))
            let carolsSet = try #require(asked.headers[.location])
            var dave = Browser(client)
            let daveSignin = try await dave.get("/ui/signin")
            _ = daveSignin
            let daveStarted = try await dave.get("/ui/signin/oidc?issuer=\(issuer)")
            let daveDone = try await dave.get(try await Self.authorize(try #require(daveStarted.headers[.location]), user: Self.user("dave")))
            #expect(daveDone.status == .seeOther && daveDone.headers[.location] == "/ui/", "\(daveDone.text.prefix(1500))")
            let theirs = try await dave.get(carolsSet)
            #expect(theirs.status == .notFound, "\(theirs.status) \(theirs.headers) \(theirs.text.prefix(1500))")
        }
    }

    @Test func anOperatorsGroupSignsInAsThatOperator() async throws {
        let (broker, issuer) = try await broker()
        try await broker.run { client in
            _ = try await client.send(.post, "/facilities", json: facilityJSON(id: "tap-op"), token: TestBroker.aliceToken)
            var browser = Browser(client)
            _ = try await browser.get("/ui/signin")
            let started = try await browser.get("/ui/signin/oidc?issuer=\(issuer)&next=/ui/facilities/tap-op")
            let callback = try await Self.authorize(try #require(started.headers[.location]), user: Self.user("erin"), groups: ["/skao/operators"])
            #expect(try await browser.get(callback).headers[.location] == "/ui/facilities/tap-op")
            #expect(try await browser.get("/ui/facilities/tap-op").text.contains(#"<a id="edit""#))
        }
    }

    @Test func aSignInThatIsLateForgedElsewhereOrRefusedGoesNowhere() async throws {
        let clock = WallClock()
        let (broker, issuer) = try await broker(clock: clock)
        try await broker.run { client in
            var browser = Browser(client)
            _ = try await browser.get("/ui/signin")
            // Another site as the next page: the sign-in ends on the Ask page.
            let started = try await browser.get("/ui/signin/oidc?issuer=\(issuer)&next=https://evil.example/")
            let callback = try await Self.authorize(try #require(started.headers[.location]), user: Self.user("frank"))
            let state = try #require(URLComponents(string: callback)?.queryItems?.first { $0.name == "state" }?.value)
            // The issuer's refusal, for this browser's sign-in: its code only, not its words.
            let denied = try await browser.get("/ui/signin/callback?state=\(Browser.encode(state))&error=access_denied&error_description=%3Cb%3Ecall+us%3C%2Fb%3E")
            #expect(denied.status == .unauthorized && denied.text.contains("127.0.0.1 did not sign you in (access_denied)"))
            #expect(!denied.text.contains("call us"))
            // An answer from another issuer than the one asked (RFC 9207), a state this broker did not seal, an issuer
            // it does not sign browsers in at: refused.
            #expect(try await browser.get(callback + "&iss=https%3A%2F%2Fother.example").status == .badRequest)
            #expect(try await browser.get("/ui/signin/callback?code=x&state=v1%3Anot-sealed").status == .badRequest)
            #expect(try await browser.get("/ui/signin/oidc?issuer=https://elsewhere.example").status == .badRequest)
            // Ten minutes on, the answer is too late.
            clock.advance(by: 601)
            let late = try await browser.get(callback)
            #expect(late.status == .badRequest && late.text.contains("took longer than 10 minutes"))
            clock.advance(by: -601)
            let done = try await browser.get(callback)
            #expect(done.status == .seeOther && done.headers[.location] == "/ui/", "\(done.text.prefix(1500))")
        }
    }
}

/// The wall clock, moved by a test.
final class WallClock: Sendable {
    private let offset = Mutex<TimeInterval>(0)
    var now: Date { Date().addingTimeInterval(offset.withLock { $0 }) }
    func advance(by seconds: TimeInterval) { offset.withLock { $0 += seconds } }
}

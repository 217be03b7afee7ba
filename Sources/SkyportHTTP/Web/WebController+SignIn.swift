import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import SkyportCore

/// Signing a browser in at an OpenID Connect issuer (`SKYPORT_AUTH=oidc`, an issuer with Skyport's client in
/// `SKYPORT_OIDC_ISSUERS`): the authorization-code flow with PKCE. The state the issuer hands back is sealed with the
/// broker's key and holds the issuer, the PKCE verifier, the page to go on to, the browser it was made for and when it
/// stops counting (10 minutes): nothing is kept on the server, so any replica finishes the sign-in.
extension WebController {
    static let signInStateLifetime: TimeInterval = 600

    /// The sign-in page's values: the issuers a browser can sign in at, and the token form.
    func signInValues(next: String, error: String? = nil) -> [String: Any] {
        var values: [String: Any] = ["title": "Sign in", "next": next]
        if let error { values["error"] = error }
        if deps.auth == .oidc, let flow = deps.tokenVerifier as? any BrowserSignIn {
            values["issuers"] = flow.signInIssuers.map { issuer -> [String: String] in
                var link = URLComponents()
                link.path = "/ui/signin/oidc"
                link.queryItems = [URLQueryItem(name: "issuer", value: issuer), URLQueryItem(name: "next", value: next)]
                return ["issuer": issuer, "host": URL(string: issuer)?.host ?? issuer, "href": link.string ?? "/ui/signin"]
            }
        }
        return values
    }

    func registerIssuerSignIn(on routes: RouteCollection<SkyportRequestContext>) {
        // A link, not a form: a browser refuses to follow a form post's redirect to another site under the pages'
        // `form-action 'self'`. Starting a sign-in changes nothing here; its state binds the answer to this browser.
        routes.get("/ui/signin/oidc") { request, context in
            try await page(request, context) { visit in
                let query = request.uri.queryParameters
                let flow = try Self.flow(deps)
                guard let issuer = query.get("issuer"), flow.signInIssuers.contains(issuer) else {
                    throw APIError.badRequest("'\(query.get("issuer") ?? "")' is not an issuer this broker signs browsers in at", field: "issuer")
                }
                let verifier = Self.randomToken()
                let challenge = Self.base64URL(Data(SHA256.hash(data: Data(verifier.utf8))))
                let expires = Int(deps.now.addingTimeInterval(Self.signInStateLifetime).timeIntervalSince1970)
                let next = Self.safeNext(query.get("next"))
                let state = try security.sealer.seal(["oidc", String(expires), visit.browser, issuer, verifier, next].joined(separator: "\n"))
                let url = try await flow.authorizationURL(
                    issuer: issuer, redirectURI: try Self.callback(request), state: state, codeChallenge: challenge, nonce: Self.randomToken())
                return WebRenderer.redirect(url.absoluteString)
            }
        }
        routes.get("/ui/signin/callback") { request, context in
            try await page(request, context) { visit in
                let query = request.uri.queryParameters
                // Only the answer to a sign-in this browser started counts, an error as much as a code.
                guard let sealed = query.get("state"), let opened = security.sealer.open(sealed) else {
                    throw APIError.badRequest("this is not the answer to a sign-in this broker started", field: "state")
                }
                let parts = opened.split(separator: "\n", maxSplits: 5, omittingEmptySubsequences: false).map(String.init)
                guard parts.count == 6, parts[0] == "oidc", let expires = Double(parts[1]), parts[2] == visit.browser else {
                    throw APIError.badRequest("this sign-in was started in another browser: sign in again", field: "state")
                }
                let (issuer, verifier, next) = (parts[3], parts[4], parts[5])
                if let error = query.get("error") {
                    // The issuer's error code only (RFC 6749 §4.1.2.1): its free text is not shown on our pages.
                    let code = error.utf8.allSatisfy({ $0 == UInt8(ascii: "_") || ($0 >= 97 && $0 <= 122) }) ? error.prefix(40) : "an error"
                    return WebRenderer.page(
                        "signin", visit.values(signInValues(next: next, error: "\(URL(string: issuer)?.host ?? issuer) did not sign you in (\(code))")),
                        status: .unauthorized)
                }
                guard deps.now.timeIntervalSince1970 < expires else {
                    throw APIError.badRequest("this sign-in took longer than 10 minutes: sign in again", field: "state")
                }
                // RFC 9207: an issuer that says who answered must be the one asked.
                if let answered = query.get("iss"), answered != issuer {
                    throw APIError.badRequest("the answer came from \(answered), not from \(issuer) where the sign-in began", field: "iss")
                }
                guard let code = query.get("code") else { throw APIError.badRequest("the issuer's answer has no code", field: "code") }
                let token = try await Self.flow(deps).redeem(code: code, issuer: issuer, redirectURI: try Self.callback(request), codeVerifier: verifier)
                return try await signedIn(token, next: Self.safeNext(next), visit, issuer: issuer)
            }
        }
    }

    static func flow(_ deps: APIDependencies) throws -> any BrowserSignIn {
        guard deps.auth == .oidc, let flow = deps.tokenVerifier as? any BrowserSignIn, !flow.signInIssuers.isEmpty else {
            throw APIError(.notFound, code: "not-found", "this broker signs no browser in at an issuer (SKYPORT_AUTH=oidc with an issuer's client)")
        }
        return flow
    }

    /// Where the issuer sends the browser back: this broker as the browser addressed it. Behind a proxy that ends
    /// TLS, its `X-Forwarded-Proto` (or `Forwarded: proto=`) says https; a host that is no host name is refused.
    static func callback(_ request: Request) throws -> String {
        let base = ExecutionController.base(request)
        guard !base.isEmpty else { throw APIError.badRequest("the request names no usable Host", field: "Host") }
        let forwarded = request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.split(separator: ",").first
            ?? request.headers[HTTPField.Name("Forwarded")!]?.split(separator: ";").lazy.compactMap { part -> Substring? in
                let pair = part.split(separator: "=", maxSplits: 1)
                return pair.count == 2 && pair[0].trimmingSpaces().lowercased() == "proto" ? pair[1] : nil
            }.first
        let https = forwarded.map { $0.trimmingSpaces().lowercased() == "https" } ?? false
        return (https ? "https" : "http") + base.dropFirst("http".count) + "/ui/signin/callback"
    }

    /// 32 random bytes, base64url (a PKCE verifier, a nonce).
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return base64URL(Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

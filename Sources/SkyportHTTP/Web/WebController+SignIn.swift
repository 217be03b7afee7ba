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
            values["issuers"] = flow.signInIssuers.map { ["issuer": $0, "host": URL(string: $0)?.host ?? $0] }
        }
        return values
    }

    func registerIssuerSignIn(on routes: RouteCollection<SkyportRequestContext>) {
        routes.post("/ui/signin/oidc") { request, context in
            try await page(request, context) { visit in
                let form = try await visit.form(request)
                let flow = try Self.flow(deps)
                guard let issuer = form["issuer"], flow.signInIssuers.contains(issuer) else {
                    throw APIError.badRequest("'\(form["issuer"] ?? "")' is not an issuer this broker signs browsers in at", field: "issuer")
                }
                let verifier = Self.randomToken()
                let challenge = Self.base64URL(Data(SHA256.hash(data: Data(verifier.utf8))))
                let expires = Int(deps.now.addingTimeInterval(Self.signInStateLifetime).timeIntervalSince1970)
                let next = Self.safeNext(form["next"])
                let state = try security.sealer.seal(["oidc", String(expires), visit.browser, issuer, verifier, next].joined(separator: "\n"))
                let url = try await flow.authorizationURL(
                    issuer: issuer, redirectURI: Self.callback(request), state: state, codeChallenge: challenge, nonce: Self.randomToken())
                return WebRenderer.redirect(url.absoluteString)
            }
        }
        routes.get("/ui/signin/callback") { request, context in
            try await page(request, context) { visit in
                let query = request.uri.queryParameters
                if let error = query.get("error") {
                    let why = [error, query.get("error_description")].compactMap { $0 }.joined(separator: ": ")
                    return WebRenderer.page(
                        "signin", visit.values(signInValues(next: "/ui/", error: "the issuer did not sign you in: \(RemoteText.clip(why, limit: 200))")),
                        status: .unauthorized)
                }
                guard let code = query.get("code"), let sealed = query.get("state"), let opened = security.sealer.open(sealed) else {
                    throw APIError.badRequest("this is not the answer to a sign-in this broker started", field: "state")
                }
                let parts = opened.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                guard parts.count == 6, parts[0] == "oidc", let expires = Double(parts[1]), parts[2] == visit.browser else {
                    throw APIError.badRequest("this sign-in was started in another browser: sign in again", field: "state")
                }
                guard deps.now.timeIntervalSince1970 < expires else {
                    throw APIError.badRequest("this sign-in took longer than 10 minutes: sign in again", field: "state")
                }
                let token = try await Self.flow(deps).redeem(code: code, issuer: parts[3], redirectURI: Self.callback(request), codeVerifier: parts[4])
                return try await signedIn(token, next: Self.safeNext(parts[5]), visit)
            }
        }
    }

    static func flow(_ deps: APIDependencies) throws -> any BrowserSignIn {
        guard deps.auth == .oidc, let flow = deps.tokenVerifier as? any BrowserSignIn, !flow.signInIssuers.isEmpty else {
            throw APIError(.notFound, code: "not-found", "this broker signs no browser in at an issuer (SKYPORT_AUTH=oidc with an issuer's client)")
        }
        return flow
    }

    /// Where the issuer sends the browser back: this broker as the browser addressed it.
    static func callback(_ request: Request) -> String {
        let scheme = request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https" ? "https" : "http"
        return "\(scheme)://\(request.head.authority ?? "localhost")/ui/signin/callback"
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

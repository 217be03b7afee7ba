import Foundation
import HTTPTypes
import Hummingbird
import SkyportCore

/// What keeps the web pages as safe as the API: the browser's identifier, the sign-in cookie, the CSRF token of
/// every form, and the headers every page carries (`specs/web-ui.md`).
///
/// Cookies are sealed or random, `HttpOnly; Secure; SameSite=Lax`, and named `__Host-…` so that no other host (a
/// sibling subdomain) and no plain-http answer can set or shadow them; only `/ui` pages read them (the API never does,
/// so a cookie can never authorise an API call another site makes the browser send).
struct WebSecurity: Sendable {
    /// Seals the sign-in cookie and the CSRF tokens (the broker's key: the same on every replica).
    let sealer: any SecretSealer

    static let browserCookie = "__Host-skyport_browser"
    static let authCookie = "__Host-skyport_auth"
    /// How long a sign-in lasts (also sealed into the cookie: a copied cookie is no good after it).
    static let signInLifetime: TimeInterval = 8 * 3600
    /// The largest cookie browsers keep (a larger one is dropped without a word).
    static let maxCookieBytes = 4000

    /// The headers of every `/ui` answer: no inline script or style, nothing loaded from elsewhere, no framing.
    static let headers: HTTPFields = [
        HTTPField.Name("Content-Security-Policy")!:
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
        .cacheControl: "no-store",
    ]

    /// The cookies of a request, by name (the first of each name).
    static func cookies(_ request: Request) -> [String: String] {
        var found: [String: String] = [:]
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let name = parts[0].trimmingSpaces()
                if found[name] == nil { found[name] = parts[1].trimmingSpaces() }
            }
        }
        return found
    }

    /// A `Set-Cookie` value; `maxAge` 0 removes the cookie.
    static func setCookie(_ name: String, _ value: String, maxAge: Int) -> String {
        "\(name)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; Secure; SameSite=Lax"
    }

    /// The browser's identifier from its cookie: 32 hex digits, or nil (a new browser, or a cookie not ours).
    static func browserID(_ request: Request) -> String? {
        guard let id = cookies(request)[browserCookie], id.utf8.count == 32, id.utf8.allSatisfy({ isHex($0) }) else { return nil }
        return id
    }

    static func newBrowserID() -> String {
        (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    private static func isHex(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 97 && c <= 102) }

    /// The CSRF token a form of this browser carries: the browser's identifier sealed (so it cannot be made without
    /// the broker's key, and one browser's token is no good for another).
    func csrfToken(browser: String) -> String {
        ((try? sealer.seal("csrf|" + browser)) ?? "").addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    }

    /// Refuses a form post whose CSRF token is not this browser's, or that another site's page sent (`Origin`).
    func checkForm(_ request: Request, browser: String?, token: String?) throws {
        if let origin = request.headers[.origin], let host = request.head.authority,
           origin != "http://\(host)", origin != "https://\(host)" {
            throw APIError(.forbidden, code: "csrf-mismatch", "this form was sent from another site (\(origin))")
        }
        guard let browser, let token, let sealed = token.removingPercentEncoding, sealer.open(sealed) == "csrf|" + browser else {
            throw APIError(.forbidden, code: "csrf-mismatch", "the form's CSRF token is missing or not this browser's: reload the page and send it again")
        }
    }

    /// The sign-in cookie's value for a bearer token (an operator's, or an OpenID Connect access token): sealed with
    /// what it is, when it stops counting, and the browser it was given to. Nil when it would be too large to keep.
    func authCookieValue(token: String, browser: String, now: Date) throws -> String? {
        let expires = Int(now.addingTimeInterval(Self.signInLifetime).timeIntervalSince1970)
        let value = try sealer.seal("auth|\(expires)|\(browser)|\(token)").addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        return value.utf8.count + Self.authCookie.utf8.count < Self.maxCookieBytes ? value : nil
    }

    /// The bearer token a signed-in browser's cookie holds; nil without one, for one this broker did not seal as a
    /// sign-in, one past its time, or one given to another browser.
    func bearerToken(_ request: Request, now: Date) -> String? {
        guard let value = Self.cookies(request)[Self.authCookie], let sealed = value.removingPercentEncoding,
              let opened = sealer.open(sealed) else { return nil }
        let parts = opened.split(separator: "|", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "auth", let expires = Double(parts[1]), now.timeIntervalSince1970 < expires,
              let browser = Self.browserID(request), parts[2] == browser else { return nil }
        return String(parts[3])
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SkyportBroker
import SkyportCore

/// The web interface (`specs/web-ui.md`): the scientist's Ask, offer, session and My work pages, the facility pages
/// (`WebController+Facilities`), sign-in. Each route parses, calls one use case, renders; the pages are no operation
/// of the API, so they are not in its route table or its OpenAPI document.
struct WebController: Controller {
    let deps: APIDependencies
    let security: WebSecurity

    func register(on table: inout RouteTable<SkyportRequestContext>) {
        let routes = table.collection
        // A browser that opens the broker's address lands on the Ask page; anything else finds no document there.
        routes.get("/") { request, _ in
            guard request.headers[.accept]?.contains("text/html") == true else { throw APIError.notFound("a document at /") }
            return WebRenderer.redirect("/ui/")
        }
        routes.get("/ui/") { request, context in
            try await page(request, context) { visit in WebRenderer.page("ask", visit.values(["nav-ask": true, "title": "Where can I run this?"])) }
        }
        routes.post("/ui/ask") { request, context in try await page(request, context) { visit in try await ask(request, context, visit) } }
        routes.get("/ui/offersets/{uuid}") { request, context in
            try await page(request, context) { visit in
                try visit.requireUser()
                let (set, sessions) = try await deps.broker.sessions.offerSet(try ExecutionController.uuid(context), as: context.viewer)
                let values = WebViews.offerSet(set, sessions, now: deps.now, audience: context.reasonAudience)
                return WebRenderer.page("offerset", visit.values(values.merging(["title": "Offers", "nav-ask": true]) { a, _ in a }))
            }
        }
        routes.post("/ui/sessions/{uuid}/phase") { request, context in
            try await page(request, context) { visit in
                let id = try ExecutionController.uuid(context)
                let form = try await visit.form(request)
                try visit.requireUser()
                guard let word = form["phase"], let target = SessionPhase(rawValue: word.uppercased()) else {
                    throw APIError.badRequest("say which phase: ACCEPTED, REJECTED or CANCELLED", field: "phase")
                }
                _ = try await deps.broker.sessions.changePhase(
                    of: id, to: target, as: context.viewer, actor: context.who, bearer: context.bearer, logger: context.logger)
                return WebRenderer.redirect("/ui/sessions/\(id.lowercasedText)")
            }
        }
        routes.get("/ui/sessions/{uuid}") { request, context in
            try await page(request, context) { visit in
                try visit.requireUser()
                let session = try await deps.broker.sessions.session(try ExecutionController.uuid(context), as: context.viewer)
                let mine = visit.owns(session)
                var values = WebViews.session(mine ? deps.broker.sessions.reveal(session) : session, now: deps.now, mine: mine)
                values["line"] = WebViews.progressLine(values)
                values["title"] = "Session \(session.facilityName)"
                return WebRenderer.page("session", visit.values(values))
            }
        }
        routes.get("/ui/sessions/{uuid}/events") { request, context in try await events(request, context) }
        routes.get("/ui/mine") { request, context in
            try await page(request, context) { visit in try await mine(request, visit) }
        }
        routes.get("/ui/signin") { request, context in
            try await page(request, context) { visit in WebRenderer.page("signin", visit.values(signInValues(next: Self.next(request)))) }
        }
        registerIssuerSignIn(on: routes)
        routes.post("/ui/signin") { request, context in try await page(request, context) { visit in try await signIn(request, visit) } }
        routes.post("/ui/signout") { request, context in
            try await page(request, context) { visit in
                _ = try await visit.form(request)
                return WebRenderer.redirect("/ui/", headers: [.setCookie: WebSecurity.setCookie(WebSecurity.authCookie, "", maxAge: 0)])
            }
        }
        routes.get("/ui/static/skyport.css") { _, _ in WebRenderer.asset(PackageResources.skyport_css, type: "text/css; charset=utf-8") }
        routes.get("/ui/static/skyport.js") { _, _ in WebRenderer.asset(PackageResources.skyport_js, type: "text/javascript; charset=utf-8") }
        registerFacilityPages(on: routes)
    }

    // MARK: Ask

    func ask(_ request: Request, _ context: SkyportRequestContext, _ visit: WebVisit) async throws -> Response {
        let form = try await visit.form(request)
        try visit.requireUser()
        let now = deps.now
        var kept: [String: Any] = ["title": "Where can I run this?", "nav-ask": true]
        for name in ["codemeta", "codemeta_url", "repository", "path", "ref", "tap_query", "basket", "items", "cores_min", "cores_max",
                     "memory_min", "memory_max", "duration", "start"] {
            if let value = form.fields[name]?.first { kept["form-" + name] = value }
        }
        do {
            let document = try AskForm(form, codemeta: try await codemeta(form)).document()
            try APIContract.checkBody(document, .post, "/requests")
            let parsed = try ExecutionRequestParser.parse(document, now: now, egress: deps.broker.egress)
            let (set, _) = try await deps.broker.negotiation.negotiateSet(
                parsed, idempotencyKey: nil, digest: nil, now: now, path: FederationPath(), owner: visit.owner,
                requester: context.requester, actor: context.who, logger: context.logger)
            return WebRenderer.redirect("/ui/offersets/\(set.id.lowercasedText)")
        } catch let failure as ValidationFailure {
            kept["errors"] = failure.errors.map { ["field": $0.field, "message": $0.message] }
            return WebRenderer.page("ask", visit.values(kept), status: .badRequest)
        } catch let error as APIError where error.status == .badRequest && !error.errors.isEmpty {
            kept["errors"] = error.errors.map { ["field": $0.field, "message": $0.message] }
            return WebRenderer.page("ask", visit.values(kept), status: .badRequest)
        }
    }

    /// The codemeta.json the form gives: pasted, uploaded, or fetched from a URL through the egress policy.
    func codemeta(_ form: WebForm) async throws -> String? {
        if let text = form["codemeta"] { return text }
        if let file = form.files["codemeta_file"] {
            guard let text = String(data: file, encoding: .utf8) else { throw ValidationFailure([FieldError("codemeta_file", "is not UTF-8 text")]) }
            return text
        }
        guard let text = form["codemeta_url"] else { return nil }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host != nil else {
            throw ValidationFailure([FieldError("codemeta_url", "'\(text)' is not an http or https URL")])
        }
        if let refusal = deps.broker.egress.check(url: text) {
            throw ValidationFailure([FieldError("codemeta_url", "the broker does not fetch this URL: \(refusal)")])
        }
        guard let fetch = deps.broker.documents else {
            throw ValidationFailure([FieldError("codemeta_url", "this broker fetches no documents: paste or upload the codemeta.json")])
        }
        do {
            let data = try await fetch(url)
            guard let body = String(data: data, encoding: .utf8) else { throw ValidationFailure([FieldError("codemeta_url", "the document is not UTF-8 text")]) }
            return body
        } catch let failure as ValidationFailure {
            throw failure
        } catch let problem as FieldError {
            throw ValidationFailure([problem])
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ValidationFailure([FieldError("codemeta_url", "could not be fetched: \(error)")])
        }
    }

    // MARK: My work

    func mine(_ request: Request, _ visit: WebVisit) async throws -> Response {
        try visit.requireUser()
        var phase: SessionPhase?
        if let word = request.uri.queryParameters.get("phase"), !word.isEmpty {
            guard let p = SessionPhase(rawValue: word.uppercased()) else { throw APIError.badRequest("'\(word)' is not a session phase", field: "phase") }
            phase = p
        }
        let now = deps.now
        // An offer past its expiry is stored OFFERED until the sweep writes it: filtered by its phase now.
        var sessions = try await deps.broker.store.sessions(owner: visit.owner, phase: phase, limit: 200)
        if phase == .expired {
            sessions += try await deps.broker.store.sessions(owner: visit.owner, phase: .offered, limit: 200)
            sessions.sort { $0.created > $1.created }
        }
        sessions = sessions.filter { phase == nil || $0.phase(at: now) == phase }
        let rows = sessions.map { WebViews.session($0, now: now, mine: false).merging(["created": Timestamp.format($0.created)]) { a, _ in a } }
        let filters = ([nil] + SessionPhase.allCases.filter { $0 != .initial }).map { p -> [String: Any] in
            ["label": p?.rawValue ?? "all", "href": p.map { "/ui/mine?phase=\($0.rawValue)" } ?? "/ui/mine", "current": p == phase]
        }
        return WebRenderer.page("mine", visit.values([
            "title": "My work", "nav-mine": true, "sessions": rows, "hasSessions": !rows.isEmpty, "filters": filters,
            "phase": phase?.rawValue ?? "",
        ]))
    }

    // MARK: Sign-in

    /// Keeps a token that signs in (an operator's, or an access token a trusted issuer signed) in a sealed cookie.
    func signIn(_ request: Request, _ visit: WebVisit) async throws -> Response {
        let form = try await visit.form(request)
        let next = Self.safeNext(form["next"])
        guard let token = form["token"] else {
            return WebRenderer.page("signin", visit.values(signInValues(next: next, error: "give a token")), status: .badRequest)
        }
        return try await signedIn(token, next: next, visit)
    }

    /// Keeps `token` in the sign-in cookie when it signs someone in (an operator, or an identity from a trusted issuer),
    /// and goes on to `next`; else the sign-in page says why.
    /// `issuer`: the issuer the token must be from (a sign-in at that issuer), nil for a pasted token.
    func signedIn(_ token: String, next: String, _ visit: WebVisit, issuer: String? = nil) async throws -> Response {
        let caller = try await AuthenticationMiddleware(
            operators: deps.broker.store, mode: deps.auth, verifier: deps.tokenVerifier, roles: deps.roles, now: deps.broker.now
        ).caller("Bearer " + token)
        if let issuer {
            guard case .identity(let identity, _) = caller, identity.issuer == issuer else {
                let message = "the token \(URL(string: issuer)?.host ?? issuer) gave does not sign you in as one of its users"
                return WebRenderer.page("signin", visit.values(signInValues(next: next, error: message)), status: .unauthorized)
            }
        }
        switch caller {
        case .operator, .identity:
            guard let value = try security.authCookieValue(token: token, browser: visit.browser, now: deps.now) else {
                let message = "this token is too large for a browser to keep in a cookie: use the API with it"
                return WebRenderer.page("signin", visit.values(signInValues(next: next, error: message)), status: .badRequest)
            }
            let cookie = WebSecurity.setCookie(WebSecurity.authCookie, value, maxAge: Int(WebSecurity.signInLifetime))
            return WebRenderer.redirect(next, headers: [.setCookie: cookie])
        case .refused(let refusal):
            let message = "this token signs no one in: \(APIError.refusedToken(refusal).message)"
            return WebRenderer.page("signin", visit.values(signInValues(next: next, error: message)), status: .unauthorized)
        default:
            let message = "this token signs no one in: give an operator token or an access token from a trusted issuer"
            return WebRenderer.page("signin", visit.values(signInValues(next: next, error: message)), status: .unauthorized)
        }
    }

    static func next(_ request: Request) -> String { safeNext(request.uri.queryParameters.get("next")) }

    /// A page of ours to go to after signing in; anything else (another site, a control character, a path longer than
    /// 512 bytes, which would swell the sign-in's state past what issuers take in a URL) goes to the Ask page.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/ui/"), !next.hasPrefix("//"), !next.contains("\\"), next.utf8.count <= 512,
              next.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else { return "/ui/" }
        return next
    }

    // MARK: Every page

    /// Runs a page: who is visiting (their browser cookie, set on the first visit), and any error as an HTML page
    /// with its status (401 sends the browser to sign in).
    func page(
        _ request: Request, _ context: SkyportRequestContext, _ body: (WebVisit) async throws -> Response
    ) async throws -> Response {
        let known = WebSecurity.browserID(request)
        let visit = WebVisit(deps: deps, security: security, context: context, browser: known ?? WebSecurity.newBrowserID(), request: request)
        var response: Response
        do {
            response = try await body(visit)
        } catch {
            let shown = APIError.from(error) as? APIError
                ?? APIError(.internalServerError, code: "internal", "something went wrong on our side; the log says what")
            if shown.status == .unauthorized || shown.code == "sign-in-required" {
                response = WebRenderer.redirect("/ui/signin?next=" + (request.uri.path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? "/ui/"))
            } else {
                if shown.status == .internalServerError { context.logger.error("web page failed", metadata: ["error": .string("\(error)")]) }
                response = WebRenderer.page("error", visit.values([
                    "title": "\(shown.status.code) \(shown.status.reasonPhrase)", "status": shown.status.code, "code": shown.code,
                    "message": shown.message, "errors": shown.errors.map { ["field": $0.field, "message": $0.message] },
                ]), status: shown.status)
            }
        }
        if known == nil {
            response.headers.append(HTTPField(name: .setCookie, value: WebSecurity.setCookie(WebSecurity.browserCookie, visit.browser, maxAge: 400 * 86_400)))
        }
        return response
    }
}

/// One visit to a page: who it is, what they own, and the values every page shows (sign-in state, CSRF token).
struct WebVisit {
    let deps: APIDependencies
    let security: WebSecurity
    let context: SkyportRequestContext
    let browser: String
    let request: Request

    /// Who owns what this visitor makes: their identity when signed in with one, else this browser.
    var owner: String { context.owner ?? "browser:" + browser }

    /// Whether the session is this visitor's (its notebook link, with its token, is shown only to them).
    func owns(_ session: SessionRecord) -> Bool { session.owner == owner }

    var operatorName: String? { try? context.operatorName() }

    /// Where callers sign in (`SKYPORT_AUTH=oidc`), the scientist's pages need it as the API's routes do: 401, which
    /// sends the browser to sign in.
    func requireUser() throws {
        if deps.auth == .oidc { try context.requireSignedIn() }
    }

    var signedIn: String? {
        switch context.caller {
        case .operator(let name): return "operator \(name)"
        case .identity(let identity, _): return identity.name ?? identity.subject
        default: return nil
        }
    }

    /// A form post of this browser, its CSRF token checked.
    func form(_ request: Request) async throws -> WebForm {
        let form = try await WebForm.read(request, limit: deps.maxBodyBytes)
        try security.checkForm(request, browser: WebSecurity.browserID(request), token: form["csrf"])
        return form
    }

    /// The page's own values with the ones every page has.
    func values(_ page: [String: Any]) -> [String: Any] {
        var values = page
        // `has-<list>`: whether a list has members (a template shows a list's heading and frame only then).
        for (key, value) in page {
            if let list = value as? [Any] { values["has-" + key] = !list.isEmpty }
            // A Mustache section shows for any string, the empty one too: an empty value is no value.
            if let text = value as? String, text.isEmpty { values[key] = nil }
        }
        values["csrf"] = security.csrfToken(browser: browser)
        if let signedIn { values["signedIn"] = signedIn }
        if operatorName != nil { values["isOperator"] = true }
        values["oidc"] = deps.auth == .oidc
        return values
    }
}

import Foundation
import Hummingbird
import SkyportBroker
import SkyportCore

/// Reads the caller's bearer token once per request and sets `context.caller`: an operator (its token's hash is
/// stored); in `open` mode a user (any other well-formed token); in `oidc` mode a signed-in identity (a token its
/// trusted issuer signed, or introspects as active) or the reason the token is refused. Each route says whom it needs
/// (`operatorName()`, `uwsOwner()`); in `oidc` mode this middleware also refuses, with 401, every caller who is not
/// signed in on the scientist's routes (`AuthMode.userPaths`), so that no route can forget to.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = SkyportRequestContext
    let operators: any OperatorStore
    let mode: AuthMode
    let verifier: (any TokenVerifying)?
    /// Which groups make a signed-in caller an operator or an admin.
    let roles: RoleMapping
    let now: @Sendable () -> Date
    /// Opens the web pages' sign-in cookie; only `/ui` paths read it (the API takes the `Authorization` header alone).
    var web: WebSecurity?

    /// Longest bearer token read: an operator's or an open-mode user's is at most 256 bytes; a JWT with many groups
    /// can be a few kilobytes.
    var maxTokenBytes: Int { mode == .oidc ? 8_192 : 256 }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let header = request.headers[.authorization] ?? webBearer(request)
        context.caller = try await caller(header)
        if case .identity(let identity, _) = context.caller, let header {
            // Kept for the one use that needs it: carrying it to a facility that takes the user's own credentials.
            context.bearer = Bearer(token: String(header.dropFirst("Bearer ".count)).trimmingSpaces(), identity: identity)
        }
        if mode.requiresUser(request.uri.path) { try context.requireSignedIn() }
        return try await next(request, context)
    }

    /// A signed-in browser's token, as an `Authorization` value, on the web pages only.
    func webBearer(_ request: Request) -> String? {
        guard let web, request.uri.path == "/ui" || request.uri.path.hasPrefix("/ui/") else { return nil }
        return web.bearerToken(request, now: now()).map { "Bearer " + $0 }
    }

    func caller(_ header: String?) async throws -> Caller {
        guard let header else { return .anonymous }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return .notBearer }
        let token = parts[1].trimmingSpaces()
        guard !token.isEmpty, token.utf8.count <= maxTokenBytes, token.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else { return .malformedToken }
        if token.utf8.count <= 256 {
            let hash = OperatorToken.hash(token)
            if let name = try await operators.operatorName(forTokenHash: hash) { return .operator(name: name) }
            if mode == .open { return .user(tokenHash: hash) }
        }
        guard let verifier else { return .refused(.unknownIssuer("none is configured")) }
        switch await verifier.identity(for: token, now: now()) {
        case .success(let identity): return .identity(identity, roles.roles(for: identity))
        case .failure(let refusal): return .refused(refusal)
        }
    }
}

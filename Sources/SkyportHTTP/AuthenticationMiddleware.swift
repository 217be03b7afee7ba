import Hummingbird
import SkyportBroker
import SkyportCore

/// Reads the caller's bearer token once per request and sets `context.caller`: an operator (its token's hash is
/// stored), a user (any other well-formed token), or why there is none. It refuses nothing itself: each route says
/// whom it needs (`operatorName()`, `uwsOwner()`), so that public routes answer whatever the header holds.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = SkyportRequestContext
    let operators: any OperatorStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.caller = try await caller(request.headers[.authorization])
        return try await next(request, context)
    }

    func caller(_ header: String?) async throws -> Caller {
        guard let header else { return .anonymous }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return .notBearer }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty, token.utf8.count <= 256, token.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else { return .malformedToken }
        let hash = OperatorToken.hash(token)
        if let name = try await operators.operatorName(forTokenHash: hash) { return .operator(name: name) }
        return .user(tokenHash: hash)
    }
}

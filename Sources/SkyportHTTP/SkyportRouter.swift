import HTTPTypes
import Hummingbird
import SkyportCore

/// Builds the router with every route Skyport serves, and the table of what it registered.
public enum SkyportRouter {
    public static func build(_ deps: APIDependencies) -> (router: Router<SkyportRequestContext>, routes: [RouteTable<SkyportRequestContext>.Entry]) {
        let router = Router(context: SkyportRequestContext.self)
        // Outermost, so that everything a request does happens inside its span (and notebook tokens stay out of it).
        if let ratio = deps.traceSample { router.add(middleware: SampledTracingMiddleware(ratio: ratio)) }
        router.add(middleware: PrometheusMiddleware(registry: deps.metrics))
        router.add(middleware: RequestMiddleware())
        router.add(middleware: BodyLimitMiddleware(maxBytes: deps.maxBodyBytes))
        router.add(middleware: AuthenticationMiddleware(
            operators: deps.broker.store, mode: deps.auth, verifier: deps.tokenVerifier, roles: deps.roles, now: deps.broker.now,
            web: deps.broker.sealer.map(WebSecurity.init)))
        if let limiter = deps.rateLimiter, !limiter.limit.isOff { router.add(middleware: RateLimitMiddleware(limiter: limiter)) }
        let controllers: [any Controller] = [
            SystemController(deps: deps), FacilityController(deps: deps), ExecutionController(deps: deps), AcceptsController(deps: deps),
            UWSController(deps: deps), VOSIController(deps: deps), RegistryController(deps: deps), AccountsController(deps: deps),
        ] + (deps.broker.sealer.map { [WebController(deps: deps, security: WebSecurity(sealer: $0))] } ?? [])
        var entries: [RouteTable<SkyportRequestContext>.Entry] = []
        for controller in controllers {
            let table = controller.endpoints
            router.addRoutes(table.collection)
            entries += table.entries
        }
        router.addRoutes(methodNotAllowed(for: entries))
        return (router, entries)
    }

    /// Every other method on a path that exists answers 405 with the methods it has (`Allow`), not 404: the path is
    /// there. These routes stay out of the table (they are no operation of the API).
    static func methodNotAllowed(for entries: [RouteTable<SkyportRequestContext>.Entry]) -> RouteCollection<SkyportRequestContext> {
        let collection = RouteCollection(context: SkyportRequestContext.self)
        // QUERY (the HTTP QUERY method draft) too: a client that tries it is told what the path takes.
        let methods: [HTTPRequest.Method] = [.get, .post, .put, .delete, .patch, .trace, HTTPRequest.Method("QUERY")!]
        for (path, registered) in Dictionary(grouping: entries, by: \.path) {
            let allowed = Set(registered.map(\.method))
            let allow = (methods.map(\.rawValue).filter(allowed.contains) + ["OPTIONS"]).joined(separator: ", ")
            // OPTIONS says what the path takes.
            collection.on(RouterPath(path), method: .options) { _, _ -> Response in
                Response(status: .noContent, headers: [.allow: allow])
            }
            for method in methods where !allowed.contains(method.rawValue) {
                collection.on(RouterPath(path), method: method) { _, _ -> Response in
                    throw APIError(
                        .methodNotAllowed, code: "method-not-allowed", "\(method.rawValue) is not allowed on \(path): use \(allow)",
                        headers: [.allow: allow])
                }
            }
        }
        return collection
    }
}

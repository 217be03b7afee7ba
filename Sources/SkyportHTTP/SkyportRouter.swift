import Hummingbird
import SkyportCore

/// Builds the router with every route Skyport serves, and the table of what it registered.
public enum SkyportRouter {
    public static func build(_ deps: APIDependencies) -> (router: Router<SkyportRequestContext>, routes: [RouteTable<SkyportRequestContext>.Entry]) {
        let router = Router(context: SkyportRequestContext.self)
        router.add(middleware: PrometheusMiddleware(registry: deps.metrics))
        router.add(middleware: RequestMiddleware())
        router.add(middleware: BodyLimitMiddleware(maxBytes: deps.maxBodyBytes))
        router.add(middleware: AuthenticationMiddleware(
            operators: deps.broker.store, mode: deps.auth, verifier: deps.tokenVerifier, roles: deps.roles, now: deps.broker.now))
        if let limiter = deps.rateLimiter, !limiter.limit.isOff { router.add(middleware: RateLimitMiddleware(limiter: limiter)) }
        let controllers: [any Controller] = [
            SystemController(deps: deps), FacilityController(deps: deps), ExecutionController(deps: deps), AcceptsController(deps: deps),
            UWSController(deps: deps), VOSIController(deps: deps), RegistryController(deps: deps), AccountsController(deps: deps),
        ]
        var entries: [RouteTable<SkyportRequestContext>.Entry] = []
        for controller in controllers {
            let table = controller.endpoints
            router.addRoutes(table.collection)
            entries += table.entries
        }
        return (router, entries)
    }
}

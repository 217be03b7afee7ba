import Hummingbird
import SkyportCore

/// Builds the router with every route Skyport serves, and the table of what it registered.
public enum SkyportRouter {
    public static func build(_ deps: APIDependencies) -> (router: Router<BasicRequestContext>, routes: [RouteTable<BasicRequestContext>.Entry]) {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: PrometheusMiddleware(registry: deps.metrics))
        router.add(middleware: RequestMiddleware())
        var table = RouteTable(router: router)
        SystemRoutes(deps: deps).register(on: &table)
        FacilityRoutes(deps: deps).register(on: &table)
        ExecutionRoutes(deps: deps).register(on: &table)
        AcceptsRoutes(deps: deps).register(on: &table)
        UWSRoutes(deps: deps).register(on: &table)
        VOSIRoutes(deps: deps).register(on: &table)
        RegistryRoutes(deps: deps).register(on: &table)
        return (router, table.entries)
    }
}

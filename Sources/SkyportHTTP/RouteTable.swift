import HTTPTypes
import Hummingbird
import NIOCore

/// A controller's routes: a Hummingbird `RouteCollection`, and the list of what it registered, so that a test can
/// hold the served OpenAPI document against the routes that really exist.
public struct RouteTable<Context: RequestContext> {
    /// One registered route: `GET /facilities/{id}`.
    public struct Entry: Hashable, Sendable, CustomStringConvertible {
        public var method: String
        public var path: String
        public var description: String { "\(method) \(path)" }
    }

    public private(set) var entries: [Entry] = []
    public let collection = RouteCollection(context: Context.self)

    init() {}

    mutating func add(
        _ method: HTTPRequest.Method, _ path: String,
        _ handler: @escaping @Sendable (Request, Context) async throws -> Response
    ) {
        collection.on(RouterPath(path), method: method, use: handler)
        entries.append(Entry(method: method.rawValue, path: path))
    }
}

/// A group of routes: it registers them on a table, which becomes its route collection.
protocol Controller {
    func register(on table: inout RouteTable<SkyportRequestContext>)
}

extension Controller {
    /// This controller's routes as a collection, and their table entries.
    var endpoints: RouteTable<SkyportRequestContext> {
        var table = RouteTable<SkyportRequestContext>()
        register(on: &table)
        return table
    }
}

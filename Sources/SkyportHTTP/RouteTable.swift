import HTTPTypes
import Hummingbird
import NIOCore

/// Registers routes and remembers them, so that a test can hold the served OpenAPI document
/// against the routes that really exist.
public struct RouteTable<Context: RequestContext> {
    /// One registered route: `GET /facilities/{id}`.
    public struct Entry: Hashable, Sendable, CustomStringConvertible {
        public var method: String
        public var path: String
        public var description: String { "\(method) \(path)" }
    }

    public private(set) var entries: [Entry] = []
    let router: Router<Context>

    init(router: Router<Context>) { self.router = router }

    mutating func add(
        _ method: HTTPRequest.Method, _ path: String,
        _ handler: @escaping @Sendable (Request, Context) async throws -> Response
    ) {
        router.on(RouterPath(path), method: method, use: handler)
        entries.append(Entry(method: method.rawValue, path: path))
    }
}

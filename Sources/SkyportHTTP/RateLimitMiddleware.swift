import Hummingbird
import NIOCore
import SkyportCore
import Synchronization

/// The per-client token buckets (`RateLimitTable`) behind a lock, with the clock that drives them (injected in
/// tests).
public final class RateLimiter: Sendable {
    private let table: Mutex<RateLimitTable>
    private let now: @Sendable () -> Duration
    public let limit: RateLimit

    /// `now`: time since any fixed origin (by default the continuous clock since the limiter was made).
    public init(_ limit: RateLimit, maxClients: Int = 100_000, now: (@Sendable () -> Duration)? = nil) {
        self.limit = limit
        self.table = Mutex(RateLimitTable(limit: limit, maxClients: maxClients))
        if let now {
            self.now = now
        } else {
            let origin = ContinuousClock.now
            self.now = { ContinuousClock.now - origin }
        }
    }

    public func take(_ client: String) -> RateDecision {
        let t = now()
        return table.withLock { $0.take(client, now: t) }
    }

    /// Clients with a bucket now (bounded by `maxClients`).
    public var clientCount: Int { table.withLock { $0.clientCount } }
}

/// Answers 429 with `Retry-After` when a client address sends writes (`POST`, `PUT`, `PATCH`, `DELETE`: asking for
/// offers, creating UWS jobs, accepting, rejecting or cancelling sessions, and every alias of them) faster than the
/// rate limit allows. Reads are not limited, nor are operators (a caller whose bearer token is an operator's); it
/// runs after `AuthenticationMiddleware`.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = SkyportRequestContext
    let limiter: RateLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !limiter.limit.isOff, Self.isLimited(request.method), !context.caller.isOperator else {
            return try await next(request, context)
        }
        let decision = limiter.take(Self.clientKey(context.remoteAddress))
        if let seconds = decision.retryAfterSeconds { throw APIError.rateLimited(retryAfter: seconds) }
        return try await next(request, context)
    }

    static func isLimited(_ method: HTTPRequest.Method) -> Bool {
        method == .post || method == .put || method == .patch || method == .delete
    }

    /// The bucket's key: the peer's IP address; an IPv6 address by its /64 network (what one host is usually given).
    static func clientKey(_ address: SocketAddress?) -> String {
        guard let address, let ip = address.ipAddress else { return "unknown" }
        guard case .v6(let v6) = address else { return ip }
        let all = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        // An IPv4 client of a dual-stack socket (::ffff:a.b.c.d) is its own client.
        if all.count == 16, all.prefix(10).allSatisfy({ $0 == 0 }), all[10] == 0xff, all[11] == 0xff { return ip }
        let bytes = all.prefix(8)
        return "v6:" + bytes.map { String($0, radix: 16) }.joined(separator: ":") + "::/64"
    }
}

extension Caller {
    var isOperator: Bool {
        if case .operator = self { return true }
        return false
    }
}

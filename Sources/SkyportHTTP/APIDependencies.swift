import Foundation
import Prometheus
import SkyportBroker
import SkyportCore

/// What the HTTP edge needs, handed in by the composition root: the use cases, and what only HTTP uses.
public struct APIDependencies: Sendable {
    /// The use cases every route calls.
    public var broker: Broker
    public var metrics: PrometheusCollectorRegistry
    public var version: String
    /// The largest request body accepted, in bytes (413 beyond it).
    public var maxBodyBytes: Int

    /// The per-client limit on writes by non-operators (nil: none).
    public var rateLimiter: RateLimiter?
    /// How many offer requests run at once, and when more are refused (nil: no limit).
    public var admission: OfferAdmission?

    /// How callers are known (`SKYPORT_AUTH`), and what checks their tokens in `oidc` mode.
    public var auth: AuthMode = .open
    public var tokenVerifier: (any TokenVerifying)?
    /// Which groups make a signed-in caller an operator or an admin.
    public var roles = RoleMapping()
    /// Run before `/metrics` is written: sets the gauges read from the store and the health board.
    public var beforeMetrics: @Sendable () async -> Void = {}
    /// The fraction of requests traced when their caller sends no `traceparent` (those that do are continued); nil:
    /// tracing is off.
    public var traceSample: Double?
    /// This process among the replicas sharing a store (`/health`).
    public var replica = ""

    public init(
        broker: Broker, metrics: PrometheusCollectorRegistry, version: String, maxBodyBytes: Int = 1 << 20, rateLimiter: RateLimiter? = nil
    ) {
        self.broker = broker
        self.metrics = metrics
        self.version = version
        self.maxBodyBytes = maxBodyBytes
        self.rateLimiter = rateLimiter
    }

    var now: Date { broker.now() }

    /// Runs an offer request's negotiation when `admission` lets it start (at once without one). Not while facilities
    /// include other brokers: their requests wait on those brokers (up to the federation deadline), which a limit on
    /// requests running at once would count as this broker's work.
    func admitted<T>(_ body: () async throws -> T) async throws -> T {
        guard let admission, try await !broker.store.matchIndex().hasBrokers else { return try await body() }
        return try await admission.admitted(body)
    }
}

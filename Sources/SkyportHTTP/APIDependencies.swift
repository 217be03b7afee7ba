import Foundation
import Prometheus
import SkyportCore

/// What the HTTP edge needs from the rest of Skyport, handed in by the composition root.
public struct APIDependencies: Sendable {
    public var store: any BrokerStore
    public var metrics: PrometheusCollectorRegistry
    public var version: String
    /// The largest request body accepted, in bytes (413 beyond it).
    public var maxBodyBytes: Int
    /// How offers are negotiated (how many, how long they live, defaults).
    public var planner: OfferPlanner.Settings
    /// The clock; tests pass a fixed one.
    public var now: @Sendable () -> Date

    public init(
        store: any BrokerStore, metrics: PrometheusCollectorRegistry, version: String,
        maxBodyBytes: Int = 1 << 20, planner: OfferPlanner.Settings = .init(), now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.planner = planner
        self.store = store
        self.metrics = metrics
        self.version = version
        self.maxBodyBytes = maxBodyBytes
        self.now = now
    }
}

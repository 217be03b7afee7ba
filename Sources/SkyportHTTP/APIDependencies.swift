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
    /// The clock; tests pass a fixed one.
    public var now: @Sendable () -> Date

    public init(
        store: any BrokerStore, metrics: PrometheusCollectorRegistry, version: String,
        maxBodyBytes: Int = 1 << 20, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.metrics = metrics
        self.version = version
        self.maxBodyBytes = maxBodyBytes
        self.now = now
    }
}

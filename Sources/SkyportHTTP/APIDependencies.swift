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

    public init(broker: Broker, metrics: PrometheusCollectorRegistry, version: String, maxBodyBytes: Int = 1 << 20) {
        self.broker = broker
        self.metrics = metrics
        self.version = version
        self.maxBodyBytes = maxBodyBytes
    }

    var now: Date { broker.now() }
}

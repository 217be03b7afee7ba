import Foundation

/// Everything Skyport keeps. Implementations: SQLite (the embedded default), in-memory (tests);
/// each passes the same contract test suite.
public protocol BrokerStore: FacilityStore, OperatorStore, OfferStore, ForwardingStore, UWSJobStore, RegistrySourceStore, RetentionStore, AccountStore, StatisticsStore {
    /// `sqlite`, `memory`, ...
    var kind: String { get }
    /// Rung after every committed write of a session (its id) or a UWS job (`ChangeFeed.key`), so that long polls
    /// wake on the write.
    var changes: ChangeFeed { get }
    /// Told of every session phase change the store writes (`TelemetryEvent.phaseChanged`), whoever wrote it.
    var telemetry: TelemetryRelay { get }
    /// Answers when the store is reachable and writable; throws otherwise.
    func ping() async throws
}

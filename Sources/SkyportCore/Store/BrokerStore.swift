import Foundation

/// Everything Skyport keeps. Implementations: SQLite (the embedded default), in-memory (tests);
/// each passes the same contract test suite.
public protocol BrokerStore: FacilityStore, OperatorStore, OfferStore, ForwardingStore, UWSJobStore, RegistrySourceStore {
    /// `sqlite`, `memory`, ...
    var kind: String { get }
    /// Answers when the store is reachable and writable; throws otherwise.
    func ping() async throws
}

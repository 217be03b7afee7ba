import Foundation
import Synchronization

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
    /// Rung with what other processes sharing the store announced (PostgreSQL replicas); never by a store only one
    /// process uses.
    var wakeups: StoreWakeups { get }
    /// Answers when the store is reachable and writable; throws otherwise.
    func ping() async throws
    /// Whether `owner` takes the turn of the periodic task `name` now: among all processes sharing the store, one per
    /// `every`. A store only one process uses always says yes.
    func claimTurn(_ name: String, every: Duration, owner: String, now: Date) async throws -> Bool
    /// Closes connections (a store with none does nothing).
    func close() async
}

extension BrokerStore {
    public func claimTurn(_ name: String, every: Duration, owner: String, now: Date) async throws -> Bool { true }
    public func close() async {}
}

/// What another process announced through the store (PostgreSQL replicas: `LISTEN`/`NOTIFY`), rung into the signals
/// the composition root connects. A single-process store never rings it: its writes ring the signals directly.
public final class StoreWakeups: Sendable {
    public enum Wakeup: Sendable { case work, registrySources }
    private let signals = Mutex<[Wakeup: WorkSignal]>([:])
    public init() {}
    public func connect(_ wakeup: Wakeup, to signal: WorkSignal) { signals.withLock { $0[wakeup] = signal } }
    public func ring(_ wakeup: Wakeup) { signals.withLock { $0[wakeup] }?.ring() }
}


/// Who runs a periodic task now when several processes share a store (replicas): `take` says whether this one takes
/// the turn of the task `name` at `now`, which one process gets per `every`. A process alone always does.
public struct Turns: Sendable {
    public let take: @Sendable (_ name: String, _ every: Duration, _ now: Date) async -> Bool

    public init(_ take: @escaping @Sendable (_ name: String, _ every: Duration, _ now: Date) async -> Bool) { self.take = take }

    public static let always = Turns { _, _, _ in true }

    /// Turns taken through the store as `owner` (a store that cannot be reached gives no turn).
    public static func through(_ store: any BrokerStore, owner: String) -> Turns {
        Turns { name, every, now in (try? await store.claimTurn(name, every: every, owner: owner, now: now)) ?? false }
    }
}

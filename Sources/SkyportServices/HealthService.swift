import Foundation
import Logging
import ServiceLifecycle
import SkyportCore

/// Probes every active facility's first endpoint periodically and publishes what it finds on a `HealthBoardBox`,
/// which matching reads: an unavailable facility is not offered, and comes back by itself once a check passes.
///
/// Like the mybinder.org federation redirector: a healthy facility is re-checked every `period` ± `jitter`
/// (per facility, so checks spread out), an unavailable one every `failedPeriod`. At most `concurrency` probes
/// run at once. The board lives in memory only: after a restart every facility is unprobed (and so offered, with
/// no warning) until its first check.
public struct HealthService: Service {
    public struct Settings: Sendable {
        /// Between two checks of a healthy facility.
        public var period: Duration = .seconds(60)
        /// The fraction of `period` a healthy facility's next check is moved by, at random, either way (0.1: ±10 %).
        public var jitter = 0.1
        /// Between two checks of an unavailable facility.
        public var failedPeriod: Duration = .seconds(30)
        /// Probes at once.
        public var concurrency = 16
        /// Longest pause between two looks at the facility list (new facilities are probed after at most this).
        public var tick: Duration = .seconds(5)
        /// A passed check older than this is stale (a warning when matching); nil: three periods.
        public var staleAfter: Duration?
        /// BinderHubs held to their prime's `/versions` (a member that differs is unavailable); nil: never compared.
        public var federation: BinderFederation?

        public init() {}
    }

    let store: any FacilityStore
    let board: HealthBoardBox
    let probe: @Sendable (Facility) async -> HealthProbeResult
    let settings: Settings
    let logger: Logger
    let now: @Sendable () -> Date
    /// Replicas sharing a store take turns: each facility is probed by one of them per period, which publishes what it
    /// found through the store; the others read it onto their boards.
    let turns: Turns
    /// Told of every change of a facility's verdict (the composition root records it as the facility's health history).
    public var onTransition: (@Sendable (HealthTransition) -> Void)?

    /// `probe` checks one facility (the composition root passes `HealthProbe.probe(_:)`).
    public init(
        store: any FacilityStore, board: HealthBoardBox, settings: Settings = .init(), logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }, turns: Turns = .always,
        probe: @escaping @Sendable (Facility) async -> HealthProbeResult
    ) {
        self.store = store
        self.board = board
        self.probe = probe
        self.settings = settings
        self.logger = logger
        self.now = now
        self.turns = turns
    }

    public func run() async throws {
        let stale = Self.seconds(settings.staleAfter ?? settings.period * 3)
        board.update { board in
            board.staleAfter = stale
            board.federation = settings.federation
        }
        var due: [String: Date] = [:]
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await round(&due)
            let start = now()
            let next = due.values.min().map { $0.timeIntervalSince(start) } ?? Self.seconds(settings.tick)
            let pause = min(max(next, 0.01), Self.seconds(settings.tick))
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int64(pause * 1000))) }
        }
    }

    /// One round: probes the active facilities whose check is due, records the results and schedules the next ones.
    func round(_ due: inout [String: Date]) async {
        let facilities: [Facility]
        do {
            facilities = try await store.facilities(FacilityQuery(status: .active))
        } catch {
            logger.error("reading facilities for health checks failed", metadata: ["error": .string(String(describing: error))])
            return
        }
        let keys = Set(facilities.map(\.id.key))
        // What other replicas found, newer than what this one has.
        let shared = (try? await store.sharedHealth()) ?? nil
        board.update { board in
            for (key, health) in shared ?? [:] where keys.contains(key) && (board.entries[key]?.checked ?? .distantPast) < health.checked {
                board.entries[key] = health
            }
            board.retain(only: keys)
        }
        due = due.filter { keys.contains($0.key) }
        let start = now()
        var todo: [Facility] = []
        for facility in facilities where due[facility.id.key].map({ $0 <= start }) ?? true {
            let last = board.board[facility.id]
            let interval = last?.status == .unavailable ? settings.failedPeriod : settings.period
            if await turns.take("health " + facility.id.key, interval * 0.9, start) {
                todo.append(facility)
            } else {
                // Another replica checks it this period: look again when its check should be on the board.
                due[facility.id.key] = min(
                    (last?.checked ?? start).addingTimeInterval(Self.seconds(interval)), start.addingTimeInterval(Self.seconds(interval)))
                    .addingTimeInterval(Self.seconds(settings.tick))
            }
        }
        guard !todo.isEmpty else { return }

        let results = await withTaskGroup(of: (Facility, HealthProbeResult).self) { group in
            var results: [(Facility, HealthProbeResult)] = []
            var pending = todo[...]
            for _ in 0..<min(max(settings.concurrency, 1), pending.count) {
                let f = pending.removeFirst()
                group.addTask { (f, await probe(f)) }
            }
            for await result in group {
                results.append(result)
                if let f = pending.popFirst() { group.addTask { (f, await probe(f)) } }
            }
            return results
        }
        for (facility, result) in results {
            let checked = now()
            let transition = board.update { $0.record(result, for: facility.id, at: checked) }
            if shared != nil, let health = board.board[facility.id] {
                do { try await store.publishHealth(health, of: facility.id) } catch {
                    logger.warning("publishing a health check failed", metadata: ["facility": .string(facility.id.rawValue), "error": .string(String(describing: error))])
                }
            }
            due[facility.id.key] = checked.addingTimeInterval(result.healthy ? jittered(settings.period) : Self.seconds(settings.failedPeriod))
            if let transition {
                log(transition)
                onTransition?(transition)
            }
        }
    }

    func jittered(_ period: Duration) -> TimeInterval {
        let p = Self.seconds(period)
        let j = max(0, min(settings.jitter, 1))
        return j > 0 ? p * Double.random(in: (1 - j)...(1 + j)) : p
    }

    func log(_ t: HealthTransition) {
        var metadata: Logger.Metadata = ["facility": .string(t.facility.rawValue)]
        if let reason = t.to.reason { metadata["reason"] = .string(reason) }
        switch (t.from, t.to.status) {
        case (_, .unavailable):
            logger.notice("facility unavailable", metadata: metadata)
        case (.unavailable, .healthy):
            logger.notice("facility available again", metadata: metadata)
        case (_, .healthy):
            logger.debug("facility healthy", metadata: metadata)
        }
    }

    static func seconds(_ d: Duration) -> TimeInterval {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

import Foundation
import Logging
import ServiceLifecycle
import SkyportCore

/// Deletes what is over (`RetentionPolicy`: offer sets that never became a job, finished sessions, UWS jobs past
/// their destruction time) every `interval`, in batches of `policy.batch`, then gives freed space back where the
/// store can. Time is `now` (the clock every service is given); the pause between passes sleeps on `clock`.
public struct RetentionService: Service {
    let store: any RetentionStore
    let policy: RetentionPolicy
    let interval: Duration
    let logger: Logger
    let now: @Sendable () -> Date
    let clock: any Clock<Duration>
    /// Told after every pass (tests wait for it instead of for time).
    let onPass: @Sendable (RetentionSweep) -> Void
    /// Replicas sharing a store take turns: one pass per interval across all of them.
    let turns: Turns

    /// Most pages an incremental vacuum gives back after one pass (4 MiB of 4 KiB pages).
    static let reclaimPages = 1_024

    public init(
        store: any RetentionStore, policy: RetentionPolicy, interval: Duration, logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }, clock: any Clock<Duration> = ContinuousClock(),
        onPass: @escaping @Sendable (RetentionSweep) -> Void = { _ in }, turns: Turns = .always
    ) {
        self.turns = turns
        self.store = store
        self.policy = policy
        self.interval = interval
        self.logger = logger
        self.now = now
        self.clock = clock
        self.onPass = onPass
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if await turns.take("retention", interval * 0.9, now()) {
                await passLogged()
            }
            let clock = clock
            let interval = interval
            try? await cancelWhenGracefulShutdown { try await clock.sleep(for: interval) }
        }
    }

    /// One pass, logged and reported (`onPass`) whatever came of it.
    private func passLogged() async {
        do {
            let deleted = try await pass()
            if !deleted.isEmpty {
                logger.info("retention deleted", metadata: [
                    "offersets": .stringConvertible(deleted.offerSets), "sessions": .stringConvertible(deleted.sessions),
                    "uwsjobs": .stringConvertible(deleted.uwsJobs), "batches": .stringConvertible(deleted.batches),
                    "accounting": .stringConvertible(deleted.accounting),
                ])
            }
            onPass(deleted)
        } catch {
            logger.error("retention pass failed", metadata: ["error": .string(String(describing: error))])
            onPass(RetentionSweep())
        }
    }

    /// One pass at `now()`: batches until a batch comes back short (or the service is stopping), then reclaims space.
    public func pass() async throws -> RetentionSweep {
        let at = now()
        var total = RetentionSweep()
        while !Task.isCancelled {
            let batch = try await store.purgeUWSJobs(now: at, policy: policy)
            total = total + batch
            if batch.uwsJobs < policy.batch { break }
            await Task.yield()
        }
        while !Task.isCancelled {
            let batch = try await store.purgeOfferSets(now: at, policy: policy)
            total = total + batch
            if batch.offerSets < policy.batch { break }
            // Other writers (new requests) go between two batches.
            await Task.yield()
        }
        while !Task.isCancelled {
            let n = try await store.purgeAccounting(now: at, policy: policy)
            total.accounting += n
            if n < policy.batch { break }
            await Task.yield()
        }
        if !total.isEmpty {
            while !Task.isCancelled, try await store.reclaimSpace(pages: Self.reclaimPages) > 0 { await Task.yield() }
        }
        return total
    }
}

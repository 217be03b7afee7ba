import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import SkyportCore

/// Forwards accepted sessions to their facilities and tracks them to the end.
///
/// Work is claimed from the store with a lease, so two workers (or a worker restarted after a crash) never
/// drive one job twice; all remote I/O happens outside store transactions. Before a job is created the session
/// is marked `submitting`, and the remote URL is recorded the moment the facility answers, before the job is
/// started: after a crash the job is found again (by run id) instead of created twice. Concurrency is bounded
/// by `concurrency`, and tracking blocks on the facility (UWS `WAIT`) instead of polling tightly.
public struct ForwardingService: Service {
    public struct Settings: Sendable {
        /// Sessions driven at once.
        public var concurrency = 64
        /// How long a claim lasts; a crashed worker's sessions are picked up again after it.
        public var lease: Duration = .seconds(60)
        /// Longest blocking wait asked of a facility per status call, in seconds (kept well under the lease).
        public var wait = 20
        /// Pause when there is nothing to do.
        public var idle: Duration = .milliseconds(250)
        /// Consecutive failures to reach a facility after which the session fails.
        public var maxFailures = 8
        public init() {}
    }

    let store: any BrokerStore
    let executors: [EndpointKind: any FacilityExecutor]
    let notifier: (any Notifier)?
    let settings: Settings
    let worker: String
    let logger: Logger
    let now: @Sendable () -> Date
    /// Rung by the API when a session is accepted or cancelled: the idle pause ends at once.
    let work: WorkSignal?

    public init(
        store: any BrokerStore, executors: [EndpointKind: any FacilityExecutor], notifier: (any Notifier)? = nil, settings: Settings = .init(),
        worker: String = "worker-\(UUID().uuidString.prefix(8))", work: WorkSignal? = nil, logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.work = work
        self.store = store
        self.executors = executors
        self.notifier = notifier
        self.settings = settings
        self.worker = worker
        self.logger = logger
        self.now = now
    }

    public func run() async throws {
        let inFlight = InFlight()
        try await withThrowingDiscardingTaskGroup { group in
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let room = settings.concurrency - inFlight.count
                let claimed = room > 0 ? await claimLogged(room) : []
                for session in claimed {
                    inFlight.add(1)
                    group.addTask {
                        await self.drive(session)
                        inFlight.add(-1)
                        self.work?.ring()  // the session (or another) may be claimable again now: no idle pause
                    }
                }
                if claimed.count < room || room == 0 {
                    if let work { await work.wait(upTo: settings.idle) } else { try? await Task.sleep(for: settings.idle) }
                }
            }
        }
    }

    func claimLogged(_ limit: Int) async -> [SessionRecord] {
        do { return try await claim(limit) } catch {
            logger.error("claiming forwarding work failed", metadata: ["error": .string(String(describing: error))])
            return []
        }
    }

    func claim(_ limit: Int) async throws -> [SessionRecord] {
        let t = now()
        return try await store.claimWork(worker: worker, now: t, until: t.addingTimeInterval(settings.lease.seconds), limit: limit)
    }

    /// One step for one session: forward it, or wait for news of it, or abort it; then give the lease back.
    func drive(_ session: SessionRecord) async {
        do {
            let holdOff = try await step(session)
            await release(session, until: holdOff.map { now().addingTimeInterval($0.seconds) })
        } catch let refusal as FacilityRefusal {
            logger.info("facility refused the session", metadata: ["session": .string(session.id.uuidString), "reason": .string(refusal.message)])
            let stored = try? await update(session) { s in
                s.remote?.submitting = false
                s.remote?.error = refusal.message
                s.remote?.progress = nil
                if s.phase == .cancelled {
                    s.remote?.remotePhase = UWSPhase.aborted.rawValue
                } else {
                    s.phase = .failed
                    s.message = refusal.message
                }
            }
            await notifyIfEnded(stored ?? nil)
            await release(session, until: nil)
        } catch where Task.isCancelled {
            await release(session, until: nil)
        } catch {
            let failures = await recordFailure(session, error)
            // Back off before the next try: 1, 2, 4 ... 60 seconds.
            let delay = min(60, 1 << min(failures - 1, 6))
            await release(session, until: now().addingTimeInterval(TimeInterval(delay)))
        }
    }

    /// Gives a claimed session back, even while shutting down (the write runs outside the cancelled task), so that
    /// the next start or another worker resumes it at once instead of after the lease. (A crash cannot; then the
    /// lease runs out.)
    func release(_ session: SessionRecord, until: Date?) async {
        let store = store, id = session.id, worker = worker
        await Task { try? await store.release(id, worker: worker, until: until) }.value
    }


    /// Does one step; returns how long to leave the session alone before the next (nil: at once).
    func step(_ session: SessionRecord) async throws -> Duration? {
        if session.phase.isFinal, !session.needsRemoteWork {
            await notifyIfEnded(session)
            return nil
        }
        guard let facility = try await store.facility(session.facility) else {
            _ = try await update(session) { $0.phase = .failed; $0.message = "facility \(session.facility) is no longer registered" }
            return nil
        }
        guard let (endpoint, executor) = pickExecutor(session, facility) else {
            _ = try await update(session) {
                $0.message = "waiting: Skyport cannot yet forward to \(facility.endpoints.map(\.kind.rawValue).joined(separator: ", ")) endpoints"
            }
            return .seconds(60)
        }
        var remote = session.remote ?? RemoteJob(endpoint: endpoint)

        if session.phase.isFinal, remote.offer != nil, remote.url == nil, !remote.submitting {
            // Another broker's offer, turned down here: turn it down there too.
            let status = try await executor.abort(remote, for: session)
            _ = try await update(session) { $0.remote?.remotePhase = status.remotePhase }
            logger.info("remote offer rejected", metadata: ["session": .string(session.id.uuidString), "offer": .string(remote.offer ?? "")])
            return nil
        }

        if session.phase == .cancelled {
            if remote.url == nil, remote.submitting { remote.url = try await executor.find(session, at: endpoint) }
            guard let url = remote.url else {
                _ = try await update(session) { $0.remote?.submitting = false; $0.remote?.remotePhase = UWSPhase.aborted.rawValue }
                return nil
            }
            _ = url
            let status = try await executor.abort(remote, for: session)
            let aborted = remote
            let stored = try await update(session) { s in
                s.remote = aborted
                s.remote?.remotePhase = status.remotePhase
                s.remote?.failures = 0
                s.remote?.progress = nil
                if let error = status.error { s.message = error }
            }
            await notifyIfEnded(stored)
            logger.info("forwarded job aborted", metadata: ["session": .string(session.id.uuidString), "job": .string(url)])
            return nil
        }

        if remote.url == nil {
            if remote.submitting, let found = try await executor.find(session, at: endpoint) {
                remote.url = found  // created before a crash: adopt it, never create a second one
            } else {
                remote.submitting = true
                let marked = remote
                guard try await update(session, { $0.remote = marked; $0.phase = .preparing }) != nil else { return nil }
                remote.url = try await executor.submit(session, to: endpoint)
            }
            let recorded = remote
            guard try await update(session, { $0.remote = recorded }) != nil else { return nil }
            logger.info("session forwarded", metadata: [
                "session": .string(session.id.uuidString), "facility": .string(facility.id.rawValue), "job": .string(remote.url ?? ""),
            ])
        }
        guard remote.url != nil else { return nil }
        let status = remote.remotePhase == nil || remote.remotePhase == UWSPhase.pending.rawValue
            ? try await executor.start(remote, for: session)
            : try await executor.status(remote, for: session, wait: settings.wait)
        // Nothing new (a WAIT that ran out): leave the stored session alone, so that thousands of quiet jobs cost no writes.
        if status.remotePhase == remote.remotePhase, status.phase == session.phase, status.results == remote.results,
           status.error == remote.error, status.progress == remote.progress, remote.failures == 0,
           status.access == nil || status.access == remote.access {
            return nil
        }
        let tracked = remote
        let stored = try await update(session) { s in
            s.remote = tracked
            s.remote?.remotePhase = status.remotePhase
            s.remote?.results = status.results
            s.remote?.error = status.error
            s.remote?.progress = status.progress
            if let access = status.access {
                s.remote?.access = access
                s.remote?.sealedToken = status.sealedToken
            }
            s.remote?.failures = 0
            s.remote?.updated = now()
            s.phase = status.phase
            switch status.phase {
            case .failed: s.message = status.error ?? "the facility reported \(status.remotePhase)"
            case .completed, .expired: s.message = status.error ?? "completed at \(facility.name)"
            case .available: s.message = status.error ?? "ready at \(facility.name)"
            default: if let progress = status.progress { s.message = progress }
            }
        }
        await notifyIfAvailable(stored)
        await notifyIfEnded(stored)
        return nil
    }

    /// Tells an ended session's callback, once; a callback that cannot be reached after the notifier's bounded
    /// retries is given up (and logged), so that it never holds the session.
    func notifyIfEnded(_ session: SessionRecord?) async {
        guard let session, session.phase.isFinal, session.awaitsNotice else { return }
        await notify(session) { $0.notified = true }
    }

    /// Tells the callback, once, that the user can go in (a notebook server is up); the notice's session link
    /// gives the connector.
    func notifyIfAvailable(_ session: SessionRecord?) async {
        guard let session, session.phase == .available, session.notifiedAvailable != true else { return }
        await notify(session) { $0.notifiedAvailable = true }
    }

    /// POSTs the session's notice to its callback and records that it was sent (`mark`), whether it arrived or not:
    /// a callback that cannot be reached after the notifier's bounded retries is given up (and logged).
    func notify(_ session: SessionRecord, mark: @escaping @Sendable (inout SessionRecord) -> Void) async {
        guard let url = session.callback, let notifier else { return }
        do {
            try await notifier.notify(url, SessionNotice(session))
            logger.info("callback notified", metadata: ["session": .string(session.id.uuidString), "phase": .string(session.phase.rawValue)])
        } catch {
            logger.warning("callback failed; giving up", metadata: [
                "session": .string(session.id.uuidString), "error": .string(String(describing: error).prefix(300).description),
            ])
        }
        _ = try? await update(session, mark)
    }

    func pickExecutor(_ session: SessionRecord, _ facility: Facility) -> (Endpoint, any FacilityExecutor)? {
        if let endpoint = session.remote?.endpoint, let executor = executors[endpoint.kind] { return (endpoint, executor) }
        for endpoint in facility.endpoints { if let executor = executors[endpoint.kind] { return (endpoint, executor) } }
        return nil
    }

    func update(_ session: SessionRecord, _ change: @escaping @Sendable (inout SessionRecord) -> Void) async throws -> SessionRecord? {
        try await store.updateClaimed(session.id, worker: worker, now: now(), change: change)
    }

    /// A facility that cannot be reached or answers nonsense: count it, and fail the session after too many in a row.
    @discardableResult
    func recordFailure(_ session: SessionRecord, _ error: any Error) async -> Int {
        let text = String(describing: error).prefix(500).description
        let limit = settings.maxFailures
        logger.warning("forwarding step failed", metadata: ["session": .string(session.id.uuidString), "error": .string(text)])
        let stored = try? await update(session) { s in
            let failures = (s.remote?.failures ?? 0) + 1
            s.remote?.failures = failures
            s.remote?.error = text
            if failures >= limit || s.remote == nil {
                s.phase = s.phase == .cancelled ? .cancelled : .failed
                s.message = "the facility could not be reached or answered with an error: \(text)"
                if s.phase == .cancelled { s.remote?.remotePhase = UWSPhase.aborted.rawValue }
            }
        }
        return (stored ?? nil)?.remote?.failures ?? 1
    }
}

/// How many sessions are being driven right now.
final class InFlight: Sendable {
    private let value = Mutex(0)
    var count: Int { value.withLock { $0 } }
    func add(_ n: Int) { value.withLock { $0 += n } }
}

extension Duration {
    var seconds: TimeInterval { TimeInterval(components.seconds) + TimeInterval(components.attoseconds) / 1e18 }
}

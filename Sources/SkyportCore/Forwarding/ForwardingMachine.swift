import Foundation

/// What the forwarding service does next for a session.
public enum ForwardingAction: Sendable, Hashable {
    /// Record that the creation is being sent, then create the remote job (accept another broker's offer).
    case submit
    /// Look for a job created before a crash (by run id): the creation was sent and its answer never recorded.
    case findByRunID
    /// Start a created job (one the facility has not started: no phase yet, or UWS `PENDING`).
    case start
    /// Ask where the job stands, waiting up to `wait` seconds for a change where the facility can.
    case track(wait: Int)
    /// Abort the remote job of a session the client cancelled.
    case abort
    /// Reject, at the other broker, an offer the client turned down here.
    case rejectRemoteOffer
    /// Tell the session's callback (once per kind of notice).
    case notify(Notice)
    /// Nothing to do: the session is not forwarding work (`needsWork` is false).
    case done

    public enum Notice: String, Sendable, Hashable, CaseIterable {
        /// The session has ended.
        case ended
        /// The user can go in (a notebook server is up).
        case available
    }

    /// Whether the action talks to the facility (it needs the facility and an executor for one of its endpoints).
    public var needsExecutor: Bool {
        switch self {
        case .submit, .findByRunID, .start, .track, .abort, .rejectRemoteOffer: return true
        case .notify, .done: return false
        }
    }

    /// Whether the action asks the facility where the job stands: one such round per turn, after which the session
    /// is given back (and claimed again, renewing the lease).
    public var followsJob: Bool {
        switch self {
        case .start, .track, .abort, .rejectRemoteOffer: return true
        case .submit, .findByRunID, .notify, .done: return false
        }
    }
}

/// What came of an action.
public enum ForwardingEvent: Sendable, Hashable {
    /// The creation is about to be sent to `endpoint` (recorded before it is sent).
    case submitting(Endpoint)
    /// The facility created the job.
    case submitted(url: String)
    /// The lookup by run id found the job (or, nil, found none).
    case found(url: String?)
    /// The facility's answer to a start or a status call; `facility` names it in the session's message.
    case status(RemoteStatus, facility: String)
    /// The facility's answer to an abort.
    case aborted(RemoteStatus)
    /// The other broker's answer to the rejection of its offer.
    case offerRejected(RemoteStatus)
    /// The facility said no in a way retrying cannot change (a `FacilityRefusal`).
    case refused(String)
    /// The facility could not be reached or answered nonsense (counted; after `maxFailures` the session fails).
    case unreachable(String)
    /// The session's facility is no longer registered.
    case facilityGone
    /// Skyport has no executor for any of the facility's endpoint kinds.
    case noExecutor(kinds: [EndpointKind])
    /// The callback was sent this notice (or given up on after the notifier's bounded retries).
    case notified(ForwardingAction.Notice)
}

/// Forwarding as a pure state machine: from a session's stored state to the next action (`next`), and from an
/// action's outcome to the session's next stored state (`apply`). `ForwardingService` carries the actions out.
///
/// The rules that live here, once:
/// - which sessions a forwarding worker has work for (`needsWork`, used by both stores to claim);
/// - a client's `CANCELLED` (any ended phase) is never overwritten by a worker (`endedPhaseWins`, used by both
///   stores' `updateClaimed` through `workerChange`);
/// - a callback is told once when the session ends and once when it becomes available (`next` gives `notify`).
public struct ForwardingMachine: Sendable {
    /// Longest blocking wait asked of a facility per status call, in seconds.
    public var wait: Int
    /// Consecutive failures to reach a facility after which the session fails.
    public var maxFailures: Int

    public init(wait: Int = 20, maxFailures: Int = 8) {
        self.wait = wait
        self.maxFailures = maxFailures
    }

    // MARK: - The next action

    /// What to do next for `session`.
    public func next(_ session: SessionRecord) -> ForwardingAction {
        let remote = session.remote
        switch session.phase {
        case .accepted, .waiting, .preparing, .available, .running:
            if session.phase == .available, session.callback != nil, session.notifiedAvailable != true { return .notify(.available) }
            guard let remote else { return .submit }
            switch remote.stage {
            case .notSubmitted: return .submit
            case .submitting: return .findByRunID
            case .created: return remote.phase == nil || remote.phase == .uws(.pending) ? .start : .track(wait: wait)
            }
        case .cancelled, .rejected, .completed, .failed, .expired:
            if Self.needsRemoteWork(session), let remote {
                if remote.isOpenOffer { return .rejectRemoteOffer }
                return remote.stage == .submitting ? .findByRunID : .abort
            }
            if session.phase != .rejected, Self.awaitsNotice(session) { return .notify(.ended) }
            return .done
        case .initial, .offered, .releasing:
            return .done
        }
    }

    /// Whether a forwarding worker has something to do for this session: forward it, track it, abort or reject its
    /// remote job, or tell its callback. The stores claim exactly these.
    public static func needsWork(_ session: SessionRecord) -> Bool {
        ForwardingMachine().next(session) != .done
    }

    /// An ended session whose remote job may still be running (it must be aborted: the client cancelled it), or
    /// another broker's offer the client turned down (or cancelled) here that is still open there (it must be
    /// rejected there).
    public static func needsRemoteWork(_ session: SessionRecord) -> Bool {
        guard let remote = session.remote else { return false }
        if remote.isOpenOffer {
            return (session.phase == .rejected || session.phase == .cancelled) && remote.phase == .broker(.offered)
        }
        guard session.phase == .cancelled, remote.stage != .notSubmitted else { return false }
        return !(remote.phase?.isFinal ?? false)
    }

    /// A session whose callback has not been told that it ended yet: one with a callback that was forwarded (not
    /// another broker's offer that was never accepted).
    public static func awaitsNotice(_ session: SessionRecord) -> Bool {
        guard session.callback != nil, session.notified != true, let remote = session.remote else { return false }
        return !remote.isOpenOffer
    }

    // MARK: - Outcomes

    /// The session after `event`, the outcome of the action `next` gave for it. An answer with nothing new (a
    /// status wait that ran out) leaves it unchanged, so that thousands of quiet jobs cost no writes.
    public func apply(_ event: ForwardingEvent, to session: SessionRecord, now: Date) -> SessionRecord {
        var s = session
        switch event {
        case .submitting(let endpoint):
            var remote = s.remote ?? RemoteJob(endpoint: endpoint)
            remote.stage = .submitting
            s.remote = remote
            s.phase = .preparing

        case .submitted(let url):
            s.remote?.stage = .created(url: url)

        case .found(let url?):
            s.remote?.stage = .created(url: url)

        case .found(nil):
            s.remote?.stage = .notSubmitted
            if s.phase.isFinal { Self.abandonRemote(&s) }

        case .status(let status, let facility):
            guard var remote = s.remote else { return session }
            if status.remotePhase == remote.phase, status.phase == s.phase, status.results == remote.results,
               status.error == remote.error, status.progress == remote.progress, remote.failures == 0,
               status.access == nil || status.access == remote.access {
                return session
            }
            remote.phase = status.remotePhase
            remote.results = status.results
            remote.error = status.error
            remote.progress = status.progress
            if let access = status.access {
                remote.access = access
                remote.sealedToken = status.sealedToken
            }
            remote.failures = 0
            remote.updated = now
            s.remote = remote
            s.phase = status.phase
            switch status.phase {
            case .failed: s.message = status.error ?? "the facility reported \(status.remotePhase.word)"
            case .completed, .expired: s.message = status.error ?? "completed at \(facility)"
            case .available: s.message = status.error ?? "ready at \(facility)"
            default: if let progress = status.progress { s.message = progress }
            }

        case .aborted(let status):
            s.remote?.phase = status.remotePhase
            s.remote?.failures = 0
            s.remote?.progress = nil
            if let error = status.error { s.message = error }

        case .offerRejected(let status):
            s.remote?.phase = status.remotePhase

        case .refused(let message):
            if s.remote?.stage == .submitting { s.remote?.stage = .notSubmitted }
            s.remote?.error = message
            s.remote?.progress = nil
            if s.phase.isFinal {
                Self.abandonRemote(&s)
            } else {
                s.phase = .failed
                s.message = message
            }

        case .unreachable(let text):
            let failures = (s.remote?.failures ?? 0) + 1
            s.remote?.failures = failures
            s.remote?.error = text
            if failures >= maxFailures || s.remote == nil {
                s.message = "the facility could not be reached or answered with an error: \(text)"
                if s.phase.isFinal {
                    Self.abandonRemote(&s)
                } else {
                    s.phase = .failed
                }
            }

        case .facilityGone:
            s.message = "facility \(s.facility) is no longer registered"
            if s.phase.isFinal {
                Self.abandonRemote(&s)
            } else {
                s.phase = .failed
            }

        case .noExecutor(let kinds):
            s.message = "waiting: Skyport cannot yet forward to \(kinds.map(\.rawValue).joined(separator: ", ")) endpoints"

        case .notified(.ended):
            s.notified = true

        case .notified(.available):
            s.notifiedAvailable = true
        }
        return Self.endedPhaseWins(before: session, after: s)
    }

    /// Records that Skyport stopped following the remote job of an ended session (it was aborted here, or cannot be).
    static func abandonRemote(_ s: inout SessionRecord) {
        guard let kind = s.remote?.endpoint.kind else { return }
        s.remote?.phase = .abortedHere(kind)
    }

    /// How long to leave the session alone after `event` (recorded as `session`), in seconds; nil: go on at once.
    /// A facility that cannot be reached is backed off 1, 2, 4 ... 60 seconds; one Skyport has no executor for, a minute.
    public func holdOff(after event: ForwardingEvent, _ session: SessionRecord?) -> TimeInterval? {
        switch event {
        case .noExecutor: return 60
        case .unreachable: return Self.backoff(failures: session?.remote?.failures ?? 1)
        default: return nil
        }
    }

    /// The pause after `failures` failures in a row: 1, 2, 4 ... 60 seconds.
    public static func backoff(failures: Int) -> TimeInterval {
        TimeInterval(min(60, 1 << min(max(failures, 1) - 1, 6)))
    }

    // MARK: - A worker's write

    /// A worker never moves a session out of the phase it ended in; above all, a client's `CANCELLED` is never
    /// overwritten (a cancel that lands while the worker talks to the facility wins over the facility's answer).
    /// `after` is what a worker made of `before`; the rest of its change is kept.
    public static func endedPhaseWins(before: SessionRecord, after: SessionRecord) -> SessionRecord {
        guard before.phase.isFinal, after.phase != before.phase else { return after }
        var kept = after
        kept.phase = before.phase
        return kept
    }

    /// A worker's `change` to the stored session, as the stores apply it (`ForwardingStore.updateClaimed`).
    public static func workerChange(_ stored: SessionRecord, _ change: (inout SessionRecord) -> Void) -> SessionRecord {
        var changed = stored
        change(&changed)
        return endedPhaseWins(before: stored, after: changed)
    }
}

extension ForwardingMachine {
    /// What ends the name of a job-list watcher (`watcher(of:)`): the stores free a watched session when its client
    /// changes its phase, which they must not do to a session a worker is talking to the facility about.
    public static let watcherSuffix = "/watch"

    /// The name under which `worker`'s job-list tracker holds the sessions it watches.
    public static func watcher(of worker: String) -> String { worker + watcherSuffix }

    /// Whether a lease holder is a job-list watcher (nothing in flight) rather than a worker.
    public static func isWatcher(_ holder: String) -> Bool { holder.hasSuffix(watcherSuffix) }

    /// Whether `worker` claiming a session last leased to `previous` (whose lease ran out) takes it over from another
    /// worker: one that died, or another replica. Its own job-list tracker's lapsed watch is not, and neither is a
    /// hold-off after a failure (released with the owner cleared, `ForwardingStore.release`).
    public static func isTakeover(from previous: String?, by worker: String) -> Bool {
        guard let previous, previous != holdOff else { return false }
        return previous != worker && previous != watcher(of: worker)
    }

    /// The lease owner of a session released with a hold-off: no worker holds it, none may claim it before then.
    public static let holdOff = "hold-off"
}

extension SessionRecord {
    /// Whether a forwarding worker has something to do for this session (`ForwardingMachine.needsWork`).
    public var needsWork: Bool { ForwardingMachine.needsWork(self) }
}

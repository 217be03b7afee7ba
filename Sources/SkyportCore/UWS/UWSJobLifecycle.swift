import Foundation

/// Why a UWS job refused an action (UWS 1.1: a phase change its phase does not allow is 403).
public enum UWSJobError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `action` (RUN, ABORT, change its execution duration) is not allowed while the job is in `phase`.
    case illegal(job: String, phase: UWSPhase, action: String)

    public var description: String {
        switch self {
        case .illegal(let job, let phase, let action): return "job \(job) is \(phase.rawValue): it cannot \(action)"
        }
    }
}

/// The lifecycle of Skyport's own UWS jobs as a pure state machine: an event applied to a stored job gives the
/// job's next state and what the broker must do next. Runs inside the store's update of the job, so that two
/// clients acting on one job at once see one outcome.
///
///     PENDING --RUN--> QUEUED --negotiated--> (the session's phase)
///        |               |--negotiation failed--> ERROR
///        `--ABORT--> ABORTED <--ABORT--'
public enum UWSJobLifecycle {
    public enum Event: Sendable, Hashable {
        /// `PHASE=RUN`.
        case run
        /// `PHASE=ABORT` (also what destroying a live job does first).
        case abort
        /// Negotiation accepted `session` of `offerSet`, which ends at `quote` after `duration` seconds.
        case negotiated(session: UUID, offerSet: UUID, quote: Date, duration: Int)
        /// Negotiation gave NO or failed: the job goes to ERROR with this account (if it is still being negotiated).
        case negotiationFailed(summary: String, detail: String?, offerSet: UUID?)
        /// A new `EXECUTIONDURATION` (seconds, 0: the broker's default).
        case setExecutionDuration(Int)
        /// A new destruction time (already checked by `destruction(_:now:)`).
        case setDestruction(Date)
    }

    /// What the broker does after an event was stored.
    public enum Action: Sendable, Hashable {
        case none
        /// Negotiate the job's request and accept the best offer.
        case negotiate
        /// Cancel the job's session (an ABORT of a running job, or one that came while it was being negotiated).
        case cancelSession(UUID)
    }

    /// How long a job may stay QUEUED with no session before a reader takes it for one whose broker stopped mid-negotiation.
    public static let negotiationGrace: TimeInterval = 30
    /// How long a job lives unless its owner says otherwise, and the latest destruction Skyport accepts.
    public static let defaultLifetime: TimeInterval = 7 * 86_400
    public static let maxLifetime: TimeInterval = 30 * 86_400

    /// Applies `event` to `job` at `now`. `known` is the job's phase as its reader last saw it (its session's, once
    /// it has one), used to name the phase in a refusal. Throws `UWSJobError.illegal` and leaves `job` unchanged
    /// when the event is not allowed.
    public static func apply(_ event: Event, to job: inout UWSJobRecord, known: UWSPhase, now: Date) throws(UWSJobError) -> Action {
        func illegal(_ action: String) -> UWSJobError {
            .illegal(job: job.id, phase: job.session == nil ? job.phase : known, action: action)
        }
        switch event {
        case .run:
            guard job.phase == .pending, job.session == nil else { throw illegal("RUN") }
            job.phase = .queued
            job.started = now
            return .negotiate
        case .abort:
            if let session = job.session { return .cancelSession(session) }
            guard job.phase == .pending || job.phase == .queued else { throw illegal("ABORT") }
            job.phase = .aborted
            job.ended = now
            return .none
        case .negotiated(let session, let offerSet, let quote, let duration):
            (job.session, job.offerSet, job.quote, job.executionDuration) = (session, offerSet, quote, duration)
            // An ABORT that came while the job was being negotiated wins: the session must not run unseen.
            return job.phase == .aborted ? .cancelSession(session) : .none
        case .negotiationFailed(let summary, let detail, let offerSet):
            guard job.phase == .queued, job.session == nil else { return .none }  // an ABORT or DELETE came first
            (job.phase, job.ended, job.errorSummary, job.errorDetail, job.offerSet) = (.error, now, summary, detail, offerSet)
            return .none
        case .setExecutionDuration(let seconds):
            guard job.phase == .pending, job.session == nil else { throw illegal("change its execution duration") }
            job.executionDuration = seconds
            return .none
        case .setDestruction(let date):
            job.destruction = date
            return .none
        }
    }

    /// Whether a reader should resume the job's negotiation: it has been QUEUED without a session for longer than
    /// the grace (its broker stopped mid-negotiation).
    public static func isStranded(_ job: UWSJobRecord, now: Date) -> Bool {
        guard job.phase == .queued, job.session == nil, let started = job.started else { return false }
        return now.timeIntervalSince(started) > negotiationGrace
    }

    /// The destruction time to keep for a requested one (UWS 1.1 §2.2.3.2: the service may choose another, which the
    /// client reads back): one later than `maxLifetime` from now is brought forward to it, and one that is not at least
    /// `minLifetime` ahead is put off to that.
    public static func destruction(_ requested: Date, now: Date) -> Result<Date, FieldError> {
        .success(max(min(requested, now.addingTimeInterval(maxLifetime)), now.addingTimeInterval(minLifetime)))
    }

    /// The shortest time a job is kept after its destruction time is set: long enough for a client to read what it
    /// made (UWS clients WAIT up to a minute at a time).
    public static let minLifetime: TimeInterval = 3_600
}

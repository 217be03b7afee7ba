import Foundation

/// A job Skyport forwarded to a facility, as it tracks it on the session.
public struct RemoteJob: Sendable, Hashable, Codable {
    /// The endpoint the job was sent to.
    public var endpoint: Endpoint
    /// The remote job's URL, recorded the moment the facility answers the creation (before anything else).
    public var url: String?
    /// Set before the creation request is sent: after a crash, a session with this and no `url`
    /// is looked up at the facility (by run id) before anything is created again.
    public var submitting: Bool
    /// The facility's own phase word (`EXECUTING`, ...).
    public var remotePhase: String?
    public var results: [UWSResult]
    /// The facility's error message, or why forwarding failed.
    public var error: String?
    /// Failed attempts to reach the facility in a row (reset by every answer).
    public var failures: Int
    public var updated: Date?
    /// What the facility is doing right now, in its words (a BinderHub build's last message), while it prepares.
    public var progress: String?
    /// Where the user goes in, once the facility has made it (a notebook server's URL), without any credential.
    public var access: String?
    /// The credential for `access` (a notebook server's token), sealed by the broker's `SecretSealer`; never stored in clear.
    public var sealedToken: String?
    /// For an offer another broker made: its session's URL. Accepting this session accepts it there (and `url`
    /// becomes this); an offer this broker's client turned down is rejected there.
    public var offer: String?

    public init(endpoint: Endpoint) {
        self.endpoint = endpoint
        self.url = nil
        self.submitting = false
        self.remotePhase = nil
        self.results = []
        self.error = nil
        self.failures = 0
        self.updated = nil
    }
}

/// What a facility said about a forwarded job, mapped onto the session's lifecycle.
public struct RemoteStatus: Sendable, Hashable {
    public var phase: SessionPhase
    public var remotePhase: String
    public var results: [UWSResult]
    public var error: String?
    /// The facility's latest progress message, while the job is prepared.
    public var progress: String?
    /// Where the user goes in (set once, when the facility has made it).
    public var access: String?
    /// The sealed credential for `access`.
    public var sealedToken: String?

    public init(
        phase: SessionPhase, remotePhase: String, results: [UWSResult] = [], error: String? = nil,
        progress: String? = nil, access: String? = nil, sealedToken: String? = nil
    ) {
        self.phase = phase
        self.remotePhase = remotePhase
        self.results = results
        self.error = error
        self.progress = progress
        self.access = access
        self.sealedToken = sealedToken
    }

    /// The session phase a UWS phase means. An `ABORTED` job the client cancelled is `CANCELLED`;
    /// one the facility aborted by itself is `FAILED`.
    public static func sessionPhase(for uws: UWSPhase, cancelRequested: Bool = false) -> SessionPhase {
        switch uws {
        case .pending, .queued, .held, .unknown: return .preparing
        case .executing, .suspended: return .running
        case .completed, .archived: return .completed
        case .error: return .failed
        case .aborted: return cancelRequested ? .cancelled : .failed
        }
    }
}

/// Runs accepted sessions at facilities: one adapter per kind of endpoint (UWS, django-uws, BinderHub, broker).
/// Every call may fail with a remote error; the forwarding service decides what to retry. A `FacilityRefusal`
/// is final: the session fails at once with its message.
///
/// `start`, `status` and `abort` are called only for a job whose `url` is set (the job's `endpoint` says where).
public protocol FacilityExecutor: Sendable {
    /// Creates the remote job for a session (not started) and returns its URL.
    func submit(_ session: SessionRecord, to endpoint: Endpoint) async throws -> String
    /// Finds a job this session created before a crash (by run id), if the facility has one.
    func find(_ session: SessionRecord, at endpoint: Endpoint) async throws -> String?
    /// Starts a created job and reports where it stands.
    func start(_ job: RemoteJob, for session: SessionRecord) async throws -> RemoteStatus
    /// Reports where a job stands, blocking up to `wait` seconds for a change from `job.remotePhase` (and
    /// `job.progress`) where the facility can.
    func status(_ job: RemoteJob, for session: SessionRecord, wait: Int) async throws -> RemoteStatus
    /// Aborts a job (or stops what it started).
    func abort(_ job: RemoteJob, for session: SessionRecord) async throws -> RemoteStatus
}

/// A facility (or the staging before it) said no in a way that retrying cannot change: a repository that does
/// not exist, a ref that does not resolve, a build that failed. The session fails with `message`.
public struct FacilityRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Seals and opens small secrets (notebook tokens) kept in the store: authenticated encryption with the broker's key.
public protocol SecretSealer: Sendable {
    func seal(_ secret: String) throws -> String
    /// The secret, or nil when `sealed` was not sealed with this key (or was tampered with).
    func open(_ sealed: String) -> String?
}

/// Sessions claimed by a forwarding worker for a while (a lease), so that two workers never drive one job.
public protocol ForwardingStore: Sendable {
    /// Claims up to `limit` sessions that need forwarding or tracking and whose lease is free or lapsed,
    /// leasing them to `worker` until `until`. Those are accepted sessions, sessions being prepared or running,
    /// and cancelled sessions whose remote job has not ended.
    func claimWork(worker: String, now: Date, until: Date, limit: Int) async throws -> [SessionRecord]
    /// Applies `change` to the stored session in one transaction, if `worker` still holds its lease;
    /// returns the stored result, or nil when the lease was lost. A client's `CANCELLED` is never overwritten.
    func updateClaimed(
        _ id: UUID, worker: String, now: Date, change: @Sendable (inout SessionRecord) -> Void
    ) async throws -> SessionRecord?
    /// Ends a claim: `until` nil frees the session at once; a date keeps others off it until then (a backoff).
    func release(_ id: UUID, worker: String, until: Date?) async throws
}

extension SessionRecord {
    /// Whether a forwarding worker has something to do for this session: forward it, track it, or abort
    /// the remote job of a session the client cancelled.
    public var needsWork: Bool {
        switch phase {
        case .accepted, .waiting, .preparing, .available, .running:
            return true
        case .cancelled:
            return needsRemoteWork || awaitsNotice
        case .rejected:
            return needsRemoteWork
        case .completed, .failed, .expired:
            return awaitsNotice
        default:
            return false
        }
    }

    /// A cancelled session whose remote job may still be running (it must be aborted), or another broker's offer
    /// that the client turned down (or cancelled) here and that is still open there (it must be rejected there).
    public var needsRemoteWork: Bool {
        guard let remote else { return false }
        if remote.url == nil, !remote.submitting, remote.offer != nil {
            return (phase == .rejected || phase == .cancelled) && remote.remotePhase == SessionPhase.offered.rawValue
        }
        guard phase == .cancelled, remote.url != nil || remote.submitting else { return false }
        guard let word = remote.remotePhase else { return true }
        return !(UWSPhase(rawValue: word)?.isFinal ?? SessionPhase(rawValue: word)?.isFinal ?? false)
    }

    /// An ended session whose callback has not been told yet (one that was forwarded: not another broker's offer
    /// that was never accepted).
    public var awaitsNotice: Bool {
        guard callback != nil, notified != true, let remote else { return false }
        return remote.offer == nil || remote.url != nil || remote.submitting
    }
}

/// The notice POSTed to a session's callback URL when it ends.
public struct SessionNotice: Sendable, Hashable, Codable {
    public var session: String
    public var offerset: String
    public var phase: SessionPhase
    public var facility: String
    public var message: String?
    public var results: [UWSResult]

    public init(_ s: SessionRecord) {
        session = s.id.uuidString.lowercased()
        offerset = s.offerSet.uuidString.lowercased()
        phase = s.phase
        facility = s.facility.rawValue
        message = s.message
        results = s.remote?.results ?? []
    }
}

/// Sends end-of-job notices (the adapter POSTs JSON, retrying transient failures a bounded number of times).
public protocol Notifier: Sendable {
    func notify(_ url: String, _ notice: SessionNotice) async throws
}

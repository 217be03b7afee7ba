import Foundation

/// Runs accepted sessions at facilities: one adapter per kind of endpoint (UWS, django-uws, BinderHub, broker).
/// Every call may fail with a remote error; the forwarding service decides what to retry. A `FacilityRefusal`
/// is final: the session fails at once with its message.
///
/// `ForwardingService` calls them as `ForwardingMachine` directs: `start`, `status` and `abort` only for a job whose
/// `url` is set (the job's `endpoint` says where), and `abort` also for another broker's offer turned down here (to
/// reject it there). Each reports the facility's phase typed (`RemotePhase`).
public protocol FacilityExecutor: Sendable {
    /// Creates the remote job for a session (not started) and returns its URL.
    func submit(_ session: SessionRecord, to endpoint: Endpoint) async throws -> String
    /// Finds a job this session created before a crash (by run id), if the facility has one.
    func find(_ session: SessionRecord, at endpoint: Endpoint) async throws -> String?
    /// Starts a created job and reports where it stands.
    func start(_ job: RemoteJob, for session: SessionRecord) async throws -> RemoteStatus
    /// Reports where a job stands, blocking up to `wait` seconds for a change from `job.phase` (and
    /// `job.progress`) where the facility can.
    func status(_ job: RemoteJob, for session: SessionRecord, wait: Int) async throws -> RemoteStatus
    /// Aborts a job (or stops what it started).
    func abort(_ job: RemoteJob, for session: SessionRecord) async throws -> RemoteStatus
    /// This executor calling with a user's bearer token instead of Skyport's own credential (an endpoint whose
    /// credentials are `forward` or `exchange`); nil when its facilities cannot take one.
    func bearing(_ token: String) -> (any FacilityExecutor)?
}

extension FacilityExecutor {
    public func bearing(_ token: String) -> (any FacilityExecutor)? { nil }
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

/// The notice POSTed to a session's callback URL when it ends.
public struct SessionNotice: Sendable, Hashable, Codable {
    public var session: String
    public var offerset: String
    public var phase: SessionPhase
    public var facility: String
    public var message: String?
    public var results: [UWSResult]

    public init(_ s: SessionRecord) {
        session = s.id.lowercasedText
        offerset = s.offerSet.lowercasedText
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

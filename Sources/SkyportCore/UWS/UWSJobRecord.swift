import Foundation

/// A job of Skyport's own UWS 1.1 interface (`/uws/jobs`), as kept: what its owner asked for and, once it ran,
/// the offer set and the session whose phase it shows.
public struct UWSJobRecord: Sendable, Hashable, Codable {
    public var id: String
    /// Who the job belongs to: an operator's name, or `user-` and a digest of the caller's bearer token.
    public var owner: String
    /// The job type (`execute`), which decides the parameters the job takes.
    public var type: String
    /// The job's parameters, names in lower case.
    public var parameters: [UWSParameter]
    public var runId: String?
    public var created: Date
    /// Seconds the job may run (0: the broker's default); the negotiated duration once a session is linked.
    public var executionDuration: Int
    /// When the job is destroyed (it is then gone from every listing).
    public var destruction: Date?
    /// When the job is expected to end: the end of the negotiated session.
    public var quote: Date?
    /// The job's own phase while no session is linked: `PENDING`, `QUEUED` (being negotiated), `ERROR` or `ABORTED`.
    public var phase: UWSPhase
    /// When `RUN` was asked for.
    public var started: Date?
    /// When the job ended without a session (negotiation gave NO, or it was aborted while pending).
    public var ended: Date?
    /// The session the job became, and its offer set, once negotiated.
    public var session: UUID?
    public var offerSet: UUID?
    /// Why the job failed without a session: one line, and the whole story (every rejected facility and why).
    public var errorSummary: String?
    public var errorDetail: String?
    /// The groups of the signed-in scientist who made it (`SKYPORT_AUTH=oidc`), as its token listed them: the job is
    /// negotiated as that identity (facilities' access policies, shares and quotas); nil for other owners.
    public var groups: [String]?

    /// The identity the job is negotiated as: its owner (`issuer#subject`) with its groups, when a scientist made it.
    public var requester: Requester {
        guard let groups, let hash = owner.firstIndex(of: "#") else { return .anonymous }
        return .identity(Identity(issuer: String(owner[..<hash]), subject: String(owner[owner.index(after: hash)...]), groups: groups))
    }

    public init(
        id: String, owner: String, type: String, parameters: [UWSParameter], runId: String? = nil, created: Date,
        executionDuration: Int = 0, destruction: Date? = nil, phase: UWSPhase = .pending
    ) {
        self.id = id
        self.owner = owner
        self.type = type
        self.parameters = parameters
        self.runId = runId
        self.created = created
        self.executionDuration = executionDuration
        self.destruction = destruction
        self.phase = phase
    }

    /// The UWS phase a session's phase shows as.
    public static func uwsPhase(for session: SessionPhase) -> UWSPhase {
        switch session {
        case .initial, .offered, .accepted, .waiting, .preparing: return .queued
        case .available, .running, .releasing: return .executing
        case .completed: return .completed
        case .failed, .rejected, .expired: return .error
        case .cancelled: return .aborted
        }
    }

    /// The job's phase: its session's once it has one (`UNKNOWN` if that session cannot be read), else its own.
    public func phase(session sessionPhase: SessionPhase?) -> UWSPhase {
        guard session != nil else { return phase }
        return sessionPhase.map(Self.uwsPhase(for:)) ?? .unknown
    }

    /// Whether the job is gone at `now` (its destruction time has come).
    public func isDestroyed(at now: Date) -> Bool { destruction.map { $0 <= now } ?? false }
}

/// Which of an owner's jobs to list (UWS 1.1 §2.2.2.1). Filters combine with AND.
public struct UWSJobQuery: Sendable, Hashable {
    public var owner: String
    /// Jobs in any of these phases; empty means every phase but `ARCHIVED`.
    public var phases: Set<UWSPhase>
    /// Jobs created strictly after this instant.
    public var after: Date?
    /// Only the `last` most recently created jobs.
    public var last: Int?
    /// Jobs destroyed by this instant are left out.
    public var now: Date

    public init(owner: String, phases: Set<UWSPhase> = [], after: Date? = nil, last: Int? = nil, now: Date) {
        self.owner = owner
        self.phases = phases
        self.after = after
        self.last = last
        self.now = now
    }

    /// Whether a job in `phase` passes the phase filter.
    public func admits(_ phase: UWSPhase) -> Bool { phases.isEmpty ? phase != .archived : phases.contains(phase) }
}

/// A listed job with its phase, read from its session in the same transaction.
public struct UWSJobListing: Sendable, Hashable {
    public var job: UWSJobRecord
    public var phase: UWSPhase

    public init(job: UWSJobRecord, phase: UWSPhase) {
        self.job = job
        self.phase = phase
    }
}

import Foundation

/// Quotas set through the admin API, what accounts have used (kept beyond their sessions' retention, for the
/// quotas' rolling windows), and the audit record.
public protocol AccountStore: Sendable {
    /// Core-seconds each of these accounts (`Account.description`) used inside `[from, now]`, from the usage kept
    /// of their sessions' real starts and ends (`UsageAccounting`); an account that used nothing is left out.
    func coreSeconds(accounts: [String], from: Date, now: Date) async throws -> [String: Double]
    /// What these accounts hold now (outstanding offers' cores, accepted sessions not ended), from the ledger.
    func held(accounts: [String], now: Date) async throws -> LedgerTally

    /// The quotas set through the admin API (they override the quota file's), by account.
    func quotaOverrides() async throws -> [QuotaOverride]
    /// Sets an account's quota, or with nil removes it; returns whether it had one.
    @discardableResult
    func setQuota(_ account: Account, _ limits: QuotaLimits?, by: String, now: Date) async throws -> Bool

    /// Appends audit events (numbered in the order appended).
    func appendAudit(_ events: [AuditEvent]) async throws
    /// Audit events, newest first.
    func audit(_ query: AuditQuery) async throws -> [AuditEvent]
}

/// A quota set through the admin API.
public struct QuotaOverride: Sendable, Hashable {
    public var account: Account
    public var limits: QuotaLimits
    public var modified: Date
    /// Who set it (the audit actor).
    public var by: String

    public init(account: Account, limits: QuotaLimits, modified: Date, by: String) {
        self.account = account
        self.limits = limits
        self.modified = modified
        self.by = by
    }
}

/// One thing someone did that an admin may need to find later: who, what, to what, when.
public struct AuditEvent: Sendable, Hashable, Codable {
    /// Its number in the record (set by the store).
    public var seq: Int64?
    public var time: Date
    /// Who: `Identity.owner`, `operator:<name>`, or `anonymous`.
    public var actor: String
    public var action: AuditAction
    /// What it was done to: `offerset:<uuid>`, `session:<uuid>`, `facility:<id>`, `quota:<account>`, `uwsjob:<id>`.
    public var target: String
    /// A short note (offers made, the phase before, the limits set).
    public var detail: String?

    public init(seq: Int64? = nil, time: Date, actor: String, action: AuditAction, target: String, detail: String? = nil) {
        self.seq = seq
        self.time = time
        self.actor = actor
        self.action = action
        self.target = target
        self.detail = detail.map { RemoteText.clip($0) }
    }
}

/// What was done.
public enum AuditAction: String, Sendable, Hashable, Codable, CaseIterable {
    /// Asked where a request can run (`POST /requests`, a UWS job's run).
    case ask = "ask"
    case accept = "accept"
    case reject = "reject"
    case cancel = "cancel"
    case facilityCreate = "facility-create"
    case facilityReplace = "facility-replace"
    case facilityDelete = "facility-delete"
    /// A facility's health check changed its verdict (healthy ↔ unavailable): its health history.
    case facilityHealth = "facility-health"
    case quotaSet = "quota-set"
    case quotaDelete = "quota-delete"
}

/// Which audit events to read.
public struct AuditQuery: Sendable, Hashable {
    public var actor: String?
    public var action: AuditAction?
    public var target: String?
    public var since: Date?
    /// Only events numbered below this (paging back from the newest).
    public var before: Int64?
    public var limit: Int

    public init(actor: String? = nil, action: AuditAction? = nil, target: String? = nil, since: Date? = nil, before: Int64? = nil, limit: Int = 100) {
        self.actor = actor
        self.action = action
        self.target = target
        self.since = since
        self.before = before
        self.limit = min(max(1, limit), 1_000)
    }

    public func matches(_ e: AuditEvent) -> Bool {
        (actor.map { $0 == e.actor } ?? true) && (action.map { $0 == e.action } ?? true) && (target.map { $0 == e.target } ?? true)
            && (since.map { e.time >= $0 } ?? true) && (before.map { (e.seq ?? 0) < $0 } ?? true)
    }
}

import Foundation

/// How long Skyport keeps what is over, and the rules that say what is over. Pure: both stores apply these rules
/// (the in-memory store calls them; the SQLite store spells them in SQL over columns these functions fill), and the
/// store contract tests hold the two to the same answers.
///
/// - An offer set whose sessions never became a job (they expired, were rejected, or were cancelled while
///   `OFFERED`; a `NO` set has none) is deleted `offers` after its last offer ended (its expiry, or when it was
///   turned down, whichever is later).
/// - An offer set with a session that became a job (accepted, then `COMPLETED`, `FAILED`, `CANCELLED`, `EXPIRED`)
///   is deleted `sessions` after the last of its sessions ended.
/// - Never deleted: a set with a session that is not final (an `OFFERED` one before its expiry, an accepted one
///   still being forwarded or tracked), one a forwarding worker still has work for (a remote job to abort, an offer
///   to reject at another broker, a callback not yet told) or holds a lease on, and one a UWS job still links.
/// - A UWS job is deleted `uwsGrace` after its destruction time (it is hidden from that time on).
public struct RetentionPolicy: Sendable, Hashable {
    /// Seconds an offer set that never became a job is kept after its last offer ended.
    public var offers: TimeInterval
    /// Seconds an offer set with a job is kept after its last session ended.
    public var sessions: TimeInterval
    /// Seconds a UWS job is kept after its destruction time.
    public var uwsGrace: TimeInterval
    /// Most offer sets (with their sessions), or UWS jobs, deleted in one write. 100 sets with their offers take the
    /// SQLite writer about 4 ms; 500 took 17 ms, which every request queued behind them waited.
    public var batch: Int
    /// Seconds a session's usage is kept after it ended: at least the longest quota window (`QuotaLimits.maxWindow`).
    public var usage: TimeInterval
    /// Seconds an audit event is kept.
    public var audit: TimeInterval

    public init(
        offers: TimeInterval = 86_400, sessions: TimeInterval = 30 * 86_400, uwsGrace: TimeInterval = 3_600, batch: Int = 100,
        usage: TimeInterval = TimeInterval(QuotaLimits.maxWindow.seconds), audit: TimeInterval = 400 * 86_400
    ) {
        self.offers = offers
        self.sessions = sessions
        self.uwsGrace = uwsGrace
        self.batch = max(1, batch)
        self.usage = usage
        self.audit = audit
    }

    /// Usage that ended before this instant is deleted.
    public func usageCutoff(at now: Date) -> Date { now.addingTimeInterval(-usage) }
    /// Audit events before this instant are deleted.
    public func auditCutoff(at now: Date) -> Date { now.addingTimeInterval(-audit) }

    /// Things that ended at or before this instant are past the offer retention.
    public func offerCutoff(at now: Date) -> Date { now.addingTimeInterval(-offers) }
    /// Sessions that ended at or before this instant are past the session retention.
    public func sessionCutoff(at now: Date) -> Date { now.addingTimeInterval(-sessions) }
    /// UWS jobs destroyed at or before this instant are deleted.
    public func uwsCutoff(at now: Date) -> Date { now.addingTimeInterval(-uwsGrace) }
}

/// The retention rules on values.
public enum Retention {
    /// When a session ended, for retention: an `OFFERED` one ends at its expiry (unless it is accepted first), a final
    /// one when it last changed (it became final then); nil while it is live.
    public static func end(of s: SessionRecord) -> Date? {
        if s.phase == .offered { return s.expires }
        return s.phase.isFinal ? s.modified : nil
    }

    /// Whether a session lets its offer set go at `now`: it ended long enough ago for its class (a job or an offer),
    /// no forwarding worker has work for it, and none holds it (`leasedUntil` in the future).
    public static func releases(_ s: SessionRecord, leasedUntil: Date?, now: Date, policy: RetentionPolicy) -> Bool {
        guard let end = end(of: s), !ForwardingMachine.needsWork(s) else { return false }
        if let lease = leasedUntil, lease > now { return false }
        // An OFFERED session is only over once its expiry has passed.
        if s.phase == .offered, s.expires > now { return false }
        return end <= (s.becameJob ? policy.sessionCutoff(at: now) : policy.offerCutoff(at: now))
    }

    /// Whether an offer set (with every one of its sessions) is deleted at `now`. `linked`: a UWS job links the set or
    /// one of its sessions. `leases` gives a session's lease, if any.
    public static func isDeletable(
        _ set: OfferSetRecord, sessions: [SessionRecord], linked: Bool, leases: (UUID) -> Date?, now: Date, policy: RetentionPolicy
    ) -> Bool {
        guard !linked, set.expires <= policy.offerCutoff(at: now) else { return false }
        return sessions.allSatisfy { releases($0, leasedUntil: leases($0.id), now: now, policy: policy) }
    }

    /// Whether a UWS job is deleted at `now`: its destruction time passed more than the grace ago.
    public static func isDeletable(_ job: UWSJobRecord, now: Date, policy: RetentionPolicy) -> Bool {
        guard let destruction = job.destruction else { return false }
        return destruction <= policy.uwsCutoff(at: now)
    }
}

/// What one retention pass deleted.
public struct RetentionSweep: Sendable, Hashable {
    public var offerSets: Int
    public var sessions: Int
    public var uwsJobs: Int
    /// Write transactions used.
    public var batches: Int
    /// Usage rows and audit events deleted.
    public var accounting = 0

    public init(offerSets: Int = 0, sessions: Int = 0, uwsJobs: Int = 0, batches: Int = 0) {
        self.offerSets = offerSets
        self.sessions = sessions
        self.uwsJobs = uwsJobs
        self.batches = batches
    }

    public var isEmpty: Bool { offerSets == 0 && sessions == 0 && uwsJobs == 0 && accounting == 0 }

    public static func + (a: Self, b: Self) -> Self {
        var sum = Self(offerSets: a.offerSets + b.offerSets, sessions: a.sessions + b.sessions, uwsJobs: a.uwsJobs + b.uwsJobs, batches: a.batches + b.batches)
        sum.accounting = a.accounting + b.accounting
        return sum
    }
}

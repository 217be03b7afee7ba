import Foundation
import Synchronization

/// What one health probe of a facility found (the health service turns it into a `FacilityHealth`).
public struct HealthProbeResult: Sendable, Hashable {
    /// Whether the facility passed its checks.
    public var healthy: Bool
    /// Why it failed (`not reachable: ...`, `VOSI availability says not available: ...`), or a note when healthy.
    public var reason: String?
    /// A BinderHub's `/versions` answer, as compact text: a change means the facility was redeployed.
    public var fingerprint: String?
    /// What the facility said of its load, when it says (a BinderHub's pod quota, a UWS job list's queued jobs).
    public var load: FacilityLoad?

    public init(healthy: Bool, reason: String? = nil, fingerprint: String? = nil, load: FacilityLoad? = nil) {
        self.healthy = healthy
        self.reason = reason
        self.fingerprint = fingerprint
        self.load = load
    }

    public static func unavailable(_ reason: String, fingerprint: String? = nil) -> Self {
        Self(healthy: false, reason: reason, fingerprint: fingerprint)
    }
}

/// The last health check of one facility.
public struct FacilityHealth: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable {
        case healthy
        case unavailable
    }

    public var status: Status
    /// Why the facility is unavailable (nil when healthy).
    public var reason: String?
    /// When the last check ended.
    public var checked: Date
    /// Since when the facility has had this status (the last transition, or its first check).
    public var since: Date
    /// The last `/versions` fingerprint of a BinderHub.
    public var fingerprint: String?
    /// The load the last check saw (a ranking input only, never a reason to reject).
    public var load: FacilityLoad?

    public init(status: Status, reason: String? = nil, checked: Date, since: Date, fingerprint: String? = nil, load: FacilityLoad? = nil) {
        self.status = status
        self.reason = reason
        self.checked = checked
        self.since = since
        self.fingerprint = fingerprint
        self.load = load
    }
}

/// A facility's live load, as its health probe saw it. Nil values are unknown.
public struct FacilityLoad: Sendable, Hashable, Codable {
    /// Sessions or jobs it can start now (a BinderHub's pod quota less its pods).
    public var freeSlots: Int?
    /// Jobs waiting (a UWS job list's `QUEUED` jobs).
    public var queued: Int?

    public init(freeSlots: Int? = nil, queued: Int? = nil) {
        self.freeSlots = freeSlots
        self.queued = queued
    }

    /// Orders by load, least loaded first: more free slots, then fewer queued jobs; unknown values after known ones.
    static func lighter(_ a: FacilityLoad?, _ b: FacilityLoad?) -> Bool? {
        // Free slots first (most first), then what is unknown, then none free: a full facility starts nothing now.
        func tier(_ l: FacilityLoad?) -> Int { l?.freeSlots.map { $0 > 0 ? 0 : 2 } ?? 1 }
        if tier(a) != tier(b) { return tier(a) < tier(b) }
        let fa = a?.freeSlots ?? 0, fb = b?.freeSlots ?? 0
        if fa != fb { return fa > fb }
        let qa = a?.queued ?? .max, qb = b?.queued ?? .max
        if qa != qb { return qa < qb }
        return nil
    }
}

/// What matching makes of a facility's health.
public enum HealthVerdict: Sendable, Hashable {
    /// Healthy and recently checked, or never checked (no check yet is no warning).
    case ok
    /// Healthy when last checked, but that check is older than the stale limit: a warning, never a rejection.
    case stale(FacilityHealth)
    /// Failed its last check: rejected with `facility-unavailable`, however old the check.
    case unavailable(FacilityHealth)
}

/// A change of a facility's status recorded on the board (for the service's log).
public struct HealthTransition: Sendable, Hashable {
    public var facility: FacilityID
    public var from: FacilityHealth.Status?
    public var to: FacilityHealth
}

/// The health of every probed facility, by identifier key. A plain value; `HealthBoardBox` shares it.
public struct HealthBoard: Sendable, Hashable {
    public var entries: [String: FacilityHealth]
    /// A healthy check older than this (seconds) is stale.
    public var staleAfter: TimeInterval
    /// BinderHubs held to their prime's `/versions` (`SKYPORT_BINDER_FEDERATION`); nil: versions are never compared.
    public var federation: BinderFederation?

    public init(entries: [String: FacilityHealth] = [:], staleAfter: TimeInterval = 300, federation: BinderFederation? = nil) {
        self.entries = entries
        self.staleAfter = staleAfter
        self.federation = federation
    }

    public subscript(id: FacilityID) -> FacilityHealth? {
        get { entries[id.key] }
        set { entries[id.key] = newValue }
    }

    /// Records a probe of `id` ended at `now`; returns the transition when the status changed (or was first set).
    /// A federation member whose `/versions` differ from its prime's last known ones is recorded unavailable.
    @discardableResult
    public mutating func record(_ result: HealthProbeResult, for id: FacilityID, at now: Date) -> HealthTransition? {
        var result = result
        if result.healthy, let federation,
           let reason = federation.mismatch(of: id, fingerprint: result.fingerprint, primeFingerprint: entries[federation.prime.key]?.fingerprint) {
            result = .unavailable(reason, fingerprint: result.fingerprint)
        }
        let previous = entries[id.key]
        let status: FacilityHealth.Status = result.healthy ? .healthy : .unavailable
        let changed = previous?.status != status
        entries[id.key] = FacilityHealth(
            status: status, reason: result.healthy ? nil : (result.reason ?? "failed its health check"),
            checked: now, since: changed ? now : (previous?.since ?? now),
            fingerprint: result.fingerprint ?? previous?.fingerprint, load: result.load)
        return changed ? HealthTransition(facility: id, from: previous?.status, to: entries[id.key]!) : nil
    }

    /// Forgets facilities that are no longer registered (or no longer probed).
    public mutating func retain(only keys: Set<String>) {
        entries = entries.filter { keys.contains($0.key) }
    }

    /// The matching rule: a failed check rejects, a healthy but stale one warns, an unprobed facility is fine.
    public func verdict(for facility: Facility, now: Date, staleAfter: TimeInterval) -> HealthVerdict {
        guard let health = entries[facility.id.key] else { return .ok }
        if health.status == .unavailable { return .unavailable(health) }
        return now.timeIntervalSince(health.checked) > staleAfter ? .stale(health) : .ok
    }

    /// `verdict(for:now:staleAfter:)` with the board's own stale limit.
    public func verdict(for facility: Facility, now: Date) -> HealthVerdict {
        verdict(for: facility, now: now, staleAfter: staleAfter)
    }
}

/// The health board shared between the health service (which writes it) and the HTTP edge and matcher (which read
/// it). It lives in memory only: after a restart every facility is unprobed (and so offered) until the first round.
public final class HealthBoardBox: Sendable {
    private let state: Mutex<HealthBoard>

    public init(_ board: HealthBoard = HealthBoard()) { state = Mutex(board) }

    /// A snapshot of the board.
    public var board: HealthBoard { state.withLock { $0 } }

    /// Changes the board under its lock.
    @discardableResult
    public func update<T: Sendable>(_ body: (inout HealthBoard) -> T) -> T {
        state.withLock { body(&$0) }
    }
}

import Foundation

/// Matches requests to facilities: hard filters with every reason for each rejection, then a ranking of the rest.
///
/// Policies:
/// - Unknown values never reject: a request that names no kind, an unknown limit or capacity, a Rucio item with
///   unknown replicas and a facility that declares no RSEs are flags on the accepted candidate. A kind the request
///   names that no facility can run (`unsupportedKind`, such as `foo`) is not unknown: every facility rejects it
///   with `kind-not-accepted`.
/// - Data co-location is a hard filter only for a facility that declares RSEs and holds *none* of the request's
///   locatable Rucio items (one `data-not-colocated` reason per item). A facility holding some but not all is
///   accepted, flagged `data-partly-colocated` and ranked by the fraction it holds: items spread over several
///   sites would otherwise leave no co-located facility at all.
/// - Health (only when a `HealthBoard` is given): a facility that failed its last health check is rejected with
///   `facility-unavailable` (besides any other reason); one whose last passed check is stale is accepted and flagged
///   `health-check-stale`; a facility never probed is judged on its registration alone.
/// - Ranking: the fraction of locatable Rucio items held, then headroom (the mean of `1 - asked/available` over the
///   facility's known per-job limits and total capacities; unknown ones count 0), then identifier key.
public enum Matcher {
    /// Matches one request against facilities. To match many requests, build a `MatchIndex` or a `MatchBatch` once.
    /// With `health`, facilities are also judged on their last health check as of `now`.
    public static func match(
        _ request: NormalisedRequest, against facilities: [Facility], health: HealthBoard? = nil, now: Date = Date()
    ) -> MatchOutcome {
        match(request, index: MatchIndex(facilities), health: health, now: now)
    }

    /// Matches one request against facilities compiled once (a store keeps its index until its facilities change).
    public static func match(
        _ request: NormalisedRequest, index: MatchIndex, health: HealthBoard? = nil, now: Date = Date(), requester: Requester = .anonymous
    ) -> MatchOutcome {
        let outcome = index.match(request, requester: requester)
        guard let health, !health.entries.isEmpty else { return outcome }
        return applying(health, to: outcome, now: now)
    }

    /// Rejects the unavailable facilities of `outcome` and flags the stale ones, keeping rank and key order.
    static func applying(_ health: HealthBoard, to outcome: MatchOutcome, now: Date) -> MatchOutcome {
        var accepted: [AcceptedEntry] = []
        var rejected = outcome.rejected
        var extraReasons: [Int32: [MatchReason]] = [:]
        var extraFlags: [Int32: [MatchFlag]] = [:]
        func verdict(_ index: Int32) -> (Facility, HealthVerdict) {
            let f = outcome.facilities[Int(index)]
            return (f, health.verdict(for: f, now: now))
        }
        for r in outcome.rejected {
            if case let (f, .unavailable(h)) = verdict(r.index) { extraReasons[r.index] = [unavailableReason(f, h)] }
        }
        for a in outcome.accepted {
            switch verdict(a.index) {
            case (let f, .unavailable(let h)):
                rejected.append(RejectedEntry(index: a.index, reasons: 0))
                extraReasons[a.index] = [unavailableReason(f, h)]
            case (let f, .stale(let h)):
                accepted.append(a)
                extraFlags[a.index] = [MatchFlag(
                    code: .healthStale, field: "health",
                    message: "facility \(f.id.rawValue) was last checked healthy at \(Timestamp.format(h.checked)); that check is stale")]
            case (_, .ok):
                accepted.append(a)
            }
        }
        if outcome.shape.rank == .load {
            // Stable: facilities of equal (or unknown) load keep the default order.
            let position = Dictionary(uniqueKeysWithValues: accepted.enumerated().map { ($1.index, $0) })
            accepted.sort { a, b in
                let la = health.entries[outcome.facilities[Int(a.index)].id.key]?.load
                let lb = health.entries[outcome.facilities[Int(b.index)].id.key]?.load
                return FacilityLoad.lighter(la, lb) ?? (position[a.index]! < position[b.index]!)
            }
        } else if extraReasons.isEmpty, extraFlags.isEmpty {
            return outcome
        }
        rejected.sort { $0.index < $1.index }
        var result = MatchOutcome(
            shape: outcome.shape, facilities: outcome.facilities, compilation: outcome.compilation, accepted: accepted, rejected: rejected,
            locatable: outcome.locatable)
        result.extraReasons = extraReasons
        result.extraFlags = extraFlags
        return result
    }

    static func unavailableReason(_ f: Facility, _ h: FacilityHealth) -> MatchReason {
        // The probe's finding is shown to operators only, and kept short: every rejected set stores it.
        let why = RemoteText.clip(h.reason ?? "failed its health check", limit: 160)
        return MatchReason(
            code: .facilityUnavailable, field: "health", requested: "available", offered: "unavailable",
            detail: "since \(Timestamp.format(h.since)) (checked \(Timestamp.format(h.checked))): \(why)", facility: f.id)
    }
}

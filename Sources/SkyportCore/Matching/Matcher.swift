/// Matches requests to facilities: hard filters with every reason for each rejection, then a ranking of the rest.
///
/// Policies:
/// - Unknown values never reject: an unknown request kind, an unknown limit or capacity, a Rucio item with
///   unknown replicas and a facility that declares no RSEs are flags on the accepted candidate.
/// - Data co-location is a hard filter only for a facility that declares RSEs and holds *none* of the request's
///   locatable Rucio items (one `data-not-colocated` reason per item). A facility holding some but not all is
///   accepted, flagged `data-partly-colocated` and ranked by the fraction it holds: items spread over several
///   sites would otherwise leave no co-located facility at all.
/// - Ranking: the fraction of locatable Rucio items held, then headroom (the mean of `1 - asked/available` over the
///   facility's known per-job limits and total capacities; unknown ones count 0), then identifier key.
public enum Matcher {
    /// Matches one request against facilities. To match many requests, build a `MatchIndex` or a `MatchBatch` once.
    public static func match(_ request: NormalisedRequest, against facilities: [Facility]) -> MatchOutcome {
        MatchIndex(facilities).match(request)
    }
}

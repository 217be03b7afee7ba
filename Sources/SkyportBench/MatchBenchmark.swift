import SkyportCore
/// Times matching many requests against many facilities, for `skyport bench match`; the caller supplies the clock.
public enum MatchBenchmark {
    /// What one benchmark run did and how long it took.
    public struct Result: Sendable, Hashable, Codable {
        public var requests: Int
        public var facilities: Int
        /// Requests × facilities: the pairs a matcher without shape grouping would evaluate.
        public var pairs: Int
        /// The pairs actually evaluated (distinct shapes × facilities with the shape cache).
        public var evaluatedPairs: Int
        public var distinctShapes: Int
        public var matchedRequests: Int
        /// Accepted request–facility pairs, summed over all requests (also keeps the work from being optimised away).
        public var acceptedPairs: Int
        /// Time to compile the facilities into a `MatchIndex`.
        public var indexNanoseconds: UInt64
        /// Time to match every request (after the index was built).
        public var matchNanoseconds: UInt64
        public var shapeCache: Bool

        /// Matching time per request–facility pair, in microseconds.
        public var microsecondsPerPair: Double { pairs > 0 ? Double(matchNanoseconds) / 1_000 / Double(pairs) : 0 }
        /// Matching time per evaluated pair, in microseconds.
        public var microsecondsPerEvaluatedPair: Double { evaluatedPairs > 0 ? Double(matchNanoseconds) / 1_000 / Double(evaluatedPairs) : 0 }
        /// Requests matched per second.
        public var requestsPerSecond: Double { matchNanoseconds > 0 ? Double(requests) * 1e9 / Double(matchNanoseconds) : 0 }
    }

    /// Matches every request against every facility on the calling thread and reports counts and times.
    /// `clock` returns monotonic nanoseconds (e.g. `DispatchTime.now().uptimeNanoseconds`).
    public static func run(
        facilities: [Facility], requests: [NormalisedRequest], shapeCache: Bool = false, clock: () -> UInt64
    ) -> Result {
        let t0 = clock()
        let index = MatchIndex(facilities)
        let t1 = clock()
        var batch = MatchBatch(index: index)
        var matched = 0
        var accepted = 0
        for request in requests {
            let outcome = shapeCache ? batch.outcome(for: request) : index.match(request)
            if outcome.isMatch { matched += 1 }
            accepted += outcome.acceptedCount
        }
        let t2 = clock()
        let shapes = shapeCache ? batch.distinctShapes : Set(requests.map(MatchShape.init)).count
        return Result(
            requests: requests.count, facilities: facilities.count, pairs: requests.count * facilities.count,
            evaluatedPairs: (shapeCache ? shapes : requests.count) * facilities.count, distinctShapes: shapes,
            matchedRequests: matched, acceptedPairs: accepted, indexNanoseconds: t1 &- t0, matchNanoseconds: t2 &- t1,
            shapeCache: shapeCache)
    }
}

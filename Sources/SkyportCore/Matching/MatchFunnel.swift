/// The hard filters of matching, in the order the funnel reports them (HTCondor's `-better-analyze`).
public enum MatchClause: String, Sendable, Hashable, Codable, CaseIterable {
    case kind, architecture, gpus, cores, memory, scratch, duration, software, data, policy, health, capacity

    var position: Int { Self.allCases.firstIndex(of: self)! }
}

/// How many facilities passed each clause in turn: a facility counts as passing a clause when it fails none of the
/// clauses up to it. A request that nothing can satisfy shows the clause that emptied the list.
public struct MatchFunnel: Sendable, Hashable, Codable {
    public struct Step: Sendable, Hashable, Codable {
        public var clause: MatchClause
        /// Facilities left after this clause.
        public var passed: Int
        /// For `capacity`: how many facilities' calendars were searched (the planner stops once it has its offers, so
        /// the others are not known to lack room).
        public var tried: Int?

        public init(clause: MatchClause, passed: Int, tried: Int? = nil) {
            self.clause = clause
            self.passed = passed
            self.tried = tried
        }
    }

    /// Facilities considered.
    public var total: Int
    public var steps: [Step]

    public init(total: Int, steps: [Step]) {
        self.total = total
        self.steps = steps
    }

    /// Builds the steps from how many facilities first failed each clause (by `MatchClause.position`); clauses after
    /// `through` are left out (capacity is known only once offers are planned).
    init(total: Int, firstFailures: [Int], through last: MatchClause) {
        var left = total
        var steps: [Step] = []
        for clause in MatchClause.allCases where clause.position <= last.position {
            left -= firstFailures[clause.position]
            steps.append(Step(clause: clause, passed: left))
        }
        self.init(total: total, steps: steps)
    }

    /// The first clause after which no facility was left, if any.
    public var emptiedBy: MatchClause? { steps.first { $0.passed == 0 }?.clause }

    /// Adds the capacity step: of the facilities that passed every other clause, how many had room for an offer.
    public func withCapacity(passed: Int, tried: Int) -> MatchFunnel {
        var f = self
        f.steps.removeAll { $0.clause == .capacity }
        f.steps.append(Step(clause: .capacity, passed: passed, tried: tried))
        return f
    }

    /// `12 kind 9 architecture 9 gpus 3 ...`, for logs and `skyport match`.
    public var text: String {
        "\(total) facilities: " + steps.map { "\($0.clause.rawValue) \($0.passed)" }.joined(separator: " → ")
            + (emptiedBy.map { " (emptied by \($0.rawValue))" } ?? "")
    }
}

extension MatchOutcome {
    /// The funnel through health (static clauses from the reason masks; a facility rejected with no static reason
    /// failed its health check).
    public var funnel: MatchFunnel {
        var first = [Int](repeating: 0, count: MatchClause.allCases.count)
        for r in rejected {
            let clause = r.reasons == 0 ? MatchClause.health : ReasonBit.clause[r.reasons.trailingZeroBitCount]
            first[clause.position] += 1
        }
        return MatchFunnel(total: accepted.count + rejected.count, firstFailures: first, through: .health)
    }
}

extension MatchFunnel: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("steps", steps)
            w.field("total", total)
        }
    }
}

extension MatchFunnel.Step: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("clause", clause.rawValue)
            w.field("passed", passed)
            w.field("tried", tried)
        }
    }
}

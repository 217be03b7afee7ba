import Foundation

/// Turns ranked candidates into concrete offers: negotiated cores and memory (min = max), a start and an expiry,
/// booked against what facilities already hold. A pure function of its inputs: the store hands over its calendars,
/// and the plan is made and its offers booked in one serialized store write, so concurrent requests never overbook.
///
/// Spreading policy: round-robin over the candidates in rank order. Round 1 gives each candidate its earliest
/// fitting slot in the start window (candidates with none are skipped, with a note); round `n` gives each facility
/// that got an offer in round `n - 1` its earliest slot starting no earlier than the end of its previous offer.
/// Rounds stop at `maxOffers`. So one facility yields successive start times (as the reference broker does), and
/// many facilities yield one offer each, best first.
public struct OfferPlanner: Sendable {
    /// The planner's knobs (defaults follow the reference ExecutionBroker).
    public struct Settings: Sendable, Hashable, Codable {
        /// Most offers in one plan.
        public var maxOffers = 4
        /// Most offers from one facility in one plan.
        public var maxOffersPerFacility = 4
        /// How long an offer stays open, in seconds.
        public var offerLifetime: TimeInterval = 300
        /// The session length when the request gives none (capped by the facility's per-job limit).
        public var defaultDuration = ISODuration(seconds: 7_200)
        /// The start window `[now, now + this]` when the request gives none, in seconds.
        public var defaultStartWindow: TimeInterval = 7_200
        /// How far ahead offers may start, in seconds: a start window beyond it gives no offer (it is said why),
        /// and one reaching past it is cut there, so that nothing is booked for the year 9999.
        public var horizon: TimeInterval = 366 * 86_400
        /// Later starts fall on multiples of this many seconds.
        public var slotStep: TimeInterval = 60
        /// Cores offered when the request gives neither min nor max.
        public var defaultCores = 1
        /// Memory (GiB) offered when the request gives neither min nor max.
        public var defaultMemory = 1
        /// With no max, offer up to min × this (1 offers exactly min; the reference broker uses 2).
        public var scaleWithoutMax = 1
        /// Ranking by `earliest-start` looks this far down the ranked candidates for the earliest starts.
        public var earliestStartWindow = 64

        public init() {}
    }

    public var settings: Settings

    public init(settings: Settings = Settings()) { self.settings = settings }

    /// Plans offers for a request from its match outcome's candidates (built only as far as they are needed).
    public func plan(_ request: NormalisedRequest, outcome: MatchOutcome, bookings: [Booking], now: Date) -> OfferPlan {
        plan(request, ranked: outcome.ranked, calendars: FacilityCalendars(bookings), now: now, allowance: .unlimited)
    }

    /// Plans offers for a request from ranked candidates (best first), given what is already booked.
    public func plan(_ request: NormalisedRequest, candidates: [MatchCandidate], bookings: [Booking], now: Date) -> OfferPlan {
        plan(request, ranked: candidates, calendars: FacilityCalendars(bookings), now: now, allowance: .unlimited)
    }

    /// Plans offers from the match outcome against the facilities' calendars (a store's `CapacityLedger`), within
    /// the requester's `allowance` (its quotas) and the facilities' group shares.
    public func plan(
        _ request: NormalisedRequest, outcome: MatchOutcome, calendars: FacilityCalendars, now: Date, allowance: Allowance = .unlimited
    ) -> OfferPlan {
        plan(request, ranked: outcome.ranked, calendars: calendars, now: now, allowance: allowance)
    }

    /// Plans offers from ranked candidates against the facilities' calendars.
    public func plan(
        _ request: NormalisedRequest, candidates: [MatchCandidate], calendars: FacilityCalendars, now: Date, allowance: Allowance = .unlimited
    ) -> OfferPlan {
        plan(request, ranked: candidates, calendars: calendars, now: now, allowance: allowance)
    }

    private func plan(
        _ request: NormalisedRequest, ranked candidates: some Sequence<MatchCandidate>, calendars: FacilityCalendars, now: Date,
        allowance start: Allowance
    ) -> OfferPlan {
        var plan = OfferPlan()
        var allowance = start
        if let blocked = allowance.blocked {
            plan.notes.append(PlanNote(facility: nil, code: .quotaExceeded, message: blocked.description))
            return plan
        }
        var quotaNoted = false
        let earliest = max(request.start?.earliest ?? now, now).timeIntervalSince1970.rounded(.up)
        let horizon = (now.timeIntervalSince1970 + settings.horizon).rounded(.down)
        if earliest > horizon {
            plan.notes.append(PlanNote(
                facility: nil, code: .beyondHorizon,
                message: "schedule.requested.start: the start window opens at \(Timestamp.format(Date(timeIntervalSince1970: earliest))), "
                    + "more than \(Int(settings.horizon / 86_400)) days ahead; Skyport books no further ahead than that"))
            return plan
        }
        let latest = min(request.start?.latest.timeIntervalSince1970 ?? earliest + settings.defaultStartWindow, horizon)
        guard earliest <= latest, settings.maxOffers > 0 else {
            if earliest > latest {
                plan.notes.append(PlanNote(
                    facility: nil, code: .startWindowClosed,
                    message: "the start window closed at \(Timestamp.format(Date(timeIntervalSince1970: latest)))"))
            }
            return plan
        }
        var open: [Slotting] = []
        var noRoom = NoRoomText()
        // Candidates are built only as far as they are needed, except when ranked by earliest start.
        var byStart = request.needs?.rank == .earliestStart
            ? byEarliestStart(request, candidates, calendars: calendars, from: earliest, latest: latest).makeIterator() : nil
        var inRank = candidates.enumerated().makeIterator()
        var position = 0
        while let (matchRank, candidate) = byStart != nil ? byStart!.next() : inRank.next().map({ ($0.offset, $0.element) }) {
            // Offers are listed (and `/direct` accepts) by rank: in the order the candidates are walked.
            let rank = byStart != nil ? position : matchRank
            position += 1
            guard plan.offers.count < settings.maxOffers else { break }
            let f = candidate.facility
            guard open.allSatisfy({ $0.facility != f.id }) else { continue }
            switch terms(request, f) {
            case .refused(let note):
                plan.notes.append(note)
            case .offerable(var s):
                // A copy (O(1)): the plan's own offers are booked on it, not in the ledger.
                s.calendar = calendars[f.id] ?? CapacityCalendar(capacity: f.capacity)
                s.calendar.capacity = f.capacity
                s.rank = rank
                s.score = candidate.score
                if let shares = f.access?.shares, !shares.isEmpty, let capacity = f.capacity.cores {
                    let share = ShareRule.charged(allowance.groups, shares)
                    switch ShareRule.room(
                        facility: f.id, capacity: capacity, shares: shares, share: share, held: calendars.tally.shareCores[f.id.key] ?? [:],
                        total: calendars.tally.facilityCores[f.id.key] ?? 0, lower: s.cores.lower)
                    {
                    case .success(let room): (s.shareRoom, s.share) = (room, share)
                    case .failure(let breach):
                        plan.notes.append(PlanNote(facility: f.id, code: .shareExhausted, message: breach.description))
                        continue
                    }
                }
                if case .failure(let breach) = allowance.cap(lower: s.cores.lower, seconds: s.duration) {
                    if !quotaNoted { plan.notes.append(PlanNote(facility: nil, code: .quotaExceeded, message: breach.description)) }
                    quotaNoted = true
                    continue
                }
                plan.tried += 1
                if let offer = place(&s, from: earliest, latest: latest, now: now, allowance: &allowance) {
                    plan.withRoom += 1
                    plan.offers.append(offer)
                    open.append(s)
                } else {
                    plan.notes.append(PlanNote(facility: f.id, code: .noCapacityInWindow, message: "facility \(f.id) " + noRoom.text(for: s, latest: latest)))
                }
            }
        }
        while plan.offers.count < settings.maxOffers, !open.isEmpty {
            var next: [Slotting] = []
            for var s in open where plan.offers.count < settings.maxOffers && s.placed < settings.maxOffersPerFacility {
                if let offer = place(&s, from: s.nextFrom, latest: latest, now: now, allowance: &allowance) {
                    plan.offers.append(offer)
                    next.append(s)
                }
            }
            open = next
        }
        return plan
    }

    /// Finds the facility's earliest slot from `from`, negotiates the amounts, books it in the slotting's calendar.
    private func place(_ s: inout Slotting, from: Double, latest: Double, now: Date, allowance: inout Allowance) -> OfferDraft? {
        let d = Double(s.duration)
        guard case .success(let quota) = allowance.cap(lower: s.cores.lower, seconds: s.duration) else { return nil }
        let upper = min(s.cores.upper, quota, s.shareRoom)
        guard upper >= s.cores.lower else { return nil }
        guard let start = s.calendar.earliestStart(
            notBefore: Date(timeIntervalSince1970: from), notAfter: Date(timeIntervalSince1970: latest),
            cores: s.cores.lower, memory: s.memory.lower, duration: d, step: settings.slotStep)
        else { return nil }
        let end = start.addingTimeInterval(d)
        let free = s.calendar.free(from: start, to: end)
        let cores = min(upper, free.cores ?? .max)
        let memory = min(s.memory.upper, free.memory ?? .max)
        var offer = OfferDraft(
            facility: s.facility, cores: cores, memory: memory, start: start, duration: ISODuration(seconds: s.duration),
            expires: now.addingTimeInterval(settings.offerLifetime), rank: s.rank, score: s.score)
        offer.share = s.share
        offer.gpus = s.gpus
        s.calendar.add(offer.booking)
        allowance.spend(cores: cores)
        if s.shareRoom != .max { s.shareRoom -= cores }
        s.placed += 1
        s.nextFrom = end.timeIntervalSince1970
        return offer
    }

    /// The amounts and duration to offer on a facility, or why it can offer nothing.
    private func terms(_ r: NormalisedRequest, _ f: Facility) -> Terms {
        func fail(_ message: String) -> Terms { .refused(PlanNote(facility: f.id, code: .exceedsLimit, message: message)) }
        let cores: (lower: Int, upper: Int)
        switch bounds(r.cores, limit: f.limits.cores, fallback: settings.defaultCores) {
        case .success(let b): cores = b
        case .failure(let problem): return fail("cores: \(problem.text(unit: "cores", facility: f.id))")
        }
        let memory: (lower: Int, upper: Int)
        switch bounds(r.memory, limit: f.limits.memory, fallback: settings.defaultMemory) {
        case .success(let b): memory = b
        case .failure(let problem): return fail("memory: \(problem.text(unit: "GiB", facility: f.id))")
        }
        let limit = f.limits.duration?.seconds ?? .max
        let duration: Int
        if let asked = r.duration?.seconds {
            guard asked <= limit else {
                return fail("duration: the request wants \(ISODuration(seconds: asked)); facility \(f.id) allows at most \(ISODuration(seconds: limit)) per job")
            }
            duration = asked
        } else {
            duration = min(settings.defaultDuration.seconds, limit)
        }
        var slotting = Slotting(facility: f.id, cores: cores, memory: memory, duration: max(0, duration))
        if let wanted = r.needs?.gpus {
            // Matching has checked the least (at least 1) against the limit: offer what is asked, up to the limit.
            let lower = max(1, wanted.min ?? 1)
            slotting.gpus = max(lower, min(wanted.max ?? lower, f.limits.gpus ?? lower))
        }
        return .offerable(slotting)
    }

    /// The first `earliestStartWindow` candidates ordered by the earliest start each could offer (then rank); the
    /// ones with no room keep their place after them, so that the plan still says why they gave no offer.
    private func byEarliestStart(
        _ request: NormalisedRequest, _ candidates: some Sequence<MatchCandidate>, calendars: FacilityCalendars, from: Double, latest: Double
    ) -> [(Int, MatchCandidate)] {
        let all = Array(candidates.enumerated())
        let head = all.prefix(settings.earliestStartWindow)
        let starts: [(Double, Int, MatchCandidate)] = head.map { rank, c in
            guard case .offerable(let s) = terms(request, c.facility) else { return (.infinity, rank, c) }
            var calendar = calendars[c.facility.id] ?? CapacityCalendar(capacity: c.facility.capacity)
            calendar.capacity = c.facility.capacity
            let start = calendar.earliestStart(
                notBefore: Date(timeIntervalSince1970: from), notAfter: Date(timeIntervalSince1970: latest),
                cores: s.cores.lower, memory: s.memory.lower, duration: Double(s.duration), step: settings.slotStep)
            return (start?.timeIntervalSince1970 ?? .infinity, rank, c)
        }
        let sorted = starts.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }.map { ($0.1, $0.2) }
        return sorted + all.dropFirst(settings.earliestStartWindow).map { ($0.offset, $0.element) }
    }

    /// The least and most to offer: never below min, never above max or the per-job limit.
    private func bounds(_ range: ResourceRange?, limit: Int?, fallback: Int) -> Result<(lower: Int, upper: Int), BoundsProblem> {
        let cap = limit ?? .max
        let lower = max(0, range?.min ?? min(fallback, range?.max ?? .max, cap))
        if let max = range?.max, max < lower { return .failure(.minAboveMax(min: lower, max: max)) }
        if lower > cap { return .failure(.minAboveLimit(min: lower, limit: cap)) }
        let wanted = range?.max ?? lower.multipliedReportingOverflow(by: max(1, settings.scaleWithoutMax)).partialValue
        return .success((lower, min(wanted, cap)))
    }
}

/// The words after `facility ID` in a note that a facility has no room, made once for every facility that needs the
/// same amounts (usually all of them: when facilities are full, every request notes each one it tried).
private struct NoRoomText {
    private var last: (cores: Int, memory: Int, duration: Int, text: String)?

    mutating func text(for s: Slotting, latest: Double) -> String {
        if let last, last.cores == s.cores.lower, last.memory == s.memory.lower, last.duration == s.duration { return last.text }
        let text = "has no room for \(s.cores.lower) cores and \(s.memory.lower) GiB for \(ISODuration(seconds: s.duration)) starting by "
            + Timestamp.format(Date(timeIntervalSince1970: latest))
        last = (s.cores.lower, s.memory.lower, s.duration, text)
        return text
    }
}

/// Why a resource range cannot be offered on a facility.
private enum BoundsProblem: Error {
    case minAboveMax(min: Int, max: Int)
    case minAboveLimit(min: Int, limit: Int)

    func text(unit: String, facility: FacilityID) -> String {
        switch self {
        case .minAboveMax(let min, let max): return "the request's minimum \(min) exceeds its maximum \(max)"
        case .minAboveLimit(let min, let limit): return "the request needs at least \(min) \(unit); facility \(facility) allows at most \(limit) per job"
        }
    }
}

/// What a facility can be offered: its terms, or why none.
private enum Terms {
    case offerable(Slotting)
    case refused(PlanNote)
}

/// One facility's state while a plan is made.
private struct Slotting {
    var facility: FacilityID
    var cores: (lower: Int, upper: Int)
    var memory: (lower: Int, upper: Int)
    var duration: Int
    var calendar = CapacityCalendar(capacity: FacilityCapacity())
    var rank = 0
    var score = MatchScore(colocation: 0, headroom: 0)
    var placed = 0
    var nextFrom = 0.0
    /// The most cores its shares leave the requester (`Int.max` on a facility without shares).
    var shareRoom = Int.max
    var share: String?
    var gpus: Int?
}

import Foundation
import Testing
import SkyportBench
@testable import SkyportCore

/// One negotiation of cores: what is asked, what the facility allows and holds, and what should be offered.
struct AmountCase: Sendable, CustomTestStringConvertible {
    var cores: ResourceRange?
    var limit: Int?
    var capacity: Int?
    var booked = 0
    /// The cores of the first offer; nil when there should be no offer.
    var expected: Int?
    var note: PlanNoteCode?
    var testDescription: String {
        "min \(cores?.min.map(String.init) ?? "-") max \(cores?.max.map(String.init) ?? "-") limit \(limit.map(String.init) ?? "?") capacity \(capacity.map(String.init) ?? "?") booked \(booked) -> \(expected.map(String.init) ?? "none")"
    }

    static let all: [AmountCase] = [
        AmountCase(cores: ResourceRange(min: 2, max: 8), limit: 16, capacity: 32, expected: 8),
        AmountCase(cores: ResourceRange(min: 2, max: 8), limit: 4, capacity: 32, expected: 4),
        AmountCase(cores: ResourceRange(min: 2), limit: 16, capacity: 32, expected: 2),
        AmountCase(cores: nil, limit: 16, capacity: 32, expected: 1),
        AmountCase(cores: ResourceRange(max: 8), limit: 4, capacity: 32, expected: 4),
        AmountCase(cores: ResourceRange(min: 2, max: 8), limit: 16, capacity: 32, booked: 27, expected: 5),
        AmountCase(cores: ResourceRange(min: 2, max: 64), limit: nil, capacity: nil, booked: 500, expected: 64),
        AmountCase(cores: ResourceRange(min: 6, max: 8), limit: 16, capacity: 8, booked: 4, expected: nil, note: .noCapacityInWindow),
        AmountCase(cores: ResourceRange(min: 3, max: 2), limit: 16, capacity: 32, expected: nil, note: .exceedsLimit),
        AmountCase(cores: ResourceRange(min: 20), limit: 16, capacity: 32, expected: nil, note: .exceedsLimit),
    ]
}

@Suite struct PlannerTests {
    typealias F = MatchFixtures
    static let now = Date(timeIntervalSince1970: 1_800_000_000.4)
    static func at(_ s: Double) -> Date { Date(timeIntervalSince1970: 1_800_000_001 + s) }

    static func candidates(_ facilities: [Facility]) -> [MatchCandidate] {
        facilities.map { MatchCandidate(facility: $0, score: MatchScore(colocation: 0, headroom: 0)) }
    }

    @Test(arguments: AmountCase.all)
    func coresAreNegotiatedBetweenMinMaxLimitAndFreeCapacity(_ c: AmountCase) {
        // Given a facility with part of its capacity booked for the next ten hours
        let f = F.facility("f", limits: FacilityLimits(cores: c.limit), capacity: FacilityCapacity(cores: c.capacity))
        let held = c.booked > 0 ? [Booking(facility: f.id, cores: c.booked, memory: 0, start: Self.now.addingTimeInterval(-3_600), end: Self.now.addingTimeInterval(36_000))] : []
        // When a request is planned on it
        let plan = OfferPlanner().plan(F.request(cores: c.cores), candidates: Self.candidates([f]), bookings: held, now: Self.now)
        // Then the first offer has the expected cores, and no offer leaves the allowed range
        #expect(plan.offers.first?.cores == c.expected)
        #expect(plan.notes.map(\.code) == (c.note.map { [$0] } ?? []))
        for offer in plan.offers {
            #expect(offer.cores >= (c.cores?.min ?? 1))
            if let max = c.cores?.max { #expect(offer.cores <= max) }
            if let limit = c.limit { #expect(offer.cores <= limit) }
            #expect(offer.memory == 1)
        }
    }

    @Test func memoryIsNegotiatedLikeCores() throws {
        let f = F.facility("f", limits: FacilityLimits(memory: 48), capacity: FacilityCapacity(memory: 64))
        let held = [Booking(facility: FacilityID("F"), cores: 0, memory: 20, start: Self.now, end: Self.now.addingTimeInterval(7_200))]
        let plan = OfferPlanner().plan(F.request(memory: ResourceRange(min: 8, max: 100)), candidates: Self.candidates([f]), bookings: held, now: Self.now)
        let first = try #require(plan.offers.first)
        #expect(first.memory == 44)
        #expect(plan.offers.dropFirst().allSatisfy { $0.memory == 48 })
    }

    @Test func defaultsFollowTheReferenceBroker() throws {
        let f = F.facility("f")
        let plan = OfferPlanner().plan(F.request(), candidates: Self.candidates([f]), bookings: [], now: Self.now)
        let first = try #require(plan.offers.first)
        #expect(plan.result == "YES")
        #expect(first.start == Self.at(0))
        #expect(first.duration == ISODuration(seconds: 7_200))
        #expect(first.end == Self.at(7_200))
        #expect(first.expires == Self.now.addingTimeInterval(300))
        #expect(first.cores == 1 && first.memory == 1)
        #expect(first.booking == Booking(facility: f.id, cores: 1, memory: 1, start: Self.at(0), end: Self.at(7_200)))
    }

    @Test func theDefaultDurationIsCappedByTheLimitButAnAskedOneIsNot() throws {
        let f = F.facility("f", limits: FacilityLimits(duration: ISODuration(seconds: 3_600)))
        let planner = OfferPlanner()
        let plan = planner.plan(F.request(), candidates: Self.candidates([f]), bookings: [], now: Self.now)
        #expect(try #require(plan.offers.first).duration.seconds == 3_600)
        let refused = planner.plan(F.request(duration: ISODuration(seconds: 7_200)), candidates: Self.candidates([f]), bookings: [], now: Self.now)
        #expect(refused.offers.isEmpty && refused.result == "NO")
        #expect(refused.notes.map(\.code) == [.exceedsLimit])
    }

    @Test func offersStartInsideTheRequestedWindow() {
        let window = TimeWindow(earliest: Self.now.addingTimeInterval(3_600), latest: Self.now.addingTimeInterval(7_200))
        let facilities = (0..<3).map { F.facility("f\($0)", capacity: FacilityCapacity(cores: 4, memory: 64)) }
        let held = [Booking(facility: FacilityID("f1"), cores: 4, memory: 0, start: Self.now, end: Self.now.addingTimeInterval(4_000))]
        let r = F.request(cores: ResourceRange(min: 4), duration: ISODuration(seconds: 1_800), start: window)
        let plan = OfferPlanner().plan(r, candidates: Self.candidates(facilities), bookings: held, now: Self.now)
        #expect(plan.offers.count == 4)
        for offer in plan.offers {
            #expect(offer.start >= window.earliest && offer.start <= window.latest)
        }
        // f1 is busy until now + 4000 s, so it starts at the next whole minute after that.
        #expect(plan.offers.map(\.facility.rawValue) == ["f0", "f1", "f2", "f0"])
        #expect(plan.offers[1].start == Date(timeIntervalSince1970: ((1_800_004_000.4) / 60).rounded(.up) * 60))
        #expect(plan.offers[3].start == plan.offers[0].end)
    }

    @Test func aFullFacilityGivesNoOfferAndSaysWhy() throws {
        let facilities = [F.facility("busy", capacity: FacilityCapacity(cores: 4, memory: 64)), F.facility("free")]
        let held = [Booking(facility: FacilityID("busy"), cores: 4, memory: 0, start: Self.now, end: Self.now.addingTimeInterval(3 * 3_600))]
        let plan = OfferPlanner().plan(F.request(cores: ResourceRange(min: 1)), candidates: Self.candidates(facilities), bookings: held, now: Self.now)
        #expect(Set(plan.offers.map(\.facility)) == [FacilityID("free")])
        let note = try #require(plan.notes.first)
        #expect(note.facility == FacilityID("busy") && note.code == .noCapacityInWindow)
        #expect(plan.offers.first?.rank == 1)
    }

    @Test func nothingIsBookedBeyondTheHorizon() throws {
        let year9999 = try #require(Timestamp.parse("9999-01-01T00:00:00Z"))
        let far = TimeWindow(earliest: year9999, latest: year9999.addingTimeInterval(3_600))
        let plan = OfferPlanner().plan(F.request(start: far), candidates: Self.candidates([F.facility("f")]), bookings: [], now: Self.now)
        #expect(plan.offers.isEmpty)
        #expect(plan.notes.map(\.code) == [.beyondHorizon])
        #expect(plan.notes.first?.message.hasPrefix("schedule.requested.start:") == true)
        // A window that opens now and reaches past the horizon is cut at it: the offer starts now.
        let long = TimeWindow(earliest: Self.now, latest: year9999)
        let cut = OfferPlanner().plan(F.request(start: long), candidates: Self.candidates([F.facility("f")]), bookings: [], now: Self.now)
        #expect(cut.offers.first?.start == Self.at(0))
        #expect(cut.offers.allSatisfy { $0.start <= Self.now.addingTimeInterval(OfferPlanner.Settings().horizon) })
    }

    @Test func aClosedWindowGivesNothing() {
        let past = TimeWindow(earliest: Self.now.addingTimeInterval(-7_200), latest: Self.now.addingTimeInterval(-60))
        let plan = OfferPlanner().plan(F.request(start: past), candidates: Self.candidates([F.facility("f")]), bookings: [], now: Self.now)
        #expect(plan.offers.isEmpty)
        #expect(plan.notes.map(\.code) == [.startWindowClosed])
        let open = TimeWindow(earliest: Self.now.addingTimeInterval(-7_200), latest: Self.now.addingTimeInterval(60))
        #expect(OfferPlanner().plan(F.request(start: open), candidates: Self.candidates([F.facility("f")]), bookings: [], now: Self.now).offers.first?.start == Self.at(0))
    }

    @Test func offersAlternateFacilitiesThenLaterStarts() {
        let facilities = ["a", "b"].map { F.facility($0, capacity: FacilityCapacity(cores: 4, memory: 64)) }
        let r = F.request(cores: ResourceRange(min: 4), duration: ISODuration(seconds: 3_600))
        let plan = OfferPlanner().plan(r, candidates: Self.candidates(facilities), bookings: [], now: Self.now)
        #expect(plan.offers.map(\.facility.rawValue) == ["a", "b", "a", "b"])
        #expect(plan.offers.map(\.start) == [Self.at(0), Self.at(0), Self.at(3_600), Self.at(3_600)])
        #expect(plan.offers.map(\.rank) == [0, 1, 0, 1])
    }

    @Test func oneFacilityGivesSuccessiveStartsUntilTheWindowCloses() {
        let f = F.facility("only", capacity: FacilityCapacity(cores: 4, memory: 64))
        let r = F.request(cores: ResourceRange(min: 3), duration: ISODuration(seconds: 3_600))
        let plan = OfferPlanner().plan(r, candidates: Self.candidates([f]), bookings: [], now: Self.now)
        // The default window is [now, now + 2 h]: starts at 0, 1 h and 2 h.
        #expect(plan.offers.map(\.start) == [Self.at(0), Self.at(3_600), Self.at(7_200)])
    }

    @Test func offerCountsAreCapped() {
        let facilities = (0..<10).map { F.facility("f\($0)") }
        let r = F.request(cores: ResourceRange(min: 1))
        #expect(OfferPlanner().plan(r, candidates: Self.candidates(facilities), bookings: [], now: Self.now).offers.map(\.facility.rawValue) == ["f0", "f1", "f2", "f3"])
        var settings = OfferPlanner.Settings()
        settings.maxOffers = 2
        #expect(OfferPlanner(settings: settings).plan(r, candidates: Self.candidates(facilities), bookings: [], now: Self.now).offers.count == 2)
        settings.maxOffers = 4
        settings.maxOffersPerFacility = 1
        #expect(OfferPlanner(settings: settings).plan(r, candidates: Self.candidates([facilities[0]]), bookings: [], now: Self.now).offers.count == 1)
        settings.maxOffers = 0
        #expect(OfferPlanner(settings: settings).plan(r, candidates: Self.candidates(facilities), bookings: [], now: Self.now).offers.isEmpty)
    }

    @Test func scalingWithoutMaxOffersAMultipleOfMin() throws {
        var settings = OfferPlanner.Settings()
        settings.scaleWithoutMax = 2
        let f = F.facility("f", limits: FacilityLimits(cores: 5))
        let plan = OfferPlanner(settings: settings).plan(F.request(cores: ResourceRange(min: 2), memory: ResourceRange(min: 3)), candidates: Self.candidates([f]), bookings: [], now: Self.now)
        let first = try #require(plan.offers.first)
        #expect(first.cores == 4 && first.memory == 6)
        let capped = OfferPlanner(settings: settings).plan(F.request(cores: ResourceRange(min: 3)), candidates: Self.candidates([f]), bookings: [], now: Self.now)
        #expect(capped.offers.first?.cores == 5)
    }

    @Test func plansFromAMatchOutcomeFollowItsRanking() {
        let facilities = [F.facility("remote"), F.facility("local", rses: ["DESY-DCACHE"]), F.facility("gone", status: .disabled)]
        let r = F.request(rucio: [["DESY-DCACHE"]])
        let plan = OfferPlanner().plan(r, outcome: Matcher.match(r, against: facilities), bookings: [], now: Self.now)
        #expect(plan.offers.map(\.facility.rawValue) == ["local", "remote", "local", "remote"])
        #expect(plan.offers.first?.score.colocation == 1)
    }

    @Test func sequentialPlansNeverOverbook() {
        // Given a few small facilities (one with unknown capacity) and many random requests, planned one after
        // another, each against everything booked so far (offers included)
        let limits = FacilityLimits(cores: 8, memory: 32, duration: ISODuration(seconds: 86_400))
        let sizes: [(Int?, Int?)] = [(8, 32), (12, 24), (16, 64), (24, 96), (nil, nil)]
        let facilities = sizes.enumerated().map { n, size in
            F.facility("f\(n)", limits: limits, capacity: FacilityCapacity(cores: size.0, memory: size.1))
        }
        let index = MatchIndex(facilities)
        let planner = OfferPlanner()
        var rng = SeededGenerator(seed: 2_024)
        var bookings: [Booking] = []
        var noRoom = 0
        var offered = 0
        for n in 0..<250 {
            let now = Self.now.addingTimeInterval(Double(n * 120))
            let minCores = 1 + rng.below(6), minMemory = 1 + rng.below(16)
            let cores = ResourceRange(min: minCores, max: rng.below(2) == 0 ? nil : minCores + rng.below(6))
            let memory = ResourceRange(min: minMemory, max: rng.below(2) == 0 ? nil : minMemory + rng.below(40))
            let duration = ISODuration(seconds: [1_800, 3_600, 7_200, 14_400][rng.below(4)])
            var window: TimeWindow?
            if rng.below(2) == 0 {
                let from = now.addingTimeInterval(Double(rng.below(4 * 3_600)) - 1_800)
                window = TimeWindow(earliest: from, latest: from.addingTimeInterval(Double(rng.below(7_200))))
            }
            let r = F.request(cores: cores, memory: memory, duration: duration, start: window)
            let plan = planner.plan(r, outcome: index.match(r), bookings: bookings, now: now)
            for offer in plan.offers {
                #expect(offer.cores >= minCores && offer.cores <= min(cores.max ?? minCores, 8))
                #expect(offer.memory >= minMemory && offer.memory <= min(memory.max ?? minMemory, 32))
                #expect(offer.start >= max(window?.earliest ?? now, now))
                // Without a window: [now, now + 2 h], measured from now rounded up to a whole second.
                #expect(offer.start <= (window?.latest ?? Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.up) + 7_200)))
                #expect(offer.duration == duration)
            }
            offered += plan.offers.count
            noRoom += plan.notes.filter { $0.code == .noCapacityInWindow }.count
            bookings += plan.bookings
        }
        // Then contention was reached, and at every booking start no facility holds more than its capacity
        #expect(noRoom > 50)
        #expect(offered > 200)
        for f in facilities {
            let mine = bookings.filter { $0.facility == f.id }
            #expect(!mine.isEmpty)
            guard let capCores = f.capacity.cores, let capMemory = f.capacity.memory else { continue }
            for edge in Set(mine.map(\.start)) {
                let live = mine.filter { $0.start <= edge && edge < $0.end }
                #expect(live.map(\.cores).reduce(0, +) <= capCores, "cores overbooked on \(f.id) at \(edge)")
                #expect(live.map(\.memory).reduce(0, +) <= capMemory, "memory overbooked on \(f.id) at \(edge)")
            }
        }
    }

    @Test func planningIsDeterministic() {
        let facilities = SyntheticWorkload.facilities(count: 40, seed: 3)
        let index = MatchIndex(facilities)
        for r in SyntheticWorkload.requests(count: 20, distinctShapes: 20, seed: 4) {
            let o = index.match(r)
            let a = OfferPlanner().plan(r, outcome: o, bookings: [], now: Self.now)
            let b = OfferPlanner().plan(r, outcome: MatchIndex(Array(facilities.reversed())).match(r), bookings: [], now: Self.now)
            #expect(a == b)
            #expect(a.offers.count <= 4)
        }
    }
}

import Foundation
import SkyportBench
import SkyportTestSupport
import Testing
@testable import SkyportCore

@Suite struct CapacityLedgerTests {
    static let now = TestDates.epoch
    static func at(_ s: Double) -> Date { now.addingTimeInterval(s) }
    static func booking(_ f: String = "a", cores: Int = 2, from: Double = 0, to: Double = 3_600) -> Booking {
        Booking(facility: FacilityID(f), cores: cores, memory: 1, start: at(from), end: at(to))
    }

    /// The cores booked on `f` at the instant `t` (seconds after `now`), as a planner at `now` sees them.
    static func booked(_ ledger: inout CapacityLedger, _ f: String, at t: Double, now: Double = 0) -> Int {
        ledger.calendars(for: [FacilityID(f)], now: at(now))[FacilityID(f)]?.peakBooked(from: at(t), to: at(t)).cores ?? 0
    }

    @Test func theDueHeapGivesEntriesInTimeOrderAcrossItsChunks() {
        var random = SeededGenerator(seed: 7)
        var heap = DueHeap()
        var times: [Double] = []
        // Pushes and pops interleaved, over several chunks of 4,096 and back.
        for round in 0..<3 {
            for _ in 0..<5_000 {
                let t = Double(Int.random(in: 0..<1_000_000, using: &random))
                times.append(t)
                heap.push(t, UUID.timeOrdered(at: Self.now, using: &random))
            }
            times.sort()
            let cut = times[times.count / (round + 2)]
            var popped: [Double] = []
            while let (t, _) = heap.popDue(cut) { popped.append(t) }
            #expect(popped == Array(times.prefix { $0 <= cut }))
            times.removeFirst(popped.count)
        }
        var rest: [Double] = []
        while let (t, _) = heap.popDue(.infinity) { rest.append(t) }
        #expect(rest == times)
        #expect(heap.popDue(.infinity) == nil)
    }

    @Test func bookedOffersHoldUntilTheirExpiryWithoutAnyWrite() {
        var ledger = CapacityLedger()
        ledger.book(UUID(), Self.booking(cores: 2), expires: Self.at(300))
        ledger.book(UUID(), Self.booking(cores: 3), expires: Self.at(600))
        #expect(Self.booked(&ledger, "a", at: 100, now: 0) == 5)
        #expect(Self.booked(&ledger, "a", at: 400, now: 299.9) == 5)
        // At its expiry an offer stops holding (an expiry at or before now), the later one still holds.
        #expect(Self.booked(&ledger, "a", at: 400, now: 300) == 3)
        #expect(Self.booked(&ledger, "a", at: 700, now: 600) == 0)
        #expect(ledger.holds.isEmpty)
    }

    @Test func anAcceptedOfferKeepsHoldingPastItsExpiryUntilItsEnd() {
        var ledger = CapacityLedger()
        let id = UUID(), other = UUID()
        ledger.book(id, Self.booking(cores: 2), expires: Self.at(300))
        ledger.book(other, Self.booking(cores: 1), expires: Self.at(300))
        ledger.accept(id)
        // The heap's entry for the accepted offer's old expiry is stale: it releases nothing.
        #expect(Self.booked(&ledger, "a", at: 1_000, now: 301) == 2)
        #expect(ledger.holds[id]?.expires == nil && ledger.holds[other] == nil)
        // Once its booking has ended it is dropped.
        ledger.expire(now: Self.at(3_600))
        #expect(ledger.holds.isEmpty)
        #expect(ledger.calendar(FacilityID("a")) == nil)
    }

    @Test func releaseFreesAtOnceAndTwiceIsHarmless() {
        var ledger = CapacityLedger()
        let id = UUID()
        ledger.book(id, Self.booking(cores: 4), expires: nil)
        #expect(Self.booked(&ledger, "a", at: 10) == 4)
        ledger.release(id)
        ledger.release(id)
        #expect(Self.booked(&ledger, "a", at: 10) == 0)
        ledger.accept(id)  // nothing to accept
        #expect(ledger.holds.isEmpty)
    }

    @Test func rebookingAnOfferWithAnotherExpiryKeepsOnlyTheNewOne() {
        var ledger = CapacityLedger()
        let id = UUID()
        ledger.book(id, Self.booking(cores: 2), expires: Self.at(100))
        ledger.book(id, Self.booking(cores: 2), expires: Self.at(500))
        #expect(Self.booked(&ledger, "a", at: 10, now: 200) == 2)
        #expect(Self.booked(&ledger, "a", at: 10, now: 500) == 0)
    }

    @Test func calendarsAreOnlyThoseOfTheNamedFacilitiesByKey() {
        var ledger = CapacityLedger()
        ledger.book(UUID(), Self.booking("a", cores: 3), expires: nil)
        ledger.book(UUID(), Self.booking("b", cores: 5), expires: nil)
        let calendars = ledger.calendars(for: [FacilityID("A")], now: Self.now)
        #expect(calendars[FacilityID("a")]?.count == 1)
        #expect(calendars[FacilityID("b")] == nil)
        #expect(calendars.count == 1)
    }

    /// The one rule mapping a session's write to the ledger's change, for every phase.
    @Test(arguments: SessionPhase.allCases)
    func aSessionHoldsInTheBookingPhasesOnly(phase: SessionPhase) {
        var s = SessionRecord.sample(facility: "a", phase: .offered, created: Self.now)
        let offered = s
        s.phase = phase
        let change = CapacityLedger.change(from: offered, to: s)
        switch phase {
        case .offered: #expect(change == nil)
        case .accepted, .waiting, .preparing, .available, .running, .releasing:
            #expect(change == .hold(s.id, CapacityLedger.Hold(booking: s.booking, expires: nil)))
        case .initial, .rejected, .expired, .completed, .failed, .cancelled:
            #expect(change == .release(s.id))
            #expect(change?.frees == true)
        }
        // Created in that phase: a hold (an offer with its expiry), or nothing.
        let created = CapacityLedger.change(from: nil, to: s)
        if SessionPhase.booking.contains(phase) {
            #expect(created == .hold(s.id, CapacityLedger.Hold(booking: s.booking, expires: phase == .offered ? s.expires : nil)))
        } else {
            #expect(created == nil)
        }
        // Deleted: released if it held anything.
        #expect(CapacityLedger.change(from: s, to: nil) == (SessionPhase.booking.contains(phase) ? .release(s.id) : nil))
    }

    @Test func rebuildingFromTheHoldsGivesTheLedgerReplayed() {
        var replayed = CapacityLedger()
        var sessions: [SessionRecord] = []
        for i in 0..<20 {
            var s = SessionRecord.sample(facility: ["a", "b"][i % 2], created: Self.now, cores: i % 4 + 1, start: Self.at(Double(i) * 600))
            replayed.apply(CapacityLedger.change(from: nil, to: s))
            let before = s
            s.phase = [.accepted, .rejected, .offered, .running, .cancelled][i % 5]
            replayed.apply(CapacityLedger.change(from: before, to: s))
            sessions.append(s)
        }
        let rebuilt = CapacityLedger(holds: sessions.compactMap { s in CapacityLedger.Hold(s).map { (s.id, $0) } })
        #expect(rebuilt.holds == replayed.holds)
        for f in ["a", "b"] { #expect(rebuilt.calendar(FacilityID(f)) == replayed.calendar(FacilityID(f))) }
    }

    /// Random session writes (made, phase changed, deleted) while time moves on, applied to the ledger by the one rule:
    /// at every step the ledger's calendars answer as a scan of the sessions holding capacity at that instant
    /// (`SessionRecord.holdsCapacity(at:)`, what the stores used to SELECT) would, for every span from then on.
    @Test(arguments: [7 as UInt64, 8, 9])
    func theLedgerAnswersAsAScanOfLiveSessions(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var ledger = CapacityLedger()
        var sessions: [UUID: SessionRecord] = [:]
        let facilities = [FacilityID("a"), FacilityID("b"), FacilityID("c")]
        var t = 0.0
        func write(_ id: UUID, _ new: SessionRecord?) {
            ledger.apply(CapacityLedger.change(from: sessions[id], to: new))
            sessions[id] = new
        }
        for _ in 0..<2_000 {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<4:
                let s = SessionRecord.sample(
                    facility: ["a", "b", "c"][Int.random(in: 0..<3, using: &rng)], created: Self.at(t),
                    lifetime: Double(Int.random(in: 1...30, using: &rng)) * 10, cores: Int.random(in: 0...4, using: &rng),
                    start: Self.at(t + Double(Int.random(in: -10...60, using: &rng)) * 60),
                    duration: ISODuration(seconds: Int.random(in: 0...20, using: &rng) * 300))
                write(s.id, s)
            case 4..<6 where !sessions.isEmpty:
                let id = sessions.keys.sorted { $0.uuidString < $1.uuidString }[Int.random(in: 0..<sessions.count, using: &rng)]
                var s = sessions[id]!
                s.phase = SessionPhase.allCases[Int.random(in: 0..<SessionPhase.allCases.count, using: &rng)]
                write(id, s)
            case 6 where !sessions.isEmpty:
                let id = sessions.keys.sorted { $0.uuidString < $1.uuidString }[Int.random(in: 0..<sessions.count, using: &rng)]
                write(id, nil)
            case 7:
                t += Double(Int.random(in: 0...120, using: &rng))
            default:
                let now = Self.at(t)
                let calendars = ledger.calendars(for: facilities, now: now)
                for f in facilities {
                    // The facility's holders are the sessions whose holds are on it (what its page lists).
                    let held = Set(ledger.holds.filter { $0.value.booking.facility == f }.map(\.key))
                    #expect(Set(ledger.holders(of: f)) == held)
                    let live = sessions.values.filter { $0.facility == f && $0.holdsCapacity(at: now) }.map(\.booking)
                    let expected = CapacityCalendar(capacity: FacilityCapacity(cores: 6), bookings: live)
                    var actual = calendars[f] ?? CapacityCalendar(capacity: FacilityCapacity())
                    actual.capacity = expected.capacity
                    for _ in 0..<4 {
                        let from = now.addingTimeInterval(Double(Int.random(in: 0...90, using: &rng)) * 60)
                        let to = from.addingTimeInterval(Double(Int.random(in: 0...90, using: &rng)) * 60)
                        #expect(actual.peakBooked(from: from, to: to) == expected.peakBooked(from: from, to: to))
                        let cores = Int.random(in: 1...6, using: &rng)
                        let got = actual.earliestStart(notBefore: from, notAfter: nil, cores: cores, memory: 0, duration: 1_800, step: 60)
                        let want = expected.earliestStart(notBefore: from, notAfter: nil, cores: cores, memory: 0, duration: 1_800, step: 60)
                        #expect(got == want)
                    }
                }
            }
        }
    }
}

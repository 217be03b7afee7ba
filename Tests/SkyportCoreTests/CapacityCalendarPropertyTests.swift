import Foundation
import SkyportBench
import Testing
@testable import SkyportCore

/// The calendar as it was before the treap (a sorted edge list rebuilt on every change): the reference the treap
/// must agree with, answer for answer.
struct ReferenceCalendar {
    let capacity: FacilityCapacity
    var bookings: [Booking] = []
    private var times: [Double] = []
    private var usedCores: [Int] = []
    private var usedMemory: [Int] = []

    init(capacity: FacilityCapacity) { self.capacity = capacity }

    mutating func add(_ booking: Booking) {
        bookings.append(booking)
        rebuild()
    }

    mutating func remove(_ booking: Booking) {
        if let i = bookings.firstIndex(of: booking) { bookings.remove(at: i) }
        rebuild()
    }

    private mutating func rebuild() {
        var delta: [Double: (cores: Int, memory: Int)] = [:]
        for b in bookings where b.end > b.start {
            let c = max(0, b.cores), m = max(0, b.memory)
            let s = b.start.timeIntervalSince1970, e = b.end.timeIntervalSince1970
            delta[s, default: (0, 0)].cores += c
            delta[s, default: (0, 0)].memory += m
            delta[e, default: (0, 0)].cores -= c
            delta[e, default: (0, 0)].memory -= m
        }
        times = delta.keys.sorted()
        usedCores = []
        usedMemory = []
        var c = 0, m = 0
        for t in times {
            c += delta[t]?.cores ?? 0
            m += delta[t]?.memory ?? 0
            usedCores.append(c)
            usedMemory.append(m)
        }
    }

    private func segment(at t: Double) -> Int {
        var lo = 0, hi = times.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if times[mid] <= t { lo = mid + 1 } else { hi = mid }
        }
        return lo - 1
    }

    func peakBooked(from: Date, to: Date) -> (cores: Int, memory: Int) {
        let a = from.timeIntervalSince1970, b = to.timeIntervalSince1970
        var i = segment(at: a)
        var cores = i >= 0 ? usedCores[i] : 0
        var memory = i >= 0 ? usedMemory[i] : 0
        i += 1
        while i < times.count, times[i] < b {
            cores = max(cores, usedCores[i])
            memory = max(memory, usedMemory[i])
            i += 1
        }
        return (cores, memory)
    }

    func free(from: Date, to: Date) -> FacilityCapacity {
        let peak = peakBooked(from: from, to: to)
        return FacilityCapacity(cores: capacity.cores.map { max(0, $0 - peak.cores) }, memory: capacity.memory.map { max(0, $0 - peak.memory) })
    }

    func earliestStart(notBefore: Date, notAfter: Date?, cores: Int, memory: Int, duration: TimeInterval, step: TimeInterval) -> Date? {
        let capCores = capacity.cores, capMemory = capacity.memory
        if let capCores, cores > capCores { return nil }
        if let capMemory, memory > capMemory { return nil }
        let latest = notAfter?.timeIntervalSince1970 ?? .infinity
        var s = notBefore.timeIntervalSince1970
        while s <= latest {
            var i = segment(at: s)
            var conflictEnd: Double?
            repeat {
                if i >= 0 {
                    let overCores = capCores.map { usedCores[i] + cores > $0 } ?? false
                    let overMemory = capMemory.map { usedMemory[i] + memory > $0 } ?? false
                    if overCores || overMemory { conflictEnd = i + 1 < times.count ? times[i + 1] : .infinity }
                }
                i += 1
            } while i < times.count && times[i] < s + duration
            guard let end = conflictEnd else { return Date(timeIntervalSince1970: s) }
            guard end.isFinite else { return nil }
            s = step > 0 ? Swift.max(end, (end / step).rounded(.up) * step) : end
        }
        return nil
    }
}

@Suite struct CapacityCalendarPropertyTests {
    let t0 = 1_800_000_000.0

    /// Random bookings, removals and queries (a seeded generator: the same run every time) against the treap and the
    /// reference; every answer must be equal. Times fall on a coarse grid so that edges coincide, bookings overlap
    /// and cancel, and some are empty (end <= start).
    @Test(arguments: [1 as UInt64, 2, 3, 42, 2_026])
    func treapAnswersExactlyAsTheEdgeList(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        let capacities = [FacilityCapacity(cores: 16, memory: 64), FacilityCapacity(cores: 8), FacilityCapacity(memory: 20), FacilityCapacity()]
        let capacity = capacities[Int(seed % UInt64(capacities.count))]
        var treap = CapacityCalendar(capacity: capacity)
        var reference = ReferenceCalendar(capacity: capacity)
        var held: [Booking] = []
        func time(_ r: inout SeededGenerator) -> Double { t0 + Double(Int.random(in: 0..<200, using: &r)) * 30 + (Bool.random(using: &r) ? 0 : 7.5) }
        for op in 0..<3_000 {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<4:
                let s = time(&rng)
                let e = Int.random(in: 0..<12, using: &rng) == 0 ? s - 30 : s + Double(Int.random(in: 0...40, using: &rng)) * 30
                let b = Booking(
                    facility: FacilityID("f"), cores: Int.random(in: -1...6, using: &rng), memory: Int.random(in: 0...12, using: &rng),
                    start: Date(timeIntervalSince1970: s), end: Date(timeIntervalSince1970: e))
                treap.add(b)
                reference.add(b)
                held.append(b)
            case 4..<6 where !held.isEmpty:
                let b = held.remove(at: Int.random(in: 0..<held.count, using: &rng))
                treap.remove(b)
                reference.remove(b)
            default:
                let a = Date(timeIntervalSince1970: time(&rng) - 600), b = Date(timeIntervalSince1970: time(&rng))
                let peak = treap.peakBooked(from: a, to: b), expected = reference.peakBooked(from: a, to: b)
                #expect(peak == expected, "op \(op): peak over [\(a), \(b))")
                #expect(treap.free(from: a, to: b) == reference.free(from: a, to: b))
                let cores = Int.random(in: 0...17, using: &rng), memory = Int.random(in: 0...30, using: &rng)
                let duration = Double(Int.random(in: 0...30, using: &rng)) * 60
                let step: TimeInterval = [0, 1, 60, 45][Int.random(in: 0..<4, using: &rng)]
                let notAfter: Date? = Bool.random(using: &rng) ? nil : b.addingTimeInterval(3_600)
                let start = treap.earliestStart(notBefore: a, notAfter: notAfter, cores: cores, memory: memory, duration: duration, step: step)
                let want = reference.earliestStart(notBefore: a, notAfter: notAfter, cores: cores, memory: memory, duration: duration, step: step)
                #expect(start == want, "op \(op): earliest start of \(cores) cores, \(memory) GiB for \(duration) s from \(a), step \(step)")
            }
            #expect(treap.count == reference.bookings.count)
        }
        // Everything taken away leaves an empty calendar.
        for b in held { treap.remove(b) }
        #expect(treap.count == 0 && treap.edges.isEmpty)
    }

    @Test func copiesShareAndDoNotSeeEachOthersBookings() {
        let cap = FacilityCapacity(cores: 4)
        var a = CapacityCalendar(capacity: cap)
        a.add(Booking(facility: FacilityID("f"), cores: 4, memory: 0, start: Date(timeIntervalSince1970: t0), end: Date(timeIntervalSince1970: t0 + 60)))
        var b = a
        b.add(Booking(facility: FacilityID("f"), cores: 4, memory: 0, start: Date(timeIntervalSince1970: t0 + 60), end: Date(timeIntervalSince1970: t0 + 120)))
        #expect(a.count == 1 && b.count == 2)
        #expect(a.free(from: Date(timeIntervalSince1970: t0 + 60), to: Date(timeIntervalSince1970: t0 + 120)).cores == 4)
        #expect(b.free(from: Date(timeIntervalSince1970: t0 + 60), to: Date(timeIntervalSince1970: t0 + 120)).cores == 0)
    }

    /// A million bookings can be held (a correctness test, not a timing one): counts, peaks and a search over them.
    @Test func aMillionBookings() {
        var cal = CapacityCalendar(capacity: FacilityCapacity(cores: 2_000_001, memory: nil))
        let n = 1_000_000
        for i in 0..<n {
            // Each one minute long, starting on one of 10,000 minutes: at most 100 overlap at any instant.
            let s = t0 + Double(i % 10_000) * 60
            cal.add(Booking(facility: FacilityID("f"), cores: 1, memory: 1, start: Date(timeIntervalSince1970: s), end: Date(timeIntervalSince1970: s + 60)))
        }
        #expect(cal.count == n)
        #expect(cal.peakBooked(from: Date(timeIntervalSince1970: t0), to: Date(timeIntervalSince1970: t0 + 600_000)) == (100, 100))
        #expect(cal.peakBooked(from: Date(timeIntervalSince1970: t0 + 600_000), to: Date(timeIntervalSince1970: t0 + 600_060)) == (0, 0))
        cal.capacity = FacilityCapacity(cores: 150)
        #expect(cal.earliestStart(notBefore: Date(timeIntervalSince1970: t0), notAfter: nil, cores: 51, memory: 0, duration: 60, step: 60)
                == Date(timeIntervalSince1970: t0 + 600_000))
        #expect(cal.earliestStart(notBefore: Date(timeIntervalSince1970: t0), notAfter: nil, cores: 50, memory: 0, duration: 60, step: 60)
                == Date(timeIntervalSince1970: t0))
    }
}

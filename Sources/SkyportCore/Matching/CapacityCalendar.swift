import Foundation

/// One facility's bookings as a step function over their sorted start and end times: answers what is free over a
/// span and when something first fits, by sweeping the edges (no per-minute blocks).
public struct CapacityCalendar: Sendable {
    /// The facility's total capacity; a nil field is unknown and never limits.
    public let capacity: FacilityCapacity
    /// The bookings counted (bookings with `end <= start` hold nothing).
    public private(set) var bookings: [Booking]
    /// Segment `i` is `[times[i], times[i + 1])` (the last one is open-ended) with `usedCores[i]` and `usedMemory[i]`
    /// booked; nothing is booked before `times[0]`, and nothing after the last time, where all bookings have ended.
    private var times: [Double] = []
    private var usedCores: [Int] = []
    private var usedMemory: [Int] = []

    public init(capacity: FacilityCapacity, bookings: [Booking] = []) {
        self.capacity = capacity
        self.bookings = bookings
        rebuild()
    }

    /// Counts one more booking.
    public mutating func add(_ booking: Booking) {
        bookings.append(booking)
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

    /// The index of the segment holding time `t`, or -1 before the first edge.
    private func segment(at t: Double) -> Int {
        var lo = 0, hi = times.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if times[mid] <= t { lo = mid + 1 } else { hi = mid }
        }
        return lo - 1
    }

    /// The most cores and memory booked at any instant of `[from, to)` (the instant `from` when the span is empty).
    public func peakBooked(from: Date, to: Date) -> (cores: Int, memory: Int) {
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

    /// What is free at every instant of `[from, to)`: nil fields are unknown capacity (unlimited); never below 0.
    public func free(from: Date, to: Date) -> FacilityCapacity {
        let peak = peakBooked(from: from, to: to)
        return FacilityCapacity(
            cores: capacity.cores.map { max(0, $0 - peak.cores) },
            memory: capacity.memory.map { max(0, $0 - peak.memory) })
    }

    /// The earliest start `s` in `[notBefore, notAfter]` such that `cores` and `memory` are free throughout
    /// `[s, s + duration)`, or nil. Starts are `notBefore` itself or, after a conflict, the end of the conflicting
    /// booking rounded up to a multiple of `step` seconds (since 1970).
    public func earliestStart(
        notBefore: Date, notAfter: Date?, cores: Int, memory: Int, duration: TimeInterval, step: TimeInterval = 60
    ) -> Date? {
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

import Foundation

/// One facility's bookings as a step function over their start and end times ("edges"): answers what is free over a
/// span and when something first fits. The edges live in a persistent treap keyed by time, each node holding the
/// booked change (cores, memory) at its time and, for its subtree, the sum of the changes and the largest prefix sum,
/// so that adding or removing a booking and every query cost O(log n), however many bookings are held. Nodes are
/// immutable and shared between versions: copying a calendar is O(1) (the planner books tentatively on its copy).
public struct CapacityCalendar: Sendable {
    /// The facility's total capacity; a nil field is unknown and never limits.
    public var capacity: FacilityCapacity
    /// How many bookings are counted (bookings with `end <= start` count here but hold nothing).
    public private(set) var count = 0
    private var root: Node?

    public init(capacity: FacilityCapacity, bookings: [Booking] = []) {
        self.capacity = capacity
        for b in bookings { add(b) }
    }

    /// Counts one more booking: O(log n).
    public mutating func add(_ booking: Booking) {
        count += 1
        shift(booking, by: 1)
    }

    /// Stops counting a booking that was added (the same value): O(log n).
    public mutating func remove(_ booking: Booking) {
        count -= 1
        shift(booking, by: -1)
    }

    /// Adds (`sign` 1) or takes away (-1) a booking's two edges. An edge time stays in the tree while any booking
    /// starts or ends there, even when the changes there cancel out, exactly as the edge list it replaces kept it.
    private mutating func shift(_ b: Booking, by sign: Int) {
        guard b.end > b.start else { return }
        let c = max(0, b.cores) * sign, m = max(0, b.memory) * sign
        root = Node.shift(root, b.start.timeIntervalSince1970, cores: c, memory: m, edges: sign)
        root = Node.shift(root, b.end.timeIntervalSince1970, cores: -c, memory: -m, edges: sign)
    }

    /// The edges in time order with the change at each (for tests and comparisons).
    public var edges: [(time: Double, cores: Int, memory: Int)] {
        var out: [(time: Double, cores: Int, memory: Int)] = []
        func walk(_ n: Node?) {
            guard let n else { return }
            walk(n.left)
            out.append((n.key, n.cores, n.memory))
            walk(n.right)
        }
        walk(root)
        return out
    }

    /// The most cores and memory booked at any instant of `[from, to)` (the instant `from` when the span is empty).
    public func peakBooked(from: Date, to: Date) -> (cores: Int, memory: Int) {
        let a = from.timeIntervalSince1970, b = to.timeIntervalSince1970
        let at = Node.prefix(root, atOrBefore: a)
        guard b > a else { return at }
        let inside = Node.maxPrefix(root, in: a.nextUp, b)
        return (max(at.cores, inside.cores), max(at.memory, inside.memory))
    }

    /// What is free at every instant of `[from, to)`: nil fields are unknown capacity (unlimited); never below 0.
    public func free(from: Date, to: Date) -> FacilityCapacity {
        let peak = peakBooked(from: from, to: to)
        return FacilityCapacity(
            cores: capacity.cores.map { max(0, $0 - peak.cores) },
            memory: capacity.memory.map { max(0, $0 - peak.memory) })
    }

    /// The earliest start `s` in `[notBefore, notAfter]` such that `cores` and `memory` are free throughout
    /// `[s, s + duration)`, or nil. Starts are `notBefore` itself or, after a conflict, the end of the last conflicting
    /// segment in the window rounded up to a multiple of `step` seconds (since 1970). Each jump costs O(log n).
    public func earliestStart(
        notBefore: Date, notAfter: Date?, cores: Int, memory: Int, duration: TimeInterval, step: TimeInterval = 60
    ) -> Date? {
        let capCores = capacity.cores, capMemory = capacity.memory
        if let capCores, cores > capCores { return nil }
        if let capMemory, memory > capMemory { return nil }
        let latest = notAfter?.timeIntervalSince1970 ?? .infinity
        var s = notBefore.timeIntervalSince1970
        while s <= latest {
            // The segments meeting [s, s + duration): the one holding s (it starts at the last edge at or before s),
            // and those starting at edges strictly inside. A segment conflicts when its booked amount exceeds the
            // capacity less what is asked; the search ends past the last conflicting one.
            let conflict = lastConflict(after: s, before: s + duration, capCores: capCores, cores: cores, capMemory: capMemory, memory: memory)
            guard let edge = conflict else { return Date(timeIntervalSince1970: s) }
            guard let end = Node.successor(root, of: edge) else { return nil }
            s = step > 0 ? Swift.max(end, (end / step).rounded(.up) * step) : end
        }
        return nil
    }

    /// The time of the last edge starting a conflicting segment among the segments meeting `[s, e)`, or nil.
    private func lastConflict(after s: Double, before e: Double, capCores: Int?, cores: Int, capMemory: Int?, memory: Int) -> Double? {
        func last(_ dimension: Node.Dimension, _ threshold: Int) -> Double? {
            if e > s, let inside = Node.lastAbove(root, threshold, dimension, from: s.nextUp, to: e) { return inside }
            guard let (time, booked) = Node.floor(root, s, dimension), booked > threshold else { return nil }
            return time
        }
        let c = capCores.flatMap { last(.cores, $0 - cores) }
        let m = capMemory.flatMap { last(.memory, $0 - memory) }
        switch (c, m) {
        case let (c?, m?): return Swift.max(c, m)
        case let (c?, nil): return c
        case let (nil, m?): return m
        case (nil, nil): return nil
        }
    }
}

extension CapacityCalendar: Equatable {
    /// Equal when they hold the same capacity, count and edges (the tree's shape depends only on the edge times).
    public static func == (a: CapacityCalendar, b: CapacityCalendar) -> Bool {
        a.capacity == b.capacity && a.count == b.count
            && a.edges.elementsEqual(b.edges) { $0.time == $1.time && $0.cores == $1.cores && $0.memory == $1.memory }
    }
}

/// A treap node: immutable, shared between calendar versions. Its priority is a hash of its time only, so the tree's
/// shape is a function of the set of edge times (a calendar rebuilt from the store has the shape of one replayed).
private final class Node: Sendable {
    enum Dimension { case cores, memory }

    let key: Double
    let priority: UInt64
    /// The change in booked cores and memory at `key`, and how many booking edges fall there.
    let cores: Int
    let memory: Int
    let edges: Int
    let left: Node?
    let right: Node?
    /// Over the subtree: the smallest and largest time, the sums of the changes, and the largest prefix sum (the most
    /// booked at any of its edges, counting only changes inside the subtree).
    let minKey: Double
    let maxKey: Double
    let sumCores: Int
    let sumMemory: Int
    let peakCores: Int
    let peakMemory: Int

    init(key: Double, priority: UInt64, cores: Int, memory: Int, edges: Int, left: Node?, right: Node?) {
        self.key = key
        self.priority = priority
        self.cores = cores
        self.memory = memory
        self.edges = edges
        self.left = left
        self.right = right
        minKey = left?.minKey ?? key
        maxKey = right?.maxKey ?? key
        let lc = left?.sumCores ?? 0, lm = left?.sumMemory ?? 0
        sumCores = lc + cores + (right?.sumCores ?? 0)
        sumMemory = lm + memory + (right?.sumMemory ?? 0)
        var pc = lc + cores, pm = lm + memory
        if let left { pc = max(pc, left.peakCores); pm = max(pm, left.peakMemory) }
        if let right { pc = max(pc, lc + cores + right.peakCores); pm = max(pm, lm + memory + right.peakMemory) }
        peakCores = pc
        peakMemory = pm
    }

    func with(left: Node?, right: Node?) -> Node {
        Node(key: key, priority: priority, cores: cores, memory: memory, edges: edges, left: left, right: right)
    }

    func sum(_ d: Dimension) -> Int { d == .cores ? sumCores : sumMemory }
    func peak(_ d: Dimension) -> Int { d == .cores ? peakCores : peakMemory }
    func change(_ d: Dimension) -> Int { d == .cores ? cores : memory }

    /// A deterministic priority: SplitMix64 of the time's bits (no global random state).
    static func priority(of key: Double) -> UInt64 {
        var z = (key == 0 ? 0 : key).bitPattern &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The tree with `edges` more edges (fewer, when negative) at `key` changing the booking by (cores, memory); a
    /// time left with no edge is removed. Copies only the path to `key`.
    static func shift(_ n: Node?, _ key: Double, cores: Int, memory: Int, edges: Int) -> Node? {
        guard let n else {
            guard edges > 0 else { return nil }  // a booking never added: nothing to take away
            return Node(key: key, priority: priority(of: key), cores: cores, memory: memory, edges: edges, left: nil, right: nil)
        }
        if key == n.key {
            let e = n.edges + edges
            if e <= 0 { return merge(n.left, n.right) }
            return Node(key: key, priority: n.priority, cores: n.cores + cores, memory: n.memory + memory, edges: e, left: n.left, right: n.right)
        }
        if key < n.key {
            guard let l = shift(n.left, key, cores: cores, memory: memory, edges: edges) else { return n.with(left: nil, right: n.right) }
            if l.priority > n.priority { return l.with(left: l.left, right: n.with(left: l.right, right: n.right)) }
            return n.with(left: l, right: n.right)
        }
        guard let r = shift(n.right, key, cores: cores, memory: memory, edges: edges) else { return n.with(left: n.left, right: nil) }
        if r.priority > n.priority { return r.with(left: n.with(left: n.left, right: r.left), right: r.right) }
        return n.with(left: n.left, right: r)
    }

    /// Joins two treaps whose keys are all ordered (every key of `a` below every key of `b`).
    static func merge(_ a: Node?, _ b: Node?) -> Node? {
        guard let a else { return b }
        guard let b else { return a }
        if a.priority > b.priority { return a.with(left: a.left, right: merge(a.right, b)) }
        return b.with(left: merge(a, b.left), right: b.right)
    }

    /// The amounts booked at time `t`: the sums of the changes at every edge at or before `t`.
    static func prefix(_ root: Node?, atOrBefore t: Double) -> (cores: Int, memory: Int) {
        var c = 0, m = 0, n = root
        while let node = n {
            if node.key <= t {
                c += (node.left?.sumCores ?? 0) + node.cores
                m += (node.left?.sumMemory ?? 0) + node.memory
                n = node.right
            } else {
                n = node.left
            }
        }
        return (c, m)
    }

    /// The last edge at or before `t` with the amount booked from it on in dimension `d`, or nil.
    static func floor(_ root: Node?, _ t: Double, _ d: Dimension) -> (Double, Int)? {
        var sum = 0, found: Double?, n = root
        while let node = n {
            if node.key <= t {
                sum += (node.left?.sum(d) ?? 0) + node.change(d)
                found = node.key
                n = node.right
            } else {
                n = node.left
            }
        }
        return found.map { ($0, sum) }
    }

    /// The first edge strictly after `t`, or nil.
    static func successor(_ root: Node?, of t: Double) -> Double? {
        var found: Double?, n = root
        while let node = n {
            if node.key > t { found = node.key; n = node.left } else { n = node.right }
        }
        return found
    }

    /// The most booked at any edge in `[lo, hi)` (cores and memory apart), or (Int.min, Int.min) when there is none.
    static func maxPrefix(_ root: Node?, in lo: Double, _ hi: Double) -> (cores: Int, memory: Int) {
        var best = (cores: Int.min, memory: Int.min)
        func visit(_ n: Node?, _ beforeC: Int, _ beforeM: Int) {
            guard let n, n.maxKey >= lo, n.minKey < hi else { return }
            if n.minKey >= lo, n.maxKey < hi {
                best = (max(best.cores, beforeC + n.peakCores), max(best.memory, beforeM + n.peakMemory))
                return
            }
            visit(n.left, beforeC, beforeM)
            let c = beforeC + (n.left?.sumCores ?? 0) + n.cores, m = beforeM + (n.left?.sumMemory ?? 0) + n.memory
            if n.key >= lo, n.key < hi { best = (max(best.cores, c), max(best.memory, m)) }
            visit(n.right, c, m)
        }
        visit(root, 0, 0)
        return best
    }

    /// The last edge in `[lo, hi)` from which more than `threshold` is booked in dimension `d`, or nil: a subtree
    /// wholly inside the range whose largest prefix is at most the threshold is skipped whole, so this is O(log n).
    static func lastAbove(_ n: Node?, _ threshold: Int, _ d: Dimension, from lo: Double, to hi: Double, before: Int = 0) -> Double? {
        guard let n, n.maxKey >= lo, n.minKey < hi else { return nil }
        if n.minKey >= lo, n.maxKey < hi, before + n.peak(d) <= threshold { return nil }
        let at = before + (n.left?.sum(d) ?? 0) + n.change(d)
        if let r = lastAbove(n.right, threshold, d, from: lo, to: hi, before: at) { return r }
        if n.key >= lo, n.key < hi, at > threshold { return n.key }
        return lastAbove(n.left, threshold, d, from: lo, to: hi, before: before)
    }
}

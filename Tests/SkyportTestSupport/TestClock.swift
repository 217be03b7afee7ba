import Synchronization

/// A virtual clock for code that takes a `Clock`: `sleep` returns at once, moving the clock's time to the wake-up
/// instant, and is recorded. So a retry or polling loop runs through its schedule in no real time, and the test
/// asserts on the pauses asked for (`sleeps`) instead of on wall-clock durations.
public final class TestClock: Clock, Sendable {
    public struct Instant: InstantProtocol, Hashable, Sendable {
        /// Time since the clock was made.
        public var offset: Duration

        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleeps: [Duration] = []
    }

    private let state = Mutex(State())

    public init() {}

    public var now: Instant { state.withLock { $0.now } }
    public var minimumResolution: Duration { .zero }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        try Task.checkCancellation()
        state.withLock { s in
            s.sleeps.append(s.now.duration(to: deadline))
            if deadline > s.now { s.now = deadline }
        }
        await Task.yield()
    }

    /// Moves the clock on by `duration` (as if that much time had passed outside any sleep).
    public func advance(by duration: Duration) {
        state.withLock { $0.now = $0.now.advanced(by: duration) }
    }

    /// The pauses asked for so far, in order.
    public var sleeps: [Duration] { state.withLock { $0.sleeps } }
}

/// The continuous clock, recording the pauses asked of it: for code run against a real peer, where time must pass
/// for real but the test asserts on whether the code paused, not on how long anything took.
public final class RecordingClock: Clock, Sendable {
    public typealias Instant = ContinuousClock.Instant

    private let base = ContinuousClock()
    private let recorded = Mutex<[Duration]>([])

    public init() {}

    public var now: Instant { base.now }
    public var minimumResolution: Duration { base.minimumResolution }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        recorded.withLock { $0.append(base.now.duration(to: deadline)) }
        try await base.sleep(until: deadline, tolerance: tolerance)
    }

    /// The pauses asked for so far, in order.
    public var sleeps: [Duration] { recorded.withLock { $0 } }
}

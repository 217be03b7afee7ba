/// Admission of offer requests, the broker's most expensive work (match, plan and book, store, answer), so that a
/// broker asked for more than its cores can do refuses the excess at once instead of letting every request wait
/// longer and longer (at 1,000 requests a second with a tenth accepted, two cores fell behind and the wait of every
/// request grew to seconds).
///
/// At most `limit` requests run at once; more wait, in order of arrival, and start as running ones finish. A queue
/// that stands is overload, told from a burst as CoDel tells it: a request that waited longer than `target` before
/// starting with others still waiting behind it, and requests still waiting that long `interval` later. While
/// overloaded, a request that cannot start at once is refused (the caller answers 503 with `Retry-After`), and the
/// queue drains; the overload ends when a request starts after a short wait or nothing waits. A burst (a stall of the store, a flood of connections) is queued and
/// served, not refused. At most `maxWaiting` wait whatever happens.
///
/// Pure: times are given (any monotonic origin), and the caller keeps the tickets' continuations.
public struct Admission: Sendable {
    public struct Settings: Sendable, Hashable {
        public var limit: Int
        public var target: Duration
        public var interval: Duration
        public var maxWaiting: Int

        public init(limit: Int, target: Duration = .milliseconds(20), interval: Duration = .milliseconds(200), maxWaiting: Int = 4_096) {
            self.limit = limit
            self.target = target
            self.interval = interval
            self.maxWaiting = maxWaiting
        }
    }

    public enum Arrival: Sendable, Hashable {
        case start
        /// Wait for `finish` to name this ticket.
        case wait(UInt64)
        case refuse
    }

    public let settings: Settings
    public private(set) var running = 0
    private var waiting: [(ticket: UInt64, since: Duration)] = []
    /// Where the queue's head is in `waiting` (taken by index; the array is compacted when half of it is taken).
    private var head = 0
    private var nextTicket: UInt64 = 0
    /// When the waits seen above `target` make an overload, if they last (nil while they are short).
    private var aboveUntil: Duration?
    public private(set) var overloaded = false
    /// Requests refused so far.
    public private(set) var refused = 0
    /// Requests that could not start at once and waited, so far.
    public private(set) var waited = 0

    /// What the gate is doing, for metrics and tests.
    public struct Counts: Sendable, Hashable {
        public var limit: Int
        public var running: Int
        public var waiting: Int
        public var overloaded: Bool
        /// Since the gate was made.
        public var refused: Int
        public var waited: Int

        public init(limit: Int, running: Int, waiting: Int, overloaded: Bool, refused: Int, waited: Int) {
            (self.limit, self.running, self.waiting, self.overloaded, self.refused, self.waited) = (limit, running, waiting, overloaded, refused, waited)
        }
    }

    public var counts: Counts {
        Counts(limit: settings.limit, running: running, waiting: waitingCount, overloaded: overloaded, refused: refused, waited: waited)
    }

    public init(_ settings: Settings) {
        self.settings = settings
    }

    public var waitingCount: Int { waiting.count - head }

    public mutating func arrive(at now: Duration) -> Arrival {
        if running < settings.limit, waitingCount == 0 {
            running += 1
            return .start
        }
        guard !overloaded, waitingCount < settings.maxWaiting else {
            refused += 1
            return .refuse
        }
        nextTicket += 1
        waited += 1
        waiting.append((nextTicket, now))
        return .wait(nextTicket)
    }

    /// A running request finished: the ticket that starts in its place, if one waits.
    public mutating func finish(at now: Duration) -> UInt64? {
        running -= 1
        guard let next = dequeue() else {
            (overloaded, aboveUntil) = (false, nil)
            return nil
        }
        running += 1
        if waitingCount == 0 {
            // No queue stands behind it, however long it waited.
            (overloaded, aboveUntil) = (false, nil)
        } else {
            judge(waited: now - next.since, now: now)
        }
        return next.ticket
    }

    private mutating func dequeue() -> (ticket: UInt64, since: Duration)? {
        guard head < waiting.count else { return nil }
        let next = waiting[head]
        head += 1
        if head == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1_024, head * 2 >= waiting.count {
            waiting.removeFirst(head)
            head = 0
        }
        return next
    }

    private mutating func judge(waited: Duration, now: Duration) {
        guard waited > settings.target else {
            (overloaded, aboveUntil) = (false, nil)
            return
        }
        guard let until = aboveUntil else {
            aboveUntil = now + settings.interval
            return
        }
        if now >= until { overloaded = true }
    }
}

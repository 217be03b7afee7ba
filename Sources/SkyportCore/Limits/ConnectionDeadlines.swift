/// How long a client connection may take over each part of its life (nil: no limit on that part).
public struct ConnectionTimeouts: Sendable, Equatable {
    /// Between requests on a kept-alive connection, with nothing sent.
    public var idle: Duration?
    /// From the connection's opening (or the first byte of the next request) until the request's head is complete.
    public var header: Duration?
    /// From the end of the request's head until the end of its body.
    public var body: Duration?

    public init(idle: Duration? = .seconds(60), header: Duration? = .seconds(10), body: Duration? = .seconds(60)) {
        self.idle = idle
        self.header = header
        self.body = body
    }
}

/// The deadlines of one client connection, as a state machine on plain values: the connection's handler feeds it
/// what happens (bytes arrived, a request's head or end decoded, a response ended) with the time since the
/// connection opened, and asks it for the next deadline and what to do when it passes. Each timeout counts the
/// whole of its part, never the gap between two bytes, so a client that sends one byte every few seconds is cut off
/// all the same (slowloris).
public struct ConnectionDeadlines: Sendable, Equatable {
    public enum Part: String, Sendable, Equatable {
        case idle, header, body
    }

    enum Phase: Equatable {
        /// Waiting for a request's head to be complete, since `since`.
        case header(since: Duration)
        /// Reading a request's body, since `since`.
        case body(since: Duration)
        /// Every request read; the answer is being made (no deadline: a long poll may take its time).
        case responding
        /// Nothing in flight since `since`.
        case idle(since: Duration)
    }

    public let timeouts: ConnectionTimeouts
    private(set) var phase: Phase
    /// Requests whose response has not ended.
    public private(set) var inFlight = 0
    /// Whether the response of the oldest request in flight has begun.
    public private(set) var responseStarted = false

    /// A connection opened at time zero: its first request's head is due within the header timeout.
    public init(_ timeouts: ConnectionTimeouts) {
        self.timeouts = timeouts
        self.phase = .header(since: .zero)
    }

    /// Bytes arrived: on an idle connection they start the next request, and its header deadline.
    public mutating func bytesArrived(at now: Duration) {
        if case .idle = phase { phase = .header(since: now) }
    }

    /// A request's head is complete.
    public mutating func headReceived(at now: Duration) {
        inFlight += 1
        phase = .body(since: now)
    }

    /// A request's body is complete.
    public mutating func requestEnded(at now: Duration) {
        if case .body = phase { phase = .responding }
    }

    /// A response's head was written.
    public mutating func responseBegan() {
        responseStarted = true
    }

    /// A response ended: with nothing else in flight the connection is idle.
    public mutating func responseEnded(at now: Duration) {
        inFlight = max(0, inFlight - 1)
        responseStarted = false
        if inFlight == 0, phase == .responding { phase = .idle(since: now) }
    }

    /// The next deadline and the part it closes, or nil when none applies now.
    public var deadline: (at: Duration, part: Part)? {
        switch phase {
        case .header(let since): return timeouts.header.map { (since + $0, .header) }
        case .body(let since): return timeouts.body.map { (since + $0, .body) }
        case .idle(let since): return timeouts.idle.map { (since + $0, .idle) }
        case .responding: return nil
        }
    }

    /// What to do when a timer set for the deadline fires at `now`.
    public enum Action: Sendable, Equatable {
        /// The deadline passed: close the connection; `answer408` when the client is owed a `408 Request Timeout`
        /// (it is sending a request and no response of it has begun).
        case close(Part, answer408: Bool)
        /// Not yet (or a new deadline): set a timer for this time.
        case wait(until: Duration)
        /// No deadline applies now.
        case none
    }

    public func timerFired(at now: Duration) -> Action {
        guard let (at, part) = deadline else { return .none }
        guard now >= at else { return .wait(until: at) }
        switch part {
        case .idle: return .close(.idle, answer408: false)
        case .header: return .close(.header, answer408: inFlight == 0)
        case .body: return .close(.body, answer408: inFlight > 0 && !responseStarted)
        }
    }
}

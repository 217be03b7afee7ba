import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import Prometheus
import SkyportCore
import Synchronization

/// The limits every client connection lives under: a cap on open connections and the idle, header and body
/// timeouts (`SKYPORT_MAX_CONNECTIONS`, `SKYPORT_IDLE_TIMEOUT`, `SKYPORT_HEADER_TIMEOUT`, `SKYPORT_BODY_TIMEOUT`).
public struct ConnectionLimits: Sendable {
    public var timeouts: ConnectionTimeouts
    /// Open connections at most; the next one is answered `503` with `Retry-After` and closed.
    public var maxConnections: Int
    /// What a refused connection is told to wait, in seconds.
    public var retryAfterSeconds: Int
    /// How long a connection closed on a client that may still be sending is drained before it is dropped (so the
    /// client reads the answer instead of a reset).
    public var lingerTime: Duration
    /// Refused connections answered `503` (each holds its file descriptor up to `lingerTime`) beyond the cap; past
    /// `maxConnections + answeredRefusals` open, a new connection is closed at once without an answer, so that a
    /// flood of connections can never hold more than this many descriptors beyond the cap.
    public var answeredRefusals: Int

    public init(
        timeouts: ConnectionTimeouts = .init(), maxConnections: Int = 4_096, retryAfterSeconds: Int = 1, lingerTime: Duration = .seconds(1),
        answeredRefusals: Int = 128
    ) {
        self.timeouts = timeouts
        self.maxConnections = maxConnections
        self.retryAfterSeconds = retryAfterSeconds
        self.lingerTime = lingerTime
        self.answeredRefusals = answeredRefusals
    }
}

/// The server's open connections, counted across every event loop, and what the limits did; also in `/metrics`
/// (`skyport_http_connections_open`, `skyport_http_connections_refused_total`,
/// `skyport_http_connections_timed_out_total{timeout="header|body|idle"}`).
public final class ConnectionCounter: Sendable {
    private let open = Atomic<Int>(0)
    private let peakOpen = Atomic<Int>(0)
    private let refusedCount = Atomic<Int>(0)
    private let timedOutCount = Atomic<Int>(0)
    private let openGauge: Gauge?
    private let refusedCounter: Counter?
    private let timeoutCounters: [ConnectionDeadlines.Part: Counter]

    public init(metrics: PrometheusCollectorRegistry? = nil) {
        openGauge = metrics?.makeGauge(
            descriptor: MetricNameDescriptor(namespace: "skyport", subsystem: "http", metricName: "connections_open", helpText: "Client connections open now"))
        refusedCounter = metrics?.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "skyport", subsystem: "http", metricName: "connections_refused", unitName: "total",
                helpText: "Client connections refused because SKYPORT_MAX_CONNECTIONS were open"))
        var timeouts: [ConnectionDeadlines.Part: Counter] = [:]
        if let metrics {
            for part in [ConnectionDeadlines.Part.header, .body, .idle] {
                timeouts[part] = metrics.makeCounter(
                    descriptor: MetricNameDescriptor(
                        namespace: "skyport", subsystem: "http", metricName: "connections_timed_out", unitName: "total",
                        helpText: "Client connections closed by the header, body or idle timeout"),
                    labels: [("timeout", part.rawValue)])
            }
        }
        timeoutCounters = timeouts
    }

    /// Connections open now (refused ones included until they are closed).
    public var current: Int { open.load(ordering: .relaxed) }
    /// Connections refused because the cap was reached, since start.
    public var refused: Int { refusedCount.load(ordering: .relaxed) }
    /// Connections closed by a timeout, since start.
    public var timedOut: Int { timedOutCount.load(ordering: .relaxed) }

    /// The most connections open at once since the last call, which starts the next period at the number open now.
    public func takePeak() -> Int {
        let now = current
        return max(now, peakOpen.exchange(now, ordering: .relaxed))
    }

    func opened() -> Int {
        openGauge?.increment()
        let n = open.wrappingAdd(1, ordering: .relaxed).newValue
        _ = peakOpen.max(n, ordering: .relaxed)
        return n
    }
    func closed() {
        openGauge?.decrement()
        open.wrappingSubtract(1, ordering: .relaxed)
    }
    func countRefusal() {
        refusedCounter?.increment()
        refusedCount.wrappingAdd(1, ordering: .relaxed)
    }
    func countTimeout(_ part: ConnectionDeadlines.Part) {
        timeoutCounters[part]?.increment()
        timedOutCount.wrappingAdd(1, ordering: .relaxed)
    }
}

/// Hummingbird's HTTP/1.1 child channel with Skyport's connection guard in front: a handler at the head of each
/// connection's pipeline (raw bytes: the cap, the deadlines, the answers it writes itself) and one beside the HTTP
/// decoder (the request and response parts that move the deadlines on).
public struct GuardedHTTP1Channel: ServerChildChannel {
    public typealias Value = HTTP1Channel.Value

    let base: HTTP1Channel
    let limits: ConnectionLimits
    let counter: ConnectionCounter

    public init(responder: @escaping HTTPChannelHandler.Responder, limits: ConnectionLimits, counter: ConnectionCounter) {
        self.base = HTTP1Channel(responder: responder, configuration: .init())
        self.limits = limits
        self.counter = counter
    }

    /// The server builder `Application` takes.
    public static func builder(limits: ConnectionLimits, counter: ConnectionCounter) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in GuardedHTTP1Channel(responder: responder, limits: limits, counter: counter) }
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        // Called on the channel's event loop.
        let connection = ConnectionGuardHandler(limits: limits, counter: counter, logger: logger)
        do {
            try channel.pipeline.syncOperations.addHandler(connection, position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return base.setup(channel: channel, logger: logger).assumeIsolated().flatMapThrowing { value in
            let decoder = try channel.pipeline.syncOperations.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(HTTPPartObserver(connection: connection), position: .after(decoder.handler))
            return value
        }.nonisolated()
    }

    public func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// At the head of a connection's pipeline: counts the connection against the cap (answering `503` and closing
/// beyond it), and keeps its deadlines (`ConnectionDeadlines`): a request's head must be complete within the header
/// timeout, its body within the body timeout, and a kept-alive connection that sends nothing is closed after the
/// idle timeout. A client cut off while sending a request is answered `408` first.
final class ConnectionGuardHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let limits: ConnectionLimits
    private let counter: ConnectionCounter
    private let logger: Logger
    private var deadlines: ConnectionDeadlines
    private var opened = NIODeadline.now()
    private var started = false
    private var counted = false
    /// Answered by the guard itself: input is dropped until the connection closes.
    private var finished = false
    private var timer: Scheduled<Void>?
    private var timerAt: Duration?
    private weak var context: ChannelHandlerContext?

    init(limits: ConnectionLimits, counter: ConnectionCounter, logger: Logger) {
        self.limits = limits
        self.counter = counter
        self.logger = logger
        self.deadlines = ConnectionDeadlines(limits.timeouts)
    }

    private var now: Duration {
        let ns = NIODeadline.now().uptimeNanoseconds &- opened.uptimeNanoseconds
        return .nanoseconds(Int64(clamping: ns))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if counted {
            counted = false
            counter.closed()
        }
        self.context = nil
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        opened = .now()
        counted = true
        let open = counter.opened()
        if open > limits.maxConnections + limits.answeredRefusals {
            // Even the refusals are at their limit: drop the connection now (it held its descriptor for this
            // callback only).
            counter.countRefusal()
            finished = true
            context.close(promise: nil)
            return
        }
        if open > limits.maxConnections {
            counter.countRefusal()
            logger.debug("connection refused: too many open", metadata: ["open": .stringConvertible(open - 1), "max": .stringConvertible(limits.maxConnections)])
            answerAndClose(
                context, status: "503 Service Unavailable", code: "too-many-connections",
                message: "this broker has as many open connections as it allows (\(limits.maxConnections)); try again shortly",
                extraHeaders: "Retry-After: \(limits.retryAfterSeconds)\r\n")
            return
        }
        reschedule(context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        deadlines.bytesArrived(at: now)
        reschedule(context)
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if finished, let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed {
            // The client has read the answer and closed its side.
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: what the part observer reports

    func headReceived() { update { $0.headReceived(at: now) } }
    func requestEnded() { update { $0.requestEnded(at: now) } }
    func responseBegan() { update { $0.responseBegan() } }
    func responseEnded() { update { $0.responseEnded(at: now) } }

    private func update(_ change: (inout ConnectionDeadlines) -> Void) {
        change(&deadlines)
        if let context { reschedule(context) }
    }

    // MARK: the timer

    /// Makes the one timer match the next deadline.
    private func reschedule(_ context: ChannelHandlerContext) {
        guard !finished else { return }
        let next = deadlines.deadline?.at
        guard next != timerAt else { return }
        timer?.cancel()
        timer = nil
        timerAt = next
        guard let next else { return }
        let when = opened + .nanoseconds(Int64(clamping: next.components.seconds) &* 1_000_000_000 &+ next.components.attoseconds / 1_000_000_000)
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: when) { [weak self] in
            self?.timerFired()
        }
    }

    private func timerFired() {
        timer = nil
        timerAt = nil
        guard let context, !finished else { return }
        switch deadlines.timerFired(at: now) {
        case .none:
            return
        case .wait:
            reschedule(context)
        case .close(let part, let answer408):
            counter.countTimeout(part)
            logger.debug("connection closed: \(part.rawValue) timeout", metadata: ["timeout": .string(part.rawValue)])
            if answer408 {
                let seconds = (part == .header ? limits.timeouts.header : limits.timeouts.body)?.components.seconds ?? 0
                let what = part == .header ? "head" : "body"
                answerAndClose(
                    context, status: "408 Request Timeout", code: "request-timeout",
                    message: "the request's \(what) was not complete within \(seconds) s", extraHeaders: "")
            } else {
                finished = true
                context.close(promise: nil)
            }
        }
    }

    /// Writes a complete JSON error answer straight to the socket, closes the output, and drops the connection once
    /// the client has closed its side or the linger time has passed.
    private func answerAndClose(_ context: ChannelHandlerContext, status: String, code: String, message: String, extraHeaders: String) {
        finished = true
        timer?.cancel()
        timer = nil
        let statusCode = status.prefix(3)
        // RFC 9457 problem details, as every other error (APIError.Problem), keys in the canonical order.
        let title = status.dropFirst(4)
        let body = #"{"code":"\#(code)","detail":"\#(message)","status":\#(statusCode),"title":"\#(title)","type":"\#(APIError.problemType(code))"}"#
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(APIError.problemMediaType)\r\nContent-Length: \(body.utf8.count)\r\n\(extraHeaders)Connection: close\r\n\r\n"
        let buffer = context.channel.allocator.buffer(string: head + body)
        let loop = context.eventLoop.assumeIsolatedUnsafeUnchecked()
        let channel = context.channel
        context.writeAndFlush(NIOAny(buffer)).whenComplete { _ in
            channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
        }
        loop.scheduleTask(in: .nanoseconds(Int64(limits.lingerTime.components.seconds) * 1_000_000_000 + limits.lingerTime.components.attoseconds / 1_000_000_000)) {
            channel.close(promise: nil)
        }
    }
}

/// Beside the HTTP/1 decoder: tells the connection guard when a request's head and end were read and when a
/// response began and ended; after a malformed request (an `HTTPParserError`), closes the connection once the
/// answer to it has been written.
final class HTTPPartObserver: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let connection: ConnectionGuardHandler
    private var malformed = false

    init(connection: ConnectionGuardHandler) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: connection.headReceived()
        case .end: connection.requestEnded()
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError { malformed = true }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head:
            connection.responseBegan()
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            connection.responseEnded()
            guard malformed else {
                context.write(data, promise: promise)
                return
            }
            // The rest of the input cannot be read as HTTP: the answer is the last thing on this connection.
            let channel = context.channel
            context.writeAndFlush(data).whenComplete { result in
                promise?.completeWith(result)
                channel.close(promise: nil)
            }
        }
    }
}

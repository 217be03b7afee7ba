import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The client side of `skyport bench load`, on one event loop thread: requests are issued at their scheduled times,
/// each goes out on a free keep-alive connection (at most `connections` of them, opened before the first request),
/// and a request that finds none waits in a queue, a wait that counts in its latency. Nothing is shared between
/// threads, so a request costs the generator a few tens of microseconds; the client it replaces (AsyncHTTPClient
/// and a task per request) took a third of a core at 1,000 requests a second, on the cores the broker was measured on.
///
/// Confined to `loop`: every method runs on it (`run` hands over to it).
public final class OpenLoopDriver: @unchecked Sendable {
    /// What a request is for: the `i`th of the run, or one of the two calls that follow an offer set.
    enum Purpose { case scheduled(Int), readOffers, accept }

    struct Request {
        var head: HTTPRequestHead
        var body: ByteBuffer?
        var purpose: Purpose
        /// From when its latency counts: its scheduled time, or when a follow-up was issued.
        var issued: NIODeadline
    }

    public struct Plan: Sendable {
        public var host: String
        public var port: Int
        public var path: String
        public var method: HTTPMethod
        public var bodies: [ByteBuffer]
        public var authorization: String?
        public var rate: Double
        public var total: Int
        public var connections: Int
        public var timeout: TimeAmount
        public var expected: Set<Int>
        public var acceptEvery: Int

        public init(
            host: String, port: Int, path: String, method: HTTPMethod, bodies: [ByteBuffer], authorization: String?, rate: Double, total: Int,
            connections: Int, timeout: TimeAmount, expected: Set<Int>, acceptEvery: Int
        ) {
            (self.host, self.port, self.path, self.method, self.bodies, self.authorization) = (host, port, path, method, bodies, authorization)
            (self.rate, self.total, self.connections, self.timeout, self.expected, self.acceptEvery) = (rate, total, connections, timeout, expected, acceptEvery)
        }
    }

    public let plan: Plan
    public let loop: any EventLoop
    private let headers: [HTTPHeaders]
    private var start = NIODeadline.now()
    private var next = 0
    private var queue: [Request] = []
    private var queueHead = 0
    private var slots: [Slot] = []
    private var done: EventLoopPromise<Void>?

    /// The scheduled requests', the offer set reads' and the accepts' results; sets read that had no offer.
    public private(set) var results = LoadResults()
    public private(set) var reads = LoadResults()
    public private(set) var accepts = LoadResults()
    public private(set) var withoutOffers = 0
    private(set) var finishedAt = NIODeadline.now()

    /// One of the connections: its handler while it is connected. Confined to the loop, as the driver is.
    final class Slot: @unchecked Sendable {
        var handler: ResponseHandler?
        var connecting = false
    }

    public init(plan: Plan, loop: any EventLoop) {
        self.plan = plan
        self.loop = loop
        headers = (plan.bodies.isEmpty ? [nil] : plan.bodies.map { Optional($0) }).map { Self.headers(plan, body: $0) }
    }

    /// A request's headers: the host, the token, and the body's type and length.
    private static func headers(_ plan: Plan, body: ByteBuffer?) -> HTTPHeaders {
        var h = HTTPHeaders([("Host", "\(plan.host):\(plan.port)")])
        if let authorization = plan.authorization { h.add(name: "Authorization", value: authorization) }
        if let body {
            h.add(name: "Content-Type", value: "application/json")
            h.add(name: "Content-Length", value: String(body.readableBytes))
        }
        return h
    }

    /// Opens the connections, sends every request at its time (the first 100 ms after the connections are up) and
    /// its follow-ups, and returns when all have been answered or have failed.
    public func run() async throws {
        try await loop.flatSubmit { () -> EventLoopFuture<Void> in
            self.slots = (0..<self.plan.connections).map { _ in Slot() }
            let opened = self.slots.map { self.connect($0) }
            return EventLoopFuture.andAllComplete(opened, on: self.loop).flatMap {
                let promise = self.loop.makePromise(of: Void.self)
                self.done = promise
                self.start = .now() + .milliseconds(100)
                self.loop.scheduleTask(deadline: self.start) { self.tick() }
                self.sweep()
                return promise.futureResult
            }
        }.get()
    }

    /// The run's length so far: from the first scheduled time to the last answer.
    public var elapsed: TimeAmount { finishedAt - start }

    private func due(_ i: Int) -> NIODeadline { start + .nanoseconds(Int64((Double(i) * 1e9 / plan.rate).rounded())) }

    /// Issues every request now due, and wakes again at the next one's time.
    private func tick() {
        let now = NIODeadline.now()
        while next < plan.total, due(next) <= now {
            let b = plan.bodies.isEmpty ? 0 : next % plan.bodies.count
            enqueue(Request(
                head: HTTPRequestHead(version: .http1_1, method: plan.method, uri: plan.path, headers: headers[b]),
                body: plan.bodies.isEmpty ? nil : plan.bodies[b], purpose: .scheduled(next), issued: due(next)))
            next += 1
        }
        if next < plan.total { loop.scheduleTask(deadline: due(next)) { self.tick() } } else { finishIfDone() }
    }

    private func enqueue(_ request: Request) {
        queue.append(request)
        dispatch()
    }

    /// Gives waiting requests to free connections, oldest first.
    private func dispatch() {
        for slot in slots where queueHead < queue.count {
            guard let handler = slot.handler, handler.open, handler.request == nil else { continue }
            let request = queue[queueHead]
            queueHead += 1
            handler.send(request)
        }
        if queueHead > 1_024, queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
    }

    private func connect(_ slot: Slot) -> EventLoopFuture<Void> {
        slot.connecting = true
        let connected = ClientBootstrap(group: loop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseHandler(driver: self, slot: slot))
                }
            }
            .connect(host: plan.host, port: plan.port)
            .map { channel in slot.handler = try? channel.pipeline.syncOperations.handler(type: ResponseHandler.self) }
        connected.whenComplete { _ in
            slot.connecting = false
            self.dispatch()
        }
        return connected
    }

    /// The answer to the request `handler` carried.
    fileprivate func answered(_ handler: ResponseHandler, status: Int?, location: String?, body: ByteBuffer?) {
        guard let request = handler.request else { return }
        handler.request = nil
        complete(request, status: status, location: location, body: body)
    }

    /// Records what became of `request` (`status` nil: it failed), and issues what follows it.
    private func complete(_ request: Request, status: Int?, location: String?, body: ByteBuffer?) {
        let now = NIODeadline.now()
        let latency = Duration.nanoseconds((now - request.issued).nanoseconds)
        switch request.purpose {
        case .scheduled(let i):
            let second = Int(Double(i) / plan.rate)
            results.add(latency: latency, status: status, ok: status.map(plan.expected.contains) ?? false, second: second)
            // A set on another server is not followed: it counts as a failed read (as an offer there as a failed accept).
            if plan.acceptEvery > 0, i % plan.acceptEvery == 0, status == 303, let location {
                if let path = sameOrigin(location) {
                    enqueue(Request(head: head(.GET, path, body: nil), body: nil, purpose: .readOffers, issued: now))
                } else {
                    reads.add(latency: .zero, status: nil, ok: false)
                }
            }
        case .readOffers:
            reads.add(latency: latency, status: status, ok: status == 200)
            if status == 200 {
                if let offer = body.flatMap(Self.firstOffer) {
                    if let path = sameOrigin(offer) {
                        let accept = ByteBuffer(string: #"{"kind":"uri:enum-value-update","path":"phase","value":"ACCEPTED"}"#)
                        enqueue(Request(head: head(.POST, path, body: accept), body: accept, purpose: .accept, issued: now))
                    } else {
                        accepts.add(latency: .zero, status: nil, ok: false)
                    }
                } else {
                    withoutOffers += 1
                }
            }
        case .accept:
            accepts.add(latency: latency, status: status, ok: status == 200)
        }
        dispatch()
        finishIfDone()
    }

    /// `handler`'s connection closed: what it carried failed, and another connection takes its place.
    fileprivate func closed(_ handler: ResponseHandler) {
        let slot = handler.slot
        if slot.handler === handler { slot.handler = nil }
        answered(handler, status: nil, location: nil, body: nil)
        if done != nil, slot.handler == nil, !slot.connecting { connect(slot).whenFailure { _ in } }  // else: at the next sweep
    }

    /// Every 100 ms: requests older than the timeout fail (one on a connection closes it), and slots left without
    /// a connection try again.
    private func sweep() {
        guard done != nil else { return }
        let now = NIODeadline.now()
        while queueHead < queue.count, now - queue[queueHead].issued > plan.timeout {
            queueHead += 1
            complete(queue[queueHead - 1], status: nil, location: nil, body: nil)
        }
        for slot in slots {
            if let handler = slot.handler, let request = handler.request, now - request.issued > plan.timeout { handler.close() }
            if slot.handler == nil, !slot.connecting { connect(slot).whenFailure { _ in } }
        }
        loop.scheduleTask(in: .milliseconds(100)) { self.sweep() }
    }

    private func finishIfDone() {
        guard next == plan.total, queueHead == queue.count, slots.allSatisfy({ $0.handler?.request == nil }), let done else { return }
        self.done = nil
        finishedAt = .now()
        for slot in slots { slot.handler?.close() }
        done.succeed()
    }

    private func head(_ method: HTTPMethod, _ path: String, body: ByteBuffer?) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: Self.headers(plan, body: body))
    }

    /// The path of a URL on the server under load (a relative one as it is); nil for another server's.
    private func sameOrigin(_ url: String) -> String? {
        if url.hasPrefix("/") { return url }
        guard let parts = URLComponents(string: url), parts.host == plan.host, (parts.port ?? 80) == plan.port else { return nil }
        return parts.percentEncodedPath + (parts.percentEncodedQuery.map { "?" + $0 } ?? "")
    }

    private struct OfferSet: Decodable {
        struct Offer: Decodable {
            struct Meta: Decodable { var url: String }
            var meta: Meta
        }
        var offers: [Offer]
    }

    static func firstOffer(_ body: ByteBuffer) -> String? {
        (try? JSONDecoder().decode(OfferSet.self, from: Data(body.readableBytesView)))?.offers.first?.meta.url
    }

    public var followLine: String {
        func ms(_ s: LoadResults, _ p: Double) -> String { String(format: "%.2f ms", s.quantile(p) * 1000) }
        return "\(reads.latencies.count) offer sets read (\(reads.failures) failed; p50 \(ms(reads, 0.5)), p99 \(ms(reads, 0.99))), "
            + "\(accepts.latencies.count - accepts.failures) offers accepted (\(accepts.failures) failed; p50 \(ms(accepts, 0.5)), "
            + "p99 \(ms(accepts, 0.99)), max \(ms(accepts, 1))); \(withoutOffers) sets without an offer; accept statuses \(accepts.statusLine)"
    }

    /// A connection's end of the pipeline: sends a request, and hands its answer back to the driver.
    final class ResponseHandler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart

        let driver: OpenLoopDriver
        let slot: Slot
        /// The request on the wire.
        var request: Request?
        /// False once the server said it closes the connection after its answer.
        private(set) var open = true
        private var context: ChannelHandlerContext?
        private var status: Int?
        private var location: String?
        private var body: ByteBuffer?

        init(driver: OpenLoopDriver, slot: Slot) {
            self.driver = driver
            self.slot = slot
        }

        func handlerAdded(context: ChannelHandlerContext) { self.context = context }

        func send(_ request: Request) {
            guard let context else { return }
            self.request = request
            (status, location, body) = (nil, nil, nil)
            // Only an offer set read is parsed; other answers' bodies are dropped as they come.
            if case .readOffers = request.purpose { body = context.channel.allocator.buffer(capacity: 32 << 10) }
            context.write(wrapOutboundOut(.head(request.head)), promise: nil)
            if let b = request.body { context.write(wrapOutboundOut(.body(.byteBuffer(b))), promise: nil) }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }

        func close() { context?.close(promise: nil) }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                status = Int(head.status.code)
                location = head.headers.first(name: "Location")
                if !head.isKeepAlive { open = false }
            case .body(var part):
                if body != nil { body!.writeBuffer(&part) }
            case .end:
                driver.answered(self, status: status, location: location, body: body)
                if !open { context.close(promise: nil) }
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            open = false
            self.context = nil
            driver.closed(self)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }
}

/// Latencies and statuses of one load run.
public struct LoadResults: Sendable {
    public private(set) var latencies: [Double] = []
    public private(set) var statuses: [String: Int] = [:]
    public private(set) var failures = 0
    /// Latencies by the second of their scheduled send time (for `--timeline`).
    public private(set) var seconds: [[Double]] = []

    public init() {}

    public mutating func add(latency: Duration, status: Int?, ok: Bool, second: Int? = nil) {
        let value = Double(latency.components.seconds) + Double(latency.components.attoseconds) / 1e18
        latencies.append(value)
        if let second, second >= 0 {
            if seconds.count <= second { seconds.append(contentsOf: repeatElement([], count: second + 1 - seconds.count)) }
            seconds[second].append(value)
        }
        statuses[status.map(String.init) ?? "error", default: 0] += 1
        if !ok { failures += 1 }
    }

    /// The value at quantile `p` (1 is the largest) of latencies already sorted; 0 when there is none.
    static func quantile(_ p: Double, of sorted: [Double]) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(p * Double(sorted.count)))]
    }

    /// The latency at quantile `p` (1 is the largest); 0 when there is none.
    public func quantile(_ p: Double) -> Double {
        Self.quantile(p, of: latencies.sorted())
    }

    /// One line per second of scheduled send time: the second, its requests, p50, p99 and max in ms.
    public var timeline: String {
        seconds.enumerated().map { second, values in
            let sorted = values.sorted()
            func q(_ p: Double) -> Double { Self.quantile(p, of: sorted) * 1000 }
            return String(format: "%d %d %.2f %.2f %.2f", second, sorted.count, q(0.5), q(0.99), (sorted.last ?? 0) * 1000)
        }.joined(separator: "\n") + "\n"
    }

    /// The latencies of the requests scheduled from `second` on: count, p50, p99, p99.9 and max (seconds). Under a
    /// sustained load the part after the offer lifetime, when offers expire as fast as they are made, is the steady state.
    public func window(from second: Int) -> (count: Int, p50: Double, p99: Double, p999: Double, max: Double) {
        let sorted = seconds.dropFirst(max(0, second)).joined().sorted()
        func q(_ p: Double) -> Double { Self.quantile(p, of: sorted) }
        return (sorted.count, q(0.5), q(0.99), q(0.999), sorted.last ?? 0)
    }

    public var statusLine: String { statuses.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", ") }

    public struct Summary: Encodable, Sendable {
        public var target: Double, achieved: Double, requests: Int, failures: Int
        public var p50: Double, p99: Double, p999: Double, max: Double
        public var statuses: [String: Int]
        public var line: String {
            String(format: "target %.0f/s, achieved %.1f/s, %d requests, %d failed; latency from the scheduled time p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms; statuses %@",
                   target, achieved, requests, failures, p50 * 1000, p99 * 1000, p999 * 1000, max * 1000,
                   statuses.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", "))
        }
    }

    public func summary(elapsed: Duration, target: Double) -> Summary {
        let sorted = latencies.sorted()
        func q(_ p: Double) -> Double { Self.quantile(p, of: sorted) }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Summary(
            target: target, achieved: Double(sorted.count - failures) / Swift.max(seconds, 1e-9), requests: sorted.count, failures: failures,
            p50: q(0.5), p99: q(0.99), p999: q(0.999), max: sorted.last ?? 0, statuses: statuses)
    }
}

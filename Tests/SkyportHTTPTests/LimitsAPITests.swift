import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SkyportApp
import SkyportCore
@testable import SkyportHTTP
import SkyportTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Limits that hold (issue 12): connection timeouts against slow clients, the cap on open connections, the
/// per-client rate limit, bounded fields, and a 400 for HTTP that cannot be read. The timing tests wait for the
/// event (the server closing the socket), never for a wall-clock duration.
@Suite struct ConnectionLimitTests {
    /// A broker whose header, body and idle timeouts are all `seconds`.
    static func broker(timeouts seconds: Int = 1, maxConnections: Int? = nil) async throws -> TestBroker {
        var broker = try await TestBroker()
        broker.config.headerTimeout = seconds
        broker.config.bodyTimeout = seconds
        broker.config.idleTimeout = seconds
        broker.config.maxConnections = maxConnections
        return broker
    }

    @Test func aHeadSentOneByteAtATimeIsCutOffAtTheHeaderTimeout() async throws {
        try await Self.broker().run { client in
            let port = try #require(client.port)
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            // A header line that never ends, one byte every 100 ms: each gap is far below the 1 s timeout, so only
            // a timeout on the whole head can end it.
            let outcome = await offThread { connection.trickle(head: "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ", byte: "a") }
            #expect(outcome.closed, "the server never closed the connection")
            #expect(outcome.answer.hasPrefix("HTTP/1.1 408"), "\(outcome.answer)")
            #expect(outcome.answer.contains("request-timeout"))
            // (The test client's own connection, idle since it opened, was cut too: read the metrics on a new one.)
            let metrics = try await offThread { try RawConnection.get(port: port, "/metrics") }
            let cut = metrics.split(separator: "\n").first { $0.hasPrefix(#"skyport_http_connections_timed_out_total{timeout="header"}"#) }
            #expect(cut.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0 >= 1, "\(metrics)")
        }
    }

    @Test func aBodySentOneByteAtATimeIsCutOffAtTheBodyTimeout() async throws {
        try await Self.broker().run { client in
            let port = try #require(client.port)
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            let head = "POST /requests HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            let outcome = await offThread { connection.trickle(head: head, byte: " ") }
            #expect(outcome.closed, "the server never closed the connection")
            #expect(outcome.answer.hasPrefix("HTTP/1.1 408"), "\(outcome.answer)")
        }
    }

    @Test func anIdleKeptAliveConnectionIsClosed() async throws {
        try await Self.broker().run { client in
            let port = try #require(client.port)
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            #expect(connection.send("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"))
            let answer = await offThread { connection.readResponse() }
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            // Nothing more is sent: the server must close the connection (the wait is bounded only as a safety net).
            let rest = await offThread { connection.readUntilClosed(within: .seconds(120)) }
            #expect(rest.closed, "the idle connection was never closed")
            #expect(rest.data.isEmpty)
        }
    }

    @Test func beyondTheCapAConnectionIsAnswered503AndTheNextIsServedOnceOneCloses() async throws {
        // Long timeouts: only the cap is at work here. The test client's own connection is one of the three.
        try await Self.broker(timeouts: 600, maxConnections: 3).run { client in
            let port = try #require(client.port)
            #expect(try await client.send(.get, "/health").status == .ok)
            var held: [RawConnection] = []
            defer { held.forEach { $0.close() } }
            for _ in 0..<2 {
                let c = try RawConnection(port: port)
                held.append(c)
                #expect(c.send("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"))
                let answer = await offThread { c.readResponse() }
                #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            }
            let refused = try RawConnection(port: port)
            defer { refused.close() }
            _ = refused.send("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            let outcome = await offThread { refused.readUntilClosed(within: .seconds(120)) }
            let answer = String(decoding: outcome.data, as: UTF8.self)
            #expect(answer.hasPrefix("HTTP/1.1 503"), "\(answer)")
            #expect(answer.lowercased().contains("retry-after: 1"))
            #expect(answer.lowercased().contains("connection: close"))
            #expect(answer.contains("too-many-connections"))
            #expect(outcome.closed, "the refused connection was left open")
            let metrics = try await client.send(.get, "/metrics").text
            #expect(metrics.contains("skyport_http_connections_refused_total 1"), "\(metrics)")

            held.removeFirst().close()
            // The server sees the close in its own time: a new connection is served once it has.
            let served = await eventually {
                guard let c = try? RawConnection(port: port) else { return false }
                defer { c.close() }
                _ = c.send("GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                return await offThread { c.readResponse() }.hasPrefix("HTTP/1.1 200")
            }
            #expect(served)
        }
    }

    @Test func aMalformedChunkSizeLineIsA400() async throws {
        try await TestBroker().run { client in
            let port = try #require(client.port)
            let answer = try await offThread {
                try RawConnection.exchange(
                port: port,
                "POST /requests HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
            }
            #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer)")
            #expect(answer.contains("malformed-http"), "\(answer)")
            // The broker still serves.
            #expect(try await client.send(.get, "/health").status == .ok)
        }
    }
}

/// The per-client rate limit on writes (`SKYPORT_RATE_LIMIT`), driven by a test clock.
@Suite struct RateLimitAPITests {
    static let request = #"{"executable": {"kind": "tap-query", "query": "SELECT 1"}}"#

    @Test func afterTheBurstAWriteIsA429WithRetryAfterUntilATokenComesBack() async throws {
        let clock = TestClock()
        var broker = try await TestBroker()
        broker.config.rateLimit = RateLimit(perSecond: 1, burst: 2)
        broker.rateLimitClock = { clock.now.offset }
        try await broker.run { client in
            for _ in 0..<2 { #expect(try await client.send(.post, "/requests", json: Self.request).status != .tooManyRequests) }
            let refused = try await client.send(.post, "/requests", json: Self.request)
            #expect(refused.status == .tooManyRequests)
            #expect(refused.headers[.retryAfter] == "1")
            #expect(try refused.json()["code"] as? String == "rate-limited")
            // Every write counts, under every path: accepting a session and creating a UWS job too.
            let accept = try await client.send(
                .post, "/sessions/\(UUID().uuidString.lowercased())", json: #"{"kind":"uri:enum-value-update","path":"phase","value":"ACCEPTED"}"#)
            #expect(accept.status == .tooManyRequests)
            let uws = try await client.send(.post, "/uws/jobs", token: "a-user-token")
            #expect(uws.status == .tooManyRequests)
            // Reads are not limited, nor are operators.
            #expect(try await client.send(.get, "/health").status == .ok)
            #expect(try await client.send(.post, "/requests", json: Self.request, token: TestBroker.aliceToken).status != .tooManyRequests)
            // One second later one token is back.
            clock.advance(by: .seconds(1))
            #expect(try await client.send(.post, "/requests", json: Self.request).status != .tooManyRequests)
            #expect(try await client.send(.post, "/requests", json: Self.request).status == .tooManyRequests)
        }
    }
}

/// The gate of offer requests (`SKYPORT_OFFER_CONCURRENCY`, `OfferAdmission`): a standing queue of them, made here by
/// the test's own holders of the gate's one slot on a test clock, is overload, and then an offer request that cannot
/// start at once is a 503 with `Retry-After`; once nothing waits, offer requests are served again.
@Suite struct OfferAdmissionAPITests {
    /// Opened once; every `wait` before and after returns then.
    final class Latch: Sendable {
        private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
        func wait() async {
            await withCheckedContinuation { c in
                let now = state.withLock { s in
                    if !s.open { s.waiters.append(c) }
                    return s.open
                }
                if now { c.resume() }
            }
        }
        func open() {
            let waiters = state.withLock { s in
                s.open = true
                defer { s.waiters = [] }
                return s.waiters
            }
            for w in waiters { w.resume() }
        }
    }

    @Test func theLimitIsASettingAndZeroTurnsTheGateOff() throws {
        #expect(try SkyportConfiguration.fromEnvironment([:]).offerConcurrency == 16)
        #expect(try SkyportConfiguration.fromEnvironment(["SKYPORT_OFFER_CONCURRENCY": "64"]).offerConcurrency == 64)
        #expect(try SkyportConfiguration.fromEnvironment(["SKYPORT_OFFER_CONCURRENCY": "0"]).offerConcurrency == 0)
        for bad in ["-1", "many", ""] {
            #expect(throws: SkyportConfiguration.Invalid.self) { try SkyportConfiguration.fromEnvironment(["SKYPORT_OFFER_CONCURRENCY": bad]) }
        }
    }

    @Test func aStandingQueueIsAnsweredOverloadedAndServedOnceItDrains() async throws {
        let clock = TestClock()
        let gate = OfferAdmission(Admission.Settings(limit: 1, target: .milliseconds(50), interval: .milliseconds(100)), now: { clock.now.offset })
        var broker = try await TestBroker()
        broker.admission = gate
        try await broker.run { client in
            #expect(try await client.send(.post, "/requests", json: RateLimitAPITests.request).status == .seeOther)
            // Four holders in turn: the first runs, three wait; the second starts 60 ms after it came, the third 160 ms,
            // each with others still behind it: a queue that stood for the whole interval.
            let latches = (0..<4).map { _ in Latch() }
            var holders: [Task<Void, any Error>] = []
            for (i, latch) in latches.enumerated() {
                // One at a time, so that each latch belongs to the holder that came in that order.
                holders.append(Task { try await gate.admitted { await latch.wait() } })
                #expect(await eventually { gate.counts.running + gate.counts.waiting == i + 1 })
            }
            #expect(gate.counts.running == 1 && gate.counts.waiting == 3)
            clock.advance(by: .milliseconds(60))
            latches[0].open()
            #expect(await eventually { gate.counts.waiting == 2 })
            #expect(!gate.counts.overloaded)
            clock.advance(by: .milliseconds(100))
            latches[1].open()
            #expect(await eventually { gate.counts.waiting == 1 })
            // Required: were it not overloaded, the requests below would wait for the slot the test holds.
            try #require(gate.counts.overloaded)
            // The third holds the slot and the fourth waits: an offer request (and a direct one) cannot start, and is
            // refused at once.
            for path in ["/requests", "/direct"] {
                let refused = try await client.send(.post, path, json: RateLimitAPITests.request)
                #expect(refused.status == .serviceUnavailable, "\(path): \(refused.text)")
                #expect(refused.headers[.retryAfter] == "1")
                #expect(try refused.json()["code"] as? String == "overloaded")
            }
            #expect(gate.counts.refused == 2)
            // `/metrics` shows it: three waited, two were refused, one runs and one waits, overloaded.
            let during = try Self.gateSeries(await client.send(.get, "/metrics").text)
            #expect(during == ["limit": 1, "running": 1, "waiting": 1, "overloaded": 1, "refused_total": 2, "waited_total": 3], "\(during)")
            // Other routes do not pass the gate.
            #expect(try await client.send(.get, "/health").status == .ok)
            // Nor do offer requests once another broker is among the facilities (they wait on it, not on this one's
            // cores): one on a loopback port nothing listens on, still overloaded here, answers a set.
            try await FederationTests.register(client, FederationTests.brokerFacility("peer", url: "http://127.0.0.1:9/broker", deadline: "PT2S"))
            let federated = try await client.send(.post, "/requests", json: RateLimitAPITests.request)
            #expect(federated.status == .seeOther, "\(federated.text)")
            #expect(gate.counts.overloaded && gate.counts.refused == 2)
            // The fourth starts with nothing behind it: the overload is over.
            latches[2].open()
            #expect(await eventually { gate.counts.waiting == 0 })
            #expect(!gate.counts.overloaded)
            latches[3].open()
            for holder in holders { try await holder.value }
            #expect(!gate.counts.overloaded && gate.counts.running == 0)
            // Nothing waits: the same connection is served again.
            #expect(try await client.send(.post, "/requests", json: RateLimitAPITests.request).status == .seeOther)
            #expect(try await client.send(.post, "/direct", json: RateLimitAPITests.request).status == .seeOther)
            // The counters are not counted twice by a second scrape, and the gauges went back.
            let after = try Self.gateSeries(await client.send(.get, "/metrics").text)
            #expect(after == ["limit": 1, "running": 0, "waiting": 0, "overloaded": 0, "refused_total": 2, "waited_total": 3], "\(after)")
        }
    }

    /// The `skyport_offer_admission_*` samples of a `/metrics` page, by the name's rest.
    static func gateSeries(_ page: String) -> [String: Double] {
        var series: [String: Double] = [:]
        for line in page.split(separator: "\n") where line.hasPrefix("skyport_offer_admission_") {
            let parts = line.dropFirst("skyport_offer_admission_".count).split(separator: " ")
            if parts.count == 2, let value = Double(parts[1]) { series[String(parts[0])] = value }
        }
        return series
    }
}

/// Bounded fields: over the bound is an error naming the field.
@Suite struct FieldLengthAPITests {
    @Test func aRequestNameOverTheBoundIsA422NamingIt() async throws {
        try await TestBroker().run { client in
            let long = String(repeating: "n", count: FieldLimits.name + 1)
            let r = try await client.send(.post, "/requests", json: #"{"name": "\#(long)", "executable": {"kind": "tap-query", "query": "SELECT 1"}}"#)
            #expect(r.status == .unprocessableContent, "\(r.text)")
            #expect(try r.errorFields() == ["name"])
            let callback = "https://example.org/" + String(repeating: "c", count: FieldLimits.text)
            let r2 = try await client.send(
                .post, "/requests", json: #"{"callback": "\#(callback)", "executable": {"kind": "tap-query", "query": "SELECT 1"}}"#)
            #expect(r2.status == .unprocessableContent)
            #expect(try r2.errorFields() == ["callback"])
        }
    }

    @Test func aUWSParameterOverTheBoundIsA400NamingIt() async throws {
        try await TestBroker().run { client in
            let name = String(repeating: "n", count: FieldLimits.name + 1)
            let document = #"{"name": "\#(name)", "executable": {"kind": "tap-query", "query": "SELECT 1"}}"#
            let body = "request=" + (document.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
            let r = try await client.send(
                .post, "/uws/jobs", token: "a-user-token", headers: [.contentType: "application/x-www-form-urlencoded"], body: body)
            #expect(r.status == .badRequest, "\(r.text)")
            #expect(try r.errorFields() == ["request"])
            let huge = "request=" + String(repeating: "x", count: FieldLimits.uwsParameter + 1)
            let r2 = try await client.send(
                .post, "/uws/jobs", token: "a-user-token", headers: [.contentType: "application/x-www-form-urlencoded"], body: huge)
            #expect(r2.status == .badRequest, "\(r2.text)")
            #expect(try r2.errorFields() == ["request"])
        }
    }
}

extension TestClientProtocol {
    func send(_ method: HTTPRequest.Method, _ uri: String, token: String?, headers extra: HTTPFields, body: String) async throws -> TestResponse {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await execute(uri: uri, method: method, headers: headers, body: ByteBuffer(string: body))
    }
}

/// Runs blocking socket calls on a thread of their own: blocking the few threads of the concurrency pool would
/// stall the server under test (its handlers run there), which is exactly what these tests must not do.
func offThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}

func offThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: work()) }
    }
}

/// A plain client socket for what HTTP clients do not do: send a request a byte at a time, hold a connection, see
/// the server close it. Sends never raise SIGPIPE; reads wait with `poll`.
// @unchecked Sendable: one test uses a connection from one thread at a time (handing it to `offThread` and awaiting).
final class RawConnection: @unchecked Sendable {
    struct Failed: Error { var what: String }
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failed(what: "socket") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw Failed(what: "connect")
        }
    }

    private var isClosed = false
    func close() {
        guard !isClosed else { return }
        isClosed = true
        Glibc.close(fd)
    }

    /// Sends all of `text`; false when the server has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    /// What arrives within `wait` (nothing when nothing does), and whether the server closed its side.
    func read(within wait: Duration) -> (data: [UInt8], closed: Bool) {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ms = Int32(wait.components.seconds * 1_000 + wait.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&pfd, 1, ms) > 0 else { return ([], false) }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { return ([], true) }
        return (Array(buffer[0..<n]), false)
    }

    /// Everything until the server closes the connection (or `limit` passes: then `closed` is false).
    func readUntilClosed(within limit: Duration) -> (data: [UInt8], closed: Bool) {
        let end = ContinuousClock.now + limit
        var data: [UInt8] = []
        while ContinuousClock.now < end {
            let (chunk, closed) = read(within: .milliseconds(500))
            data += chunk
            if closed { return (data, true) }
        }
        return (data, false)
    }

    /// One response with a `Content-Length` body, read whole (what came, if the connection closes first).
    func readResponse(within limit: Duration = .seconds(120)) -> String {
        let end = ContinuousClock.now + limit
        var data: [UInt8] = []
        while ContinuousClock.now < end {
            let (chunk, closed) = read(within: .milliseconds(500))
            data += chunk
            let text = String(decoding: data, as: UTF8.self)
            if let head = text.range(of: "\r\n\r\n") {
                let headers = text[..<head.lowerBound].lowercased()
                let length = headers.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if text[head.upperBound...].utf8.count >= length { return text }
            }
            if closed { return text }
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// `request` written on a new connection left open by the client (as a slow or lying client would leave it);
    /// the response that comes back.
    static func exchange(port: Int, _ request: String) throws -> String {
        let c = try RawConnection(port: port)
        defer { c.close() }
        guard c.send(request) else { throw Failed(what: "send") }
        return c.readResponse()
    }

    /// `GET path` on a new connection; the whole answer.
    static func get(port: Int, _ path: String) throws -> String {
        let c = try RawConnection(port: port)
        defer { c.close() }
        c.send("GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        return c.readResponse()
    }

    /// Sends `head`, then `byte` every 100 ms until the server closes the connection; what it answered. Gives up
    /// (closed false) after 600 bytes, a minute without load.
    func trickle(head: String, byte: String) -> (answer: String, closed: Bool) {
        var received: [UInt8] = []
        guard send(head) else { return ("", true) }
        for _ in 0..<600 {
            let (data, closed) = read(within: .milliseconds(100))
            received += data
            if closed { return (String(decoding: received, as: UTF8.self), true) }
            if !send(byte) {
                let rest = readUntilClosed(within: .seconds(10))
                return (String(decoding: received + rest.data, as: UTF8.self), true)
            }
        }
        return (String(decoding: received, as: UTF8.self), false)
    }
}

/// The peak the memory trimmer compares with (`MemoryTrimService`): the most connections open at once since the
/// last look, after which the next period starts from the number open then.
@Suite struct ConnectionPeakTests {
    @Test func thePeakIsTheMostOpenAtOnceSinceTheLastLook() {
        let counter = ConnectionCounter()
        for _ in 0..<5 { _ = counter.opened() }
        for _ in 0..<4 { counter.closed() }
        #expect(counter.current == 1)
        #expect(counter.takePeak() == 5)
        #expect(counter.takePeak() == 1)
        _ = counter.opened()
        counter.closed()
        #expect(counter.takePeak() == 2)
        #expect(counter.takePeak() == 1)
    }
}

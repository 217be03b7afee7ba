import Foundation
import HTTPTypes
import Hummingbird
import ServiceLifecycle
import Logging
import NIOCore
import Synchronization

/// What a stub route answers.
public struct StubResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: Data
    /// Wait this long before answering.
    public var delay: Duration?
    /// Never answer: the request is held until the client gives up or the server stops.
    public var hangs: Bool
    /// Send the body in chunks of this many bytes, with chunked transfer encoding and no `Content-Length`.
    public var chunkSize: Int?

    public init(
        status: Int = 200, headers: [(name: String, value: String)] = [], body: Data = Data(), delay: Duration? = nil,
        hangs: Bool = false, chunkSize: Int? = nil
    ) {
        self.status = status
        self.headers = headers
        self.body = body
        self.delay = delay
        self.hangs = hangs
        self.chunkSize = chunkSize
    }

    /// A text answer with the given content type.
    public static func text(
        _ text: String, status: Int = 200, contentType: String = "text/plain", headers: [(name: String, value: String)] = []
    ) -> StubResponse {
        StubResponse(status: status, headers: [("Content-Type", contentType)] + headers, body: Data(text.utf8))
    }

    /// An XML answer (`text/xml`).
    public static func xml(_ text: String, status: Int = 200) -> StubResponse { .text(text, status: status, contentType: "text/xml") }

    /// A JSON answer (`application/json`).
    public static func json(_ text: String, status: Int = 200) -> StubResponse { .text(text, status: status, contentType: "application/json") }

    /// A request that is never answered.
    public static let hang = StubResponse(hangs: true)
}

/// A request as the stub received it.
public struct StubRequest: Sendable {
    public var method: String
    public var path: String
    public var query: String?
    public var headers: [(name: String, value: String)]
    public var body: Data

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// An HTTP server inside the test process (Hummingbird on 127.0.0.1, a free port) answering from routes the test
/// scripts: one path, one handler. It counts and records every request, so a test asserts on what the client sent
/// without another process or any sleep. Start it with `withStubHTTPServer`, which stops it however the body ends.
public final class StubHTTPServer: Sendable {
    /// Answers the `hit`-th request (1-based) to a route.
    public typealias Handler = @Sendable (_ request: StubRequest, _ hit: Int) async -> StubResponse

    private struct State {
        var routes: [String: Handler] = [:]
        var requests: [StubRequest] = []
    }

    public let port: Int
    public let base: URL
    private let state: Mutex<State>
    private let running: Mutex<(task: Task<Void, Never>, group: ServiceGroup, shared: SharedState)?>

    private init(port: Int) {
        self.port = port
        self.base = URL(string: "http://127.0.0.1:\(port)")!
        self.state = Mutex(State())
        self.running = Mutex(nil)
    }

    /// Starts a server with no routes (every path answers 404 until routed).
    public static func start() async throws -> StubHTTPServer {
        let shared = SharedState()
        let portStream = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "skyport.test.stub")
        logger.logLevel = .critical
        let app = Application(
            responder: CallbackResponder<BasicRequestContext> { request, _ in try await shared.respond(request) },
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0), serverName: "stub"),
            onServerRunning: { channel in
                portStream.continuation.yield(channel.localAddress?.port ?? 0)
                portStream.continuation.finish()
            },
            logger: logger)
        // Run in a service group so that stopping is a graceful shutdown: cancelling the serving task can drop a
        // connection accepted but not yet served, which traps in swift-nio (apple/swift-nio#2813).
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task {
            do { try await group.run() } catch { logger.critical("stub server ended: \(error)") }
            portStream.continuation.finish()
        }
        var ports = portStream.stream.makeAsyncIterator()
        guard let port = await ports.next(), port > 0 else {
            task.cancel()
            await task.value
            throw StubServerError("the stub HTTP server did not start")
        }
        let server = StubHTTPServer(port: port)
        shared.server.withLock { $0 = server }
        server.running.withLock { $0 = (task, group, shared) }
        return server
    }

    /// Stops the server gracefully: it accepts no more connections, held (hanging) requests end, and it waits for
    /// the requests under way. Cancelling is only the last resort, for a handler that never returns.
    public func stop() async {
        guard let (task, group, shared) = running.withLock({ t in defer { t = nil }; return t }) else { return }
        shared.stopping.withLock { $0 = true }
        await group.triggerGracefulShutdown()
        let lastResort = Task {
            try? await Task.sleep(for: .seconds(10))
            task.cancel()
        }
        await task.value
        lastResort.cancel()
    }

    /// `path` (`/a/b`) on this server.
    public func url(_ path: String) -> URL { URL(string: base.absoluteString + (path.hasPrefix("/") ? path : "/" + path))! }

    /// Routes every method to `path` (the path alone, without query) to `handler`.
    public func route(_ path: String, _ handler: @escaping Handler) {
        state.withLock { $0.routes[path] = handler }
    }

    /// Routes `path` to one fixed answer.
    public func route(_ path: String, _ response: StubResponse) {
        route(path) { _, _ in response }
    }

    /// Routes `path` to answers in turn: the n-th request gets the n-th, and the last is repeated.
    public func route(_ path: String, inTurn responses: [StubResponse]) {
        precondition(!responses.isEmpty)
        route(path) { _, hit in responses[min(hit, responses.count) - 1] }
    }

    /// The requests received so far (to `path` only, when given), in order of arrival.
    public func requests(_ path: String? = nil) -> [StubRequest] {
        state.withLock { s in path.map { p in s.requests.filter { $0.path == p } } ?? s.requests }
    }

    /// How many requests `path` has received.
    public func hits(_ path: String) -> Int { requests(path).count }

    fileprivate func answer(_ request: StubRequest) -> (Handler?, Int) {
        state.withLock { s in
            s.requests.append(request)
            return (s.routes[request.path], s.requests.lazy.filter { $0.path == request.path }.count)
        }
    }
}

/// Runs `body` with a fresh stub server and stops the server afterwards, whether `body` throws or not.
public func withStubHTTPServer<T>(_ body: (StubHTTPServer) async throws -> T) async throws -> T {
    let server = try await StubHTTPServer.start()
    do {
        let value = try await body(server)
        await server.stop()
        return value
    } catch {
        await server.stop()
        throw error
    }
}

public struct StubServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The server object as the responder sees it (set once the port is known; no request can arrive before).
private final class SharedState: Sendable {
    let server = Mutex<StubHTTPServer?>(nil)
    /// The server is stopping: held requests end.
    let stopping = Mutex(false)

    func respond(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 64 << 20)
        let received = StubRequest(
            method: request.method.rawValue, path: request.uri.path, query: request.uri.query,
            headers: request.headers.map { ($0.name.canonicalName, $0.value) }, body: Data(body.readableBytesView))
        guard let server = server.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
        let (handler, hit) = server.answer(received)
        guard let handler else {
            return Self.response(.text("no stub route for \(received.path)", status: 404))
        }
        let answer = await handler(received, hit)
        if answer.hangs {
            // Held until the server stops (or this task is cancelled).
            while !Task.isCancelled, !stopping.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(50)) }
            throw CancellationError()
        }
        if let delay = answer.delay { try await Task.sleep(for: delay) }
        return Self.response(answer)
    }

    static func response(_ answer: StubResponse) -> Response {
        var headers = HTTPFields()
        for (name, value) in answer.headers {
            if let field = HTTPField.Name(name) { headers.append(HTTPField(name: field, value: value)) }
        }
        let status = HTTPResponse.Status(code: answer.status)
        let bytes = answer.body
        if let size = answer.chunkSize, size > 0 {
            return Response(status: status, headers: headers, body: ResponseBody { writer in
                var offset = 0
                while offset < bytes.count {
                    let end = min(offset + size, bytes.count)
                    try await writer.write(ByteBuffer(bytes: bytes[offset..<end]))
                    offset = end
                }
                try await writer.finish(nil)
            })
        }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

extension StubHTTPServer {
    /// A port on 127.0.0.1 that nothing listens on: a stub's, once it has stopped.
    public static func unusedPort() async throws -> Int {
        let server = try await start()
        await server.stop()
        return server.port
    }
}

/// A loopback port that refuses every connection while this lives: a socket bound to it that does not listen. A port
/// found free and let go (`StubHTTPServer.unusedPort`) can be taken by another test's server before it is used; this
/// one cannot.
public final class RefusingPort: @unchecked Sendable {
    public let port: Int
    private let fd: Int32

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } }
        var length = size
        let named = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        guard bound == 0, named == 0 else {
            close(fd)
            throw POSIXError(.EADDRNOTAVAIL)
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

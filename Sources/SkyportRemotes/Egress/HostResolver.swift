import Foundation
import NIOPosix
import SkyportCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns a host name into the addresses a connection would try.
public protocol HostResolver: Sendable {
    func addresses(of host: String, port: Int) async throws -> [IPAddress]
}

/// The system resolver (`getaddrinfo`): the same answer a client resolving by itself would get, numeric spellings
/// such as `0x7f.1` included.
///
/// Lookups run on threads of their own, never on NIO's shared blocking pool (as many threads as cores): a name
/// whose DNS server does not answer holds its thread for the system resolver's whole timeout, and the file reads and
/// every other name must not queue behind it. Concurrent lookups of one name and port share one `getaddrinfo`, and a
/// caller that stops waiting (its deadline, its cancellation) is let go at once while the lookup finishes on its
/// thread. (Lookups nobody waits for any more still hold their threads until the system resolver gives up.)
public struct SystemResolver: HostResolver {
    public struct Failure: Error, CustomStringConvertible {
        public var code: Int32
        public init(code: Int32) { self.code = code }
        public var description: String { "getaddrinfo: \(String(cString: gai_strerror(code)))" }
    }

    /// Threads for lookups: enough that a few unanswered names leave the rest flowing.
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 16)
        pool.start()
        return pool
    }()

    private struct Key: Hashable {
        var host: String
        var port: Int
    }

    private static let inFlight = Mutex<[Key: Task<[IPAddress], any Error>]>([:])

    public init() {}

    public func addresses(of host: String, port: Int) async throws -> [IPAddress] {
        let key = Key(host: host, port: port)
        let lookup = Self.inFlight.withLock { running in
            if let shared = running[key] { return shared }
            // The task removes its entry when done, under this same lock, so after this insertion: the entry it removes
            // is its own (a new lookup of the key is made only once that entry is gone).
            let task = Task<[IPAddress], any Error> {
                defer { _ = Self.inFlight.withLock { $0.removeValue(forKey: key) } }
                return try await Self.pool.runIfActive { try Self.lookup(host, port: port) }
            }
            running[key] = task
            return task
        }
        return try await Self.value(of: lookup)
    }

    /// The lookup's answer, or `CancellationError` as soon as the caller is cancelled (the lookup itself goes on).
    static func value(of lookup: Task<[IPAddress], any Error>) async throws -> [IPAddress] {
        let waiter = Waiter()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                guard waiter.wait(continuation) else { return }
                Task { waiter.finish(await lookup.result) }
            }
        } onCancel: {
            waiter.finish(.failure(CancellationError()))
        }
    }

    /// One continuation resumed once: by the lookup's end or by the cancellation, whichever comes first.
    final class Waiter: Sendable {
        private enum State {
            case idle
            case waiting(CheckedContinuation<[IPAddress], any Error>)
            case finished(Result<[IPAddress], any Error>)
        }

        private let state = Mutex(State.idle)

        /// Keeps `continuation` until the end; resumes it at once (and answers false) when the end came first.
        func wait(_ continuation: CheckedContinuation<[IPAddress], any Error>) -> Bool {
            let early: Result<[IPAddress], any Error>? = state.withLock { state in
                if case .finished(let result) = state { return result }
                state = .waiting(continuation)
                return nil
            }
            guard let early else { return true }
            continuation.resume(with: early)
            return false
        }

        func finish(_ result: Result<[IPAddress], any Error>) {
            let waiting: CheckedContinuation<[IPAddress], any Error>? = state.withLock { state in
                switch state {
                case .idle:
                    state = .finished(result)
                    return nil
                case .waiting(let continuation):
                    state = .finished(result)
                    return continuation
                case .finished:
                    return nil
                }
            }
            waiting?.resume(with: result)
        }
    }

    /// The addresses `host` spells without asking DNS (`127.1`, `0x7f.1`, `::1`, …), or nil for a name.
    public static func literal(_ host: String, port: Int) -> [IPAddress]? {
        try? lookup(host, port: port, flags: AI_NUMERICHOST)
    }

    static func lookup(_ host: String, port: Int, flags: Int32 = 0) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_flags = flags
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host, String(port), &hints, &list)
        guard code == 0 else { throw Failure(code: code) }
        defer { freeaddrinfo(list) }
        var out: [IPAddress] = []
        var node = list
        while let entry = node?.pointee {
            if let sa = entry.ai_addr {
                switch Int32(sa.pointee.sa_family) {
                case AF_INET:
                    var a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    let bytes = withUnsafeBytes(of: &a) { Array($0) }
                    if let ip = IPAddress(bytes: bytes) { out.append(ip) }
                case AF_INET6:
                    var a = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    let bytes = withUnsafeBytes(of: &a) { Array($0) }
                    if let ip = IPAddress(bytes: bytes) { out.append(ip) }
                default: break
                }
            }
            node = entry.ai_next
        }
        var seen = Set<IPAddress>()
        return out.filter { seen.insert($0).inserted }
    }
}

/// Fixed answers by name (tests, and `--resolve`-style pinning).
public struct StaticResolver: HostResolver {
    public var answers: @Sendable (String) -> [IPAddress]
    public init(_ answers: @escaping @Sendable (String) -> [IPAddress]) { self.answers = answers }
    public func addresses(of host: String, port: Int) async throws -> [IPAddress] { answers(host) }
}

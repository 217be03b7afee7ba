import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import SkyportCore
import Synchronization
import Tracing
import NIOHTTP1

/// What an outbound call is for: the label of the refusal counter and of the log lines.
public enum EgressPurpose: String, Sendable, Hashable, CaseIterable {
    case uws, binderhub, jupyterhub, federation, vosi, registry, health, callback, git, identity
    /// A document a user names for the broker to read (a codemeta.json given by URL on the web page).
    case software
}

/// The HTTP enforcement point of the egress rule (`EgressPolicy`): every outbound HTTP call of the remote clients
/// goes through `execute`. A host that is an address is judged as it is; a name is resolved here, every answer is
/// judged, and the connection is made to the address judged (an `HTTPClient` pinned to it with `dnsOverride`, so TLS
/// still verifies the name and a second resolution cannot answer differently). Redirects are never followed by the
/// client: a caller that follows one calls `execute` again, and the new destination is judged again.
///
/// Refusals are thrown as `EgressRefusal`, logged and counted (`audit`); calls made for the operator's own
/// configuration (`trusted`) are not judged.
public final class Egress: Sendable {
    public let policy: EgressPolicy
    let resolver: any HostResolver
    let configuration: HTTPClient.Configuration
    /// For hosts written as addresses, and trusted calls.
    let base: HTTPClient
    let pins: Mutex<PinnedClients>
    let audit: @Sendable (EgressRefusal, EgressPurpose) -> Void
    let logger: Logger

    /// Clients pinned to (name, address) kept at most; the least recently used idle ones are closed beyond it.
    static let maxPinnedClients = 256

    /// `configuration` must not follow redirects (`RemoteHTTP.clientConfiguration`); `audit` hears every refusal.
    public init(
        policy: EgressPolicy, resolver: any HostResolver = SystemResolver(), configuration: HTTPClient.Configuration = RemoteHTTP.clientConfiguration,
        logger: Logger = Logger(label: "skyport.egress"), audit: @escaping @Sendable (EgressRefusal, EgressPurpose) -> Void = { _, _ in }
    ) {
        self.policy = policy
        self.resolver = resolver
        // The gate makes each call's span and sends its traceparent itself (`execute`): the client must not add a second.
        var configuration = configuration
        configuration.tracing.tracer = nil
        self.configuration = configuration
        self.base = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.pins = Mutex(PinnedClients())
        self.logger = logger
        self.audit = audit
    }

    /// Closes every client (after their in-flight requests).
    public func shutdown() async {
        let clients = pins.withLock { $0.removeAll() }
        for client in clients { try? await client.shutdown() }
        try? await base.shutdown()
    }

    /// Records a refusal decided elsewhere (a federated broker's URL on another origin): logged and counted.
    public func refused(_ refusal: EgressRefusal, purpose: EgressPurpose) {
        logger.warning("outbound destination refused", metadata: [
            "purpose": .string(purpose.rawValue), "reason": .string(refusal.reason.rawValue), "host": .string(refusal.host),
            "address": .string(refusal.address ?? "-"),
        ])
        audit(refusal, purpose)
    }

    /// Judges the destination of `request`, then sends it and hands the response to `body` (whose body must be read
    /// there: the connection it came on is released when `body` returns).
    ///
    /// In a traced scope (`TraceScope`), each call is a client span of the current trace, and carries it on (W3C
    /// `traceparent`), so that the facility or broker called continues it; outside one nothing is added.
    public func execute<T>(
        _ request: HTTPClientRequest, deadline: NIODeadline, purpose: EgressPurpose, trusted: Bool = false, logger: Logger? = nil,
        _ body: (HTTPClientResponse) async throws -> T
    ) async throws -> T {
        guard TraceScope.traced else { return try await send(request, deadline: deadline, purpose: purpose, trusted: trusted, logger: logger, body) }
        return try await withSpan("\(request.method.rawValue) \(purpose.rawValue)", ofKind: .client) { span in
            var request = request
            InstrumentationSystem.instrument.inject(span.context, into: &request.headers, using: HTTPHeadersInjector())
            if span.isRecording {
                span.attributes["http.request.method"] = request.method.rawValue
                // Never the query or fragment (they may hold what only the facility should see), and for a callback
                // (a URL the client wrote, whose path may be its secret) only the origin.
                span.attributes["url.full"] = Self.traced(request.url, purpose: purpose)
                span.attributes["skyport.egress.purpose"] = purpose.rawValue
            }
            return try await send(request, deadline: deadline, purpose: purpose, trusted: trusted, logger: logger) { response in
                if span.isRecording { span.attributes["http.response.status_code"] = Int(response.status.code) }
                if response.status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
                return try await body(response)
            }
        }
    }

    func send<T>(
        _ request: HTTPClientRequest, deadline: NIODeadline, purpose: EgressPurpose, trusted: Bool, logger: Logger?,
        _ body: (HTTPClientResponse) async throws -> T
    ) async throws -> T {
        let target = try await admit(request.url, purpose: purpose, trusted: trusted, deadline: deadline)
        guard let pin = target.pin else {
            return try await body(try await base.execute(request, deadline: deadline, logger: logger))
        }
        let (key, client) = pins.withLock { $0.lease(pin, configuration: configuration) }
        defer {
            let closed = pins.withLock { $0.release(key, keep: Self.maxPinnedClients) }
            for client in closed { Task { try? await client.shutdown() } }
        }
        return try await body(try await client.execute(request, deadline: deadline, logger: logger))
    }

    /// Where a judged URL goes: to the host as written (an address), or to the address a name was judged by.
    public struct Admission: Sendable, Hashable {
        public var host: String
        public var port: Int
        /// For a name: the name as the HTTP client reads it from the URL, and the address to connect to.
        public var pin: Pin?
    }

    public struct Pin: Sendable, Hashable {
        public var host: String
        public var address: IPAddress
    }

    /// Judges `url` (scheme, then the host's addresses); throws the refusal (logged and counted).
    public func admit(_ url: String, purpose: EgressPurpose, trusted: Bool = false, deadline: NIODeadline? = nil, schemes: Set<String> = ["http", "https"]) async throws -> Admission {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), let rawHost = parsed.host, !rawHost.isEmpty else {
            throw refuse(EgressRefusal(.host, host: ""), purpose)
        }
        let host = rawHost.hasPrefix("[") && rawHost.hasSuffix("]") ? String(rawHost.dropFirst().dropLast()) : rawHost
        guard schemes.contains(scheme) else { throw refuse(EgressRefusal(.scheme, host: host), purpose) }
        let port = parsed.port ?? (scheme == "https" ? 443 : scheme == "git" ? 9418 : 80)
        if trusted { return Admission(host: host, port: port, pin: nil) }
        if let address = IPAddress(host) {
            if let refusal = policy.decide(host: host, addresses: [address]) { throw refuse(refusal, purpose) }
            return Admission(host: host, port: port, pin: nil)
        }
        let addresses: [IPAddress]
        do {
            addresses = try await resolve(host, port: port, deadline: deadline)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw refuse(EgressRefusal(.unresolvable, host: host), purpose)
        }
        if let refusal = policy.decide(host: host, addresses: addresses) { throw refuse(refusal, purpose) }
        return Admission(host: host, port: port, pin: Pin(host: host, address: addresses[0]))
    }

    func refuse(_ refusal: EgressRefusal, _ purpose: EgressPurpose) -> EgressRefusal {
        refused(refusal, purpose: purpose)
        return refusal
    }

    /// The resolver's answer, or a timeout error at `deadline` (a resolution that hangs does not hold the call).
    func resolve(_ host: String, port: Int, deadline: NIODeadline?) async throws -> [IPAddress] {
        let limit = deadline.map { max(.milliseconds(1), $0 - .now()) } ?? .seconds(10)
        return try await withThrowingTaskGroup(of: [IPAddress]?.self) { group in
            group.addTask { try await self.resolver.addresses(of: host, port: port) }
            group.addTask {
                try await Task.sleep(for: .nanoseconds(limit.nanoseconds))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let answer = first else { throw HTTPClientError.deadlineExceeded }
            return answer
        }
    }
}

/// `HTTPClient`s pinned to one (name, address) each, with their in-flight counts (a client is closed only when idle).
struct PinnedClients: ~Copyable {
    struct Entry {
        var client: HTTPClient
        var inFlight: Int
        var lastUsed: UInt64
    }

    var entries: [Egress.Pin: Entry] = [:]
    var tick: UInt64 = 0

    mutating func lease(_ pin: Egress.Pin, configuration: HTTPClient.Configuration) -> (Egress.Pin, HTTPClient) {
        tick += 1
        if var entry = entries[pin] {
            entry.inFlight += 1
            entry.lastUsed = tick
            entries[pin] = entry
            return (pin, entry.client)
        }
        var pinned = configuration
        pinned.dnsOverride = [pin.host: pin.address.description]
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: pinned)
        entries[pin] = Entry(client: client, inFlight: 1, lastUsed: tick)
        return (pin, client)
    }

    /// Ends one use; returns the idle clients to close so that at most `keep` remain.
    mutating func release(_ pin: Egress.Pin, keep: Int) -> [HTTPClient] {
        entries[pin]?.inFlight -= 1
        guard entries.count > keep else { return [] }
        let idle = entries.filter { $0.value.inFlight == 0 }.sorted { $0.value.lastUsed < $1.value.lastUsed }
        return idle.prefix(entries.count - keep).compactMap { entries.removeValue(forKey: $0.key)?.client }
    }

    mutating func removeAll() -> [HTTPClient] {
        defer { entries.removeAll() }
        return entries.values.map(\.client)
    }
}

extension Egress {
    /// What of a URL a span records: scheme, host, port and path (only the origin for callbacks).
    static func traced(_ url: String, purpose: EgressPurpose) -> String {
        guard var parts = URLComponents(string: url) else { return "" }
        parts.query = nil
        parts.fragment = nil
        parts.user = nil
        parts.password = nil
        if purpose == .callback { parts.path = "" }
        return parts.string ?? ""
    }
}

/// Writes trace context (`traceparent`, `tracestate`) into outbound request headers.
struct HTTPHeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into headers: inout HTTPHeaders) {
        headers.replaceOrAdd(name: key, value: value)
    }
}

import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import SkyportCore

/// A failure talking to a facility: where, what, and whether trying again later may help.
public struct RemoteError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: String, Sendable, Hashable {
        /// The host could not be reached (refused, unresolvable, connect timeout).
        case connect
        /// No complete answer before the call's timeout.
        case timeout
        /// The facility answered with an HTTP error status.
        case status
        /// The answer was larger than the configured cap.
        case tooLarge
        /// The answer was not what the protocol prescribes (HTML instead of XML, malformed document, no Location...).
        case invalidResponse
        /// The facility accepted a phase change (e.g. with a 303) but the job did not move.
        case refusedTransition
        /// Any other transport failure (connection reset, TLS...).
        case transport
        /// The egress rule refused the destination (`EgressPolicy`): nothing was sent.
        case refused
    }

    public var kind: Kind
    /// The URL called, without user info or query string.
    public var url: String
    public var status: Int?
    /// The start of the response body, whitespace-collapsed and with secrets masked (≤ 300 characters).
    public var snippet: String?
    public var isTransient: Bool
    public var message: String
    /// The server's `Retry-After`, in seconds form only.
    var retryAfter: Duration?

    public init(_ kind: Kind, url: URL, status: Int? = nil, body: Data? = nil, isTransient: Bool = false, message: String) {
        self.kind = kind
        self.url = Self.redacted(url)
        self.status = status
        self.snippet = body.flatMap(Self.snippet(of:))
        self.isTransient = isTransient
        self.message = message
    }

    /// Where, the status and a short reason: what users and operators are shown (never the remote body).
    public var description: String {
        var text = "\(kind.rawValue) error from \(url)"
        if let status { text += " (HTTP \(status))" }
        return text + ": \(message)"
    }

    /// The description with the start of the remote body: for the logs only.
    public var detail: String {
        guard let snippet, !snippet.isEmpty else { return description }
        return description + " — " + snippet
    }

    /// A short, secret-free excerpt of a response body.
    static func snippet(of body: Data) -> String? {
        guard !body.isEmpty else { return nil }
        var text = String(decoding: body.prefix(4096), as: UTF8.self)
        text = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let secrets = [
            #"("(?:[A-Za-z_]*[Tt]oken|key|password|secret)"\s*:\s*)("[^"]*"|\{[^}]*\})"#,
            #"((?:Token|Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+"#,
        ]
        for pattern in secrets {
            text = text.replacingOccurrences(of: pattern, with: "$1\"***\"", options: .regularExpression)
        }
        return text.count > 300 ? String(text.prefix(297)) + "..." : text
    }

    static func redacted(_ url: URL) -> String {
        guard var parts = URLComponents(url: url, resolvingAgainstBaseURL: true) else { return "<url>" }
        parts.user = nil
        parts.password = nil
        parts.query = nil
        return parts.string ?? "<url>"
    }
}

/// How Skyport authenticates to one facility.
public enum RemoteAuth: Sendable, Hashable {
    /// HTTP Basic.
    case basic(username: String, password: String)
    /// `Authorization: <scheme> <token>` (django-uws uses the scheme `Token`, most others `Bearer`).
    case token(String, scheme: String = "Bearer")
    /// An arbitrary header, e.g. an API key.
    case header(name: String, value: String)

    var header: (String, String) {
        switch self {
        case let .basic(user, password): ("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
        case let .token(token, scheme): ("Authorization", "\(scheme) \(token)")
        case let .header(name, value): (name, value)
        }
    }
}

/// The one HTTP transport of the remote clients: per-call timeout, body cap, retries of transient failures,
/// structured errors, optional authentication, and never an automatic redirect.
public struct RemoteHTTP: Sendable {
    /// A received response (any 1xx–3xx status; error statuses are thrown as `RemoteError`).
    public struct Response: Sendable {
        public var url: URL
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: Data

        /// The first value of header `name` (case-insensitive).
        public func header(_ name: String) -> String? {
            headers.first { $0.name.utf8.elementsEqual(name.utf8) { Self.lowered($0) == Self.lowered($1) } }?.value
        }

        /// An ASCII letter in lower case (field names are ASCII tokens), any other byte as it is.
        private static func lowered(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }

        /// The `Location` header resolved against the request URL.
        public var location: URL? {
            header("location").flatMap { URL(string: $0, relativeTo: url)?.absoluteURL }
        }

        /// The media type without parameters, lower-cased.
        public var mediaType: String? {
            header("content-type")?.split(separator: ";").first.map { $0.trimmingSpaces().lowercased() }
        }
    }

    /// Every call goes through the egress gate.
    public let egress: Egress
    /// What the calls are for (the gate's logs and refusal counter).
    public var purpose: EgressPurpose
    public var auth: RemoteAuth?
    /// Where `auth` may be sent: a redirect (a UWS 303, a federated broker's `Location`) to another origin goes
    /// without it. Nil sends it everywhere this transport is used (a client for one known service).
    public var authOrigin: Origin?
    /// Calls for the operator's own configuration (a configured registry source): not judged by the egress rule.
    public var trusted = false
    /// Time allowed for one attempt (connect, send, receive the whole body).
    public var timeout: Duration
    public var maxBodyBytes: Int
    public var retry: RetryPolicy
    public var logger: Logger
    /// The clock the pauses between retries (and the UWS wait loops built on this transport) sleep on and read;
    /// tests give a virtual clock so that nothing depends on how fast the machine is.
    public var clock: any Clock<Duration>

    /// Calls through `egress`, which its creator owns and shuts down.
    public init(
        egress: Egress, purpose: EgressPurpose, auth: RemoteAuth? = nil, timeout: Duration = .seconds(30), maxBodyBytes: Int = 8 << 20,
        retry: RetryPolicy = RetryPolicy(), logger: Logger = Logger(label: "skyport.remote"),
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.egress = egress
        self.purpose = purpose
        self.auth = auth
        self.timeout = timeout
        self.maxBodyBytes = maxBodyBytes
        self.retry = retry
        self.logger = logger
        self.clock = clock
    }

    /// The `HTTPClient` configuration the remote clients expect: redirects are returned, not followed, and a failed
    /// connect fails the call at once (instead of being retried by the pool until the deadline) so `retry` decides.
    public static var clientConfiguration: HTTPClient.Configuration {
        var config = HTTPClient.Configuration(redirectConfiguration: .disallow)
        config.timeout.connect = .seconds(5)
        config.connectionPool.retryConnectionEstablishment = false
        return config
    }

    /// The HTTP methods the remote clients use.
    public enum Method: String, Sendable {
        case GET, POST, PUT, DELETE

        var isIdempotent: Bool { self != .POST }
    }

    /// GET `url`.
    public func get(_ url: URL, accept: String? = nil, timeout: Duration? = nil) async throws -> Response {
        try await send(.GET, url, headers: accept.map { [("Accept", $0)] } ?? [], timeout: timeout)
    }

    /// POST `fields` form-encoded to `url`; pass `idempotent: true` only when repeating the POST is harmless.
    public func postForm(_ url: URL, _ fields: [(String, String)], accept: String? = nil, idempotent: Bool = false) async throws -> Response {
        var headers = [("Content-Type", "application/x-www-form-urlencoded")]
        if let accept { headers.append(("Accept", accept)) }
        return try await send(.POST, url, headers: headers, body: Data(Self.formEncoded(fields).utf8), idempotent: idempotent)
    }

    /// Sends one request, retrying transient failures by `retry`; returns 1xx–3xx answers, throws `RemoteError` otherwise.
    public func send(
        _ method: Method, _ url: URL, headers: [(String, String)] = [], body: Data? = nil,
        idempotent: Bool? = nil, timeout: Duration? = nil
    ) async throws -> Response {
        let idempotent = idempotent ?? method.isIdempotent
        var attempt = 1
        while true {
            do {
                return try await once(method, url, headers: headers, body: body, idempotent: idempotent, timeout: timeout ?? self.timeout)
            } catch let error as RemoteError where error.isTransient && attempt < retry.maxAttempts {
                var rng = SystemRandomNumberGenerator()
                let delay = min(error.retryAfter ?? retry.delay(beforeRetry: attempt, using: &rng), retry.maxDelay)
                logger.debug("retrying remote call", metadata: ["url": "\(error.url)", "attempt": "\(attempt)", "error": "\(error.kind)"])
                try await clock.sleep(for: delay)
                attempt += 1
            }
        }
    }

    private func once(
        _ method: Method, _ url: URL, headers: [(String, String)], body: Data?, idempotent: Bool, timeout: Duration
    ) async throws -> Response {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .init(rawValue: method.rawValue)
        request.headers.add(name: "User-Agent", value: "Skyport")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let auth, authOrigin == nil || authOrigin == Origin(url.absoluteString) {
            request.headers.replaceOrAdd(name: auth.header.0, value: auth.header.1)
        }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        do {
            return try await egress.execute(request, deadline: deadline, purpose: purpose, trusted: trusted, logger: logger) { response in
                if response.history.count > 1 {
                    throw RemoteError(.invalidResponse, url: url, message: "the HTTPClient followed a redirect; configure it with RemoteHTTP.clientConfiguration")
                }
                let status = Int(response.status.code)
                if let length = response.headers.first(name: "content-length").flatMap(Int.init), length > maxBodyBytes {
                    throw RemoteError(.tooLarge, url: url, status: status, message: "body of \(length) bytes exceeds the cap of \(maxBodyBytes)")
                }
                let data = Data(try await response.body.collect(upTo: maxBodyBytes).readableBytesView)
                if status >= 400 {
                    // 503 and 429 say "not processed"; a 502/504 from a gateway may hide a processed POST.
                    let transient = status == 503 || status == 429 || (idempotent && RetryPolicy.isTransient(status: status))
                    var error = RemoteError(.status, url: url, status: status, body: data, isTransient: transient, message: "HTTP \(status) \(response.status.reasonPhrase)")
                    error.retryAfter = response.headers.first(name: "retry-after").flatMap(Int.init).map { Duration.seconds(max($0, 0)) }
                    throw error
                }
                return Response(url: url, status: status, headers: response.headers.map { ($0.name, $0.value) }, body: data)
            }
        } catch let error as RemoteError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw Self.classify(error, url: url, idempotent: idempotent, timeout: timeout, maxBodyBytes: maxBodyBytes)
        }
    }

    static func classify(_ error: any Error, url: URL, idempotent: Bool, timeout: Duration, maxBodyBytes: Int) -> RemoteError {
        if let refusal = error as? EgressRefusal {
            return RemoteError(.refused, url: url, message: "refused by the egress policy: \(refusal.reason.rawValue)")
        }
        if error is NIOTooManyBytesError {
            return RemoteError(.tooLarge, url: url, message: "body exceeds the cap of \(maxBodyBytes) bytes")
        }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return RemoteError(.timeout, url: url, isTransient: idempotent, message: "no answer within \(timeout)")
            case .connectTimeout:
                return RemoteError(.connect, url: url, isTransient: true, message: "connect timeout")
            case .remoteConnectionClosed:
                return RemoteError(.transport, url: url, isTransient: idempotent, message: "connection closed by the remote end")
            default:
                return RemoteError(.transport, url: url, message: "\(error)")
            }
        }
        // NIOPosix's NIOConnectionError (all addresses failed) is not importable here, hence the name test.
        if error is ChannelError || error is IOError || String(reflecting: type(of: error)).hasSuffix("NIOConnectionError") {
            return RemoteError(.connect, url: url, isTransient: true, message: "cannot connect: \(error)")
        }
        return RemoteError(.transport, url: url, message: "\(error)")
    }

    /// `application/x-www-form-urlencoded` encoding of ordered fields (as the WHATWG URL standard serializes a
    /// form): letters, digits and `*-._` as they are, a space as `+`, every other byte of the UTF-8 as `%XX`.
    static func formEncoded(_ fields: [(String, String)]) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        func append(_ s: String) {
            for byte in s.utf8 {
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                     UInt8(ascii: "*"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"):
                    out.append(byte)
                case UInt8(ascii: " "): out.append(UInt8(ascii: "+"))
                default: out.append(contentsOf: [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
                }
            }
        }
        for (i, (name, value)) in fields.enumerated() {
            if i > 0 { out.append(UInt8(ascii: "&")) }
            append(name)
            out.append(UInt8(ascii: "="))
            append(value)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

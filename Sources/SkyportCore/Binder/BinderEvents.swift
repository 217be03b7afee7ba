import Foundation

/// Splits a `text/event-stream` into the `data` of its events, as bytes arrive (any chunking).
/// Comments (`:keepalive`) and the `event`, `id` and `retry` fields are skipped; lines end in LF, CRLF or CR.
public struct ServerSentEvents: Sendable {
    /// The longest line accepted; a longer one is an error (a stream that is not SSE, or a hostile one).
    public static let maxLine = 1 << 20

    private var line: [UInt8] = []
    private var data: [String] = []
    private var afterCR = false

    public init() {}

    public struct LineTooLong: Error, CustomStringConvertible {
        public var description: String { "an event-stream line is longer than \(ServerSentEvents.maxLine) bytes" }
    }

    /// Feeds bytes; returns the events they complete.
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws -> [String] {
        var events: [String] = []
        for byte in bytes {
            if afterCR {
                afterCR = false
                if byte == 0x0A { continue }
            }
            switch byte {
            case 0x0A, 0x0D:
                afterCR = byte == 0x0D
                if let event = endLine() { events.append(event) }
            default:
                guard line.count < Self.maxLine else { throw LineTooLong() }
                line.append(byte)
            }
        }
        return events
    }

    private mutating func endLine() -> String? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            guard !data.isEmpty else { return nil }
            defer { data.removeAll() }
            return data.joined(separator: "\n")
        }
        if line.first == UInt8(ascii: ":") { return nil }
        let text = String(decoding: line, as: UTF8.self)
        let field: Substring, value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            let rest = text[text.index(after: colon)...]
            value = rest.first == " " ? rest.dropFirst() : rest
        } else {
            field = text[...]
            value = ""
        }
        if field == "data" { data.append(String(value)) }
        return nil
    }
}

/// One event of a BinderHub `/build` stream (`data: {json}`), with the fields a broker reads.
public struct BinderEvent: Sendable, Hashable {
    /// Lower-cased (builders may send `Building`); nil for repo2docker log lines that carry none.
    public var phase: String?
    public var message: String?
    /// An HTTP status BinderHub put inside a `failed` event (it always answers 200).
    public var statusCode: Int?
    public var url: String?
    public var token: String?
    public var imageName: String?

    public init(phase: String? = nil, message: String? = nil, statusCode: Int? = nil, url: String? = nil, token: String? = nil, imageName: String? = nil) {
        self.phase = phase
        self.message = message
        self.statusCode = statusCode
        self.url = url
        self.token = token
        self.imageName = imageName
    }

    /// Reads an event's data; data that is not a JSON object is a log line in phase `unknown`.
    public init(data: String) {
        guard let object = (try? JSONValue.parse(data))?.objectValue else {
            self.init(phase: "unknown", message: data)
            return
        }
        func string(_ key: String) -> String? {
            switch object[key] {
            case .string(let s)?: return s
            case .number(let n)?: return n.rounded() == n && abs(n) < 9.0e15 ? String(Int(n)) : String(n)
            default: return nil
            }
        }
        self.init(
            phase: string("phase")?.lowercased(), message: string("message"),
            statusCode: object["status_code"]?.intValue,
            url: string("url"), token: string("token"), imageName: string("imageName") ?? string("image"))
    }

    /// The message without its trailing newline, shortened for a session's progress line.
    public var text: String? {
        guard let message else { return nil }
        let trimmed = message.trimmingWhitespace()
        guard !trimmed.isEmpty else { return nil }
        return trimmed.count > 300 ? String(trimmed.prefix(297)) + "..." : trimmed
    }
}

/// How a BinderHub launch ended, or why it cannot go on.
public enum BinderVerdict: Sendable, Hashable {
    /// The server is up: the user goes to `url` with `token`.
    case ready(url: String, token: String)
    /// BinderHub is too busy right now (rate limit, quota): try again after `retryAfter` seconds.
    case busy(message: String, retryAfter: TimeInterval)
    /// The launch failed; retrying the same launch would fail again.
    case failed(message: String)
}

/// BinderHub's stream rules, as pure functions of the events (`binderhub.md` §1.4, §1.5).
public enum BinderStream {
    /// The phases after which BinderHub no longer needs the staged source (it has the image). A failure is not
    /// among them: a busy BinderHub refuses before building and is asked again, for the same commit.
    public static let sourceReleased: Set<String> = ["built", "launching", "ready"]

    /// What a terminal event means; nil for an event after which the stream goes on.
    /// `recent` are the latest log messages before it (a failed build's own words are often there, such as
    /// the staging script's line naming the basket item that could not be fetched).
    public static func verdict(_ event: BinderEvent, recent: [String]) -> BinderVerdict? {
        switch event.phase {
        case "ready":
            guard let url = event.url, let token = event.token else {
                return .failed(message: "BinderHub reported ready without a server URL and token (a build-only answer): \(event.text ?? "no message")")
            }
            return .ready(url: url, token: token)
        case "failed":
            let text = event.text
            if event.statusCode == 429 || text.map(isRateLimit) == true {
                return .busy(message: text ?? "rate limit exceeded", retryAfter: retryAfter(text) ?? 60)
            }
            if let text, isQuota(text) { return .busy(message: text, retryAfter: 30) }
            return .failed(message: failureMessage(event, recent: recent))
        default:
            return nil
        }
    }

    static func isRateLimit(_ text: String) -> Bool { text.localizedCaseInsensitiveContains("rate limit exceeded") }
    static func isQuota(_ text: String) -> Bool { text.hasPrefix("Too many users") }

    /// "Try again in 3600 seconds." / "Try again in 5 minutes."
    static func retryAfter(_ text: String?) -> TimeInterval? {
        guard let text, let range = text.range(of: "Try again in ") else { return nil }
        let words = text[range.upperBound...].split(separator: " ")
        guard let n = words.first.flatMap({ Double($0) }) else { return nil }
        let unit = words.dropFirst().first?.lowercased() ?? "seconds"
        return unit.hasPrefix("minute") ? n * 60 : unit.hasPrefix("hour") ? n * 3600 : n
    }

    static func failureMessage(_ event: BinderEvent, recent: [String]) -> String {
        var parts: [String] = []
        // The staging script's own report of a basket item it could not fetch says what went wrong best.
        if let staged = recent.last(where: { $0.hasPrefix(BasketStaging.logPrefix) }) { parts.append(staged) }
        if let text = event.text, !parts.contains(where: text.contains) { parts.append(text) }
        if parts.isEmpty, let last = recent.last { parts.append(last) }
        var message = "BinderHub build failed"
        if let code = event.statusCode { message += " (status \(code))" }
        return parts.isEmpty ? message + " without a message" : message + ": " + parts.joined(separator: " — ")
    }
}

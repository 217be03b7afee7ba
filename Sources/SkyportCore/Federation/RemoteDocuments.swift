import Foundation

/// Reads the documents another ExecutionBroker answers with: an offer set (`OfferSetResponse`, as Skyport and the
/// Calycopis broker write it) and a session. Only what Skyport needs is read, and anything unexpected is an error
/// that names the field, never a crash.
public enum RemoteDocuments {
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    static let maxMessages = 20
    static let maxText = 500

    /// `text`, cut to `limit` characters (with an ellipsis) and to one line.
    public static func clip(_ text: String, _ limit: Int) -> String {
        let line = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return line.count > limit ? String(line.prefix(limit - 1)) + "…" : line
    }

    /// An offer set: `result`, `offers[]` (each a session: `meta.url` or `meta.uuid`, `phase`, `expires`,
    /// `compute.cores`/`memory` (negotiated, min = max), `schedule.available.start` (`time/PT0S`) and
    /// `duration`, the compute resource's schedule when the session has none), and `meta.messages[]`.
    /// Offers not in phase `OFFERED` are skipped; relative session URLs are resolved against `base`.
    public static func offerSet(_ doc: JSONValue, base: URL) -> Result<BrokerAnswer, Problem> {
        guard let root = doc.objectValue else { return .failure(Problem("the answer is not a JSON object (an offer set)")) }
        // What says most comes first: the broker's errors (what it cannot honour), then each facility it turned
        // down and why (Skyport's extension: a loop further on shows here), then its other messages.
        let said = (root["meta"]?["messages"]?.arrayValue ?? [])
        let errors = said.filter { $0["level"]?.stringValue == "ERROR" }.compactMap { $0["message"]?.stringValue }
        var messages = errors
        for rejected in root["rejected"]?.arrayValue ?? [] {
            for reason in rejected["reasons"]?.arrayValue ?? [] {
                if let text = reason["message"]?.stringValue { messages.append(text) }
            }
        }
        messages += said.filter { $0["level"]?.stringValue != "ERROR" }.compactMap { m -> String? in m["message"]?.stringValue ?? m.stringValue }
        // Another broker's words are shown to users here: kept short, and few.
        messages = messages.prefix(maxMessages).map { clip($0, maxText) }
        let link = root["meta"]?["url"]?.stringValue.flatMap { resolve($0, base) } ?? base.absoluteString
        guard let result = root["result"]?.stringValue?.uppercased() else {
            return .failure(Problem("result: missing (an offer set says YES or NO)"))
        }
        let listed = root["offers"]?.arrayValue ?? []
        var offers: [RemoteOffer] = []
        for (i, item) in listed.enumerated() {
            switch offer(item, field: "offers[\(i)]", base: base) {
            case .success(let o?): offers.append(o)
            case .success(nil): continue
            case .failure(let problem): return .failure(problem)
            }
        }
        if result == "NO" || offers.isEmpty { return .success(.noOffers(offerSet: link, messages: messages)) }
        guard result == "YES" else { return .failure(Problem("result: '\(result)' is neither YES nor NO")) }
        return .success(.offers(offerSet: link, offers, messages: messages))
    }

    /// The answer without the offers whose session URL is on an origin outside `allowed` (a broker's sessions stay
    /// on that broker): each dropped offer is said in the messages; `refused` lists their hosts (for the logs and the
    /// refusal counter). A set URL elsewhere is not kept either.
    public static func keepingOrigins(_ answer: BrokerAnswer, allowed: Set<Origin>) -> (answer: BrokerAnswer, refused: [String]) {
        func inside(_ url: String) -> Bool { Origin(url).map(allowed.contains) ?? false }
        switch answer {
        case .offers(let set, let offers, var messages):
            let kept = offers.filter { inside($0.session) }
            let refused = offers.filter { !inside($0.session) }.map { Origin($0.session)?.host ?? "?" }
            if !refused.isEmpty {
                messages.append(clip("\(refused.count) offer(s) dropped: their sessions are not on the broker's registered endpoint (\(refused[0]))", maxText))
            }
            let setURL = inside(set) ? set : ""
            return (kept.isEmpty ? .noOffers(offerSet: setURL.isEmpty ? nil : setURL, messages: messages) : .offers(offerSet: setURL, kept, messages: messages), refused)
        case .noOffers(let set?, let messages) where !inside(set):
            return (.noOffers(offerSet: nil, messages: messages), [])
        default:
            return (answer, [])
        }
    }

    /// One offered session, or nil when it is not (or no longer) `OFFERED`.
    static func offer(_ item: JSONValue, field: String, base: URL) -> Result<RemoteOffer?, Problem> {
        guard item.objectValue != nil else { return .failure(Problem("\(field): not an object")) }
        guard let phase = item["phase"]?.stringValue?.uppercased() else { return .failure(Problem("\(field).phase: missing")) }
        guard phase == "OFFERED" else { return .success(nil) }
        guard let session = sessionURL(item, base: base) else {
            return .failure(Problem("\(field).meta.url: missing (nor a meta.uuid to make it from)"))
        }
        let compute = item["compute"]
        guard let cores = amount(compute?["cores"]) else { return .failure(Problem("\(field).compute.cores: missing or not a number")) }
        guard let memory = amount(compute?["memory"]) else { return .failure(Problem("\(field).compute.memory: missing or not a number")) }
        let available = item["schedule"]?["available"] ?? compute?["schedule"]?["available"]
        guard let startText = available?["start"]?.stringValue,
              let start = Timestamp.parse(String(startText.split(separator: "/").first ?? ""))
        else { return .failure(Problem("\(field).schedule.available.start: missing or not a time (2026-11-28T12:00:00Z/PT0S)")) }
        let durationText = available?["duration"]?.stringValue ?? compute?["schedule"]?["available"]?["duration"]?.stringValue
        guard let durationText, let duration = ISODuration(durationText) else {
            return .failure(Problem("\(field).schedule.available.duration: missing or not an ISO-8601 duration"))
        }
        let expires = item["expires"]?.stringValue.flatMap(Timestamp.parse)
        let facility = (item["facility"]?["name"]?.stringValue ?? item["facility"]?["id"]?.stringValue).map { clip($0, 200) }
        return .success(RemoteOffer(
            session: session, cores: cores, memory: memory, start: start, duration: duration, expires: expires, facility: facility))
    }

    /// A negotiated amount: `{min, max}` (equal in an offer; the larger is taken) or a bare number.
    static func amount(_ value: JSONValue?) -> Int? {
        guard let value else { return nil }
        if let n = value.intValue { return n }
        return value["max"]?.intValue ?? value["min"]?.intValue
    }

    static func sessionURL(_ item: JSONValue, base: URL) -> String? {
        if let url = item["meta"]?["url"]?.stringValue, let resolved = resolve(url, base) { return resolved }
        guard let uuid = item["meta"]?["uuid"]?.stringValue, UUID(uuidString: uuid) != nil else { return nil }
        return URL(string: "sessions/\(uuid.lowercased())", relativeTo: root(of: base))?.absoluteString
    }

    /// A URL the remote wrote, made absolute; only http(s).
    static func resolve(_ text: String, _ base: URL) -> String? {
        guard let url = URL(string: text, relativeTo: base)?.absoluteURL, let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https" else { return nil }
        return url.absoluteString
    }

    /// `http://host/broker/` from `http://host/broker/offersets/…`.
    static func root(of url: URL) -> URL {
        var text = url.absoluteString
        for marker in ["/offersets/", "/requests", "/sessions/"] {
            if let r = text.range(of: marker) { text = String(text[..<r.lowerBound]); break }
        }
        return URL(string: text.hasSuffix("/") ? text : text + "/") ?? url
    }

    /// A remote session, mapped onto this broker's lifecycle. A remote `CANCELLED` is `CANCELLED` when this broker
    /// asked for it, else `FAILED`; an offer that expired or was rejected there is `FAILED` here. The remote
    /// phase is kept as `remotePhase`; a notebook connector that is up gives `access` (its token, if any,
    /// comes back apart, to be sealed).
    public static func session(_ doc: JSONValue, cancelRequested: Bool) -> Result<(RemoteStatus, token: String?), Problem> {
        guard doc.objectValue != nil else { return .failure(Problem("the answer is not a JSON object (a session)")) }
        guard let word = doc["phase"]?.stringValue?.uppercased() else { return .failure(Problem("phase: missing")) }
        guard let remote = SessionPhase(rawValue: word) else { return .failure(Problem("phase: '\(word)' is not a session phase")) }
        let phase: SessionPhase
        switch remote {
        case .initial, .offered, .accepted, .waiting, .preparing: phase = .preparing
        case .available: phase = .available
        case .running, .releasing: phase = .running
        case .completed: phase = .completed
        case .cancelled: phase = cancelRequested ? .cancelled : .failed
        case .failed, .expired, .rejected: phase = .failed
        }
        let results = (doc["results"]?.arrayValue ?? []).compactMap { r -> UWSResult? in
            guard let id = r["id"]?.stringValue, let href = r["href"]?.stringValue else { return nil }
            return UWSResult(id: id, href: href)
        }
        var message = doc["message"]?.stringValue.map { clip($0, maxText) }
        if message == nil, [.failed, .expired, .rejected].contains(remote) {
            message = (doc["meta"]?["messages"]?.arrayValue ?? []).compactMap { $0["message"]?.stringValue }.last
                ?? "the remote broker reports \(word)"
        }
        var status = RemoteStatus(
            phase: phase, remotePhase: .broker(remote), results: results, error: [.failed, .expired, .rejected].contains(remote) ? message : nil,
            progress: doc["progress"]?["message"]?.stringValue.map { clip($0, maxText) })
        var token: String?
        let connectors = doc["connectors"]?.arrayValue ?? []
        if [.available, .running].contains(phase),
           let notebook = connectors.first(where: { ($0["kind"]?.stringValue ?? "").contains("notebook") }),
           let location = notebook["location"]?.stringValue {
            (status.access, token) = splitToken(location)
        }
        return .success((status, token))
    }

    /// A link without its `token` query parameter, and the token.
    static func splitToken(_ link: String) -> (String, String?) {
        guard var parts = URLComponents(string: link), let items = parts.queryItems,
              let token = items.first(where: { $0.name == "token" })?.value else { return (link, nil) }
        let rest = items.filter { $0.name != "token" }
        parts.queryItems = rest.isEmpty ? nil : rest
        return (parts.string ?? link, token)
    }
}

/// Matches many requests against one facility list, matching each distinct request shape only once.
public struct MatchBatch: Sendable {
    /// The compiled facilities.
    public let index: MatchIndex
    private var cache: [MatchShape: MatchOutcome] = [:]

    public init(index: MatchIndex) { self.index = index }
    public init(facilities: [Facility]) { self.init(index: MatchIndex(facilities)) }

    /// How many distinct shapes have been matched.
    public var distinctShapes: Int { cache.count }

    /// The outcome for a request, from the cache when a request of the same shape was matched before.
    public mutating func outcome(for request: NormalisedRequest) -> MatchOutcome { outcome(for: MatchShape(request)) }

    /// The outcome for a shape, from the cache when it was matched before.
    public mutating func outcome(for shape: MatchShape) -> MatchOutcome {
        if let hit = cache[shape] { return hit }
        let outcome = index.match(shape)
        cache[shape] = outcome
        return outcome
    }

    /// One result line per request, in request order, labelled by the request's name or else its position.
    public mutating func lines(for requests: [NormalisedRequest]) -> [MatchLine] {
        requests.enumerated().map { n, request in
            MatchLine(request: request.name.map(MatchLine.Label.name) ?? .index(n), outcome: outcome(for: request))
        }
    }
}

/// One request's match result as the CLI prints it: one JSON object per line.
public struct MatchLine: Sendable, Hashable, Codable {
    /// How a request is named in the output: its name, or its position (from 0) in the input.
    public enum Label: Sendable, Hashable, Codable {
        case index(Int)
        case name(String)

        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let n = try? c.decode(Int.self) { self = .index(n) } else { self = .name(try c.decode(String.self)) }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .index(let n): try c.encode(n)
            case .name(let s): try c.encode(s)
            }
        }
    }

    public var request: Label
    /// `YES` when at least one facility matches, else `NO` (the ExecutionBroker's `result` values).
    public var result: String
    /// The matching facilities' identifiers, best first.
    public var facilities: [String]
    /// How many facilities were rejected.
    public var rejected: Int

    public init(request: Label, result: String, facilities: [String], rejected: Int) {
        self.request = request
        self.result = result
        self.facilities = facilities
        self.rejected = rejected
    }

    public init(request: Label, outcome: MatchOutcome) {
        self.init(
            request: request, result: outcome.isMatch ? "YES" : "NO",
            facilities: outcome.rankedIDs.map(\.rawValue), rejected: outcome.rejectedCount)
    }

    /// The line as compact JSON with keys in a fixed order (`request`, `result`, `facilities`, `rejected`).
    public var json: String {
        var out = "{\"request\":"
        switch request {
        case .index(let n): out += "\(n)"
        case .name(let s): out += Self.quoted(s)
        }
        out += ",\"result\":\(Self.quoted(result)),\"facilities\":["
        out += facilities.map(Self.quoted).joined(separator: ",")
        out += "],\"rejected\":\(rejected)}"
        return out
    }

    /// A JSON string literal.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}

/// A per-client request rate: `perSecond` tokens flow into each client's bucket, which holds at most `burst`; a
/// request takes one token. `perSecond` 0 turns the limit off.
public struct RateLimit: Sendable, Equatable {
    public var perSecond: Double
    public var burst: Int

    public init(perSecond: Double, burst: Int) {
        self.perSecond = perSecond
        self.burst = max(1, burst)
    }

    /// No limit.
    public static let off = RateLimit(perSecond: 0, burst: 1)

    public var isOff: Bool { perSecond <= 0 }

    /// How long an untouched bucket takes to fill up from empty: after that it is the same as no bucket at all.
    public var refillTime: Duration { isOff ? .zero : .seconds(Double(burst) / perSecond) }
}

/// What the rate limit says about one request.
public enum RateDecision: Sendable, Equatable {
    case allowed
    /// Refused: a token will be there after `retryAfter`.
    case denied(retryAfter: Duration)

    /// `Retry-After` in whole seconds (rounded up, at least 1).
    public var retryAfterSeconds: Int? {
        guard case .denied(let d) = self else { return nil }
        let c = d.components
        let seconds = Int(c.seconds) + (c.attoseconds > 0 ? 1 : 0)
        return max(1, seconds)
    }
}

/// One client's token bucket. Time is a `Duration` since any fixed origin (the caller's clock), so the rule is a
/// pure function of the bucket, the limit and `now`.
public struct TokenBucket: Sendable, Equatable {
    public var tokens: Double
    public var updated: Duration

    /// A full bucket, as a client never seen before has.
    public static func full(_ limit: RateLimit, at now: Duration) -> TokenBucket {
        TokenBucket(tokens: Double(limit.burst), updated: now)
    }

    public init(tokens: Double, updated: Duration) {
        self.tokens = tokens
        self.updated = updated
    }

    /// Refills the bucket for the time since it was last touched, then takes a token if one is there.
    public mutating func take(_ limit: RateLimit, now: Duration) -> RateDecision {
        guard !limit.isOff else { return .allowed }
        let elapsed = max(.zero, now - updated)
        tokens = min(Double(limit.burst), tokens + Self.seconds(elapsed) * limit.perSecond)
        updated = max(updated, now)
        if tokens >= 1 {
            tokens -= 1
            return .allowed
        }
        return .denied(retryAfter: .seconds((1 - tokens) / limit.perSecond))
    }

    /// Whether the bucket would be full again at `now` (then forgetting it changes nothing).
    public func isFull(_ limit: RateLimit, at now: Duration) -> Bool {
        tokens + Self.seconds(max(.zero, now - updated)) * limit.perSecond >= Double(limit.burst)
    }

    static func seconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}

/// The buckets of every client seen recently, with bounded memory: buckets that have filled up again are forgotten
/// (a full bucket is what a new client gets), and when more than `maxClients` are still draining, the longest
/// untouched ones are forgotten first.
public struct RateLimitTable: Sendable {
    public let limit: RateLimit
    public let maxClients: Int
    private var buckets: [String: TokenBucket] = [:]
    private var lastSweep: Duration?

    public init(limit: RateLimit, maxClients: Int = 100_000) {
        self.limit = limit
        self.maxClients = max(1, maxClients)
    }

    /// The clients with a bucket now.
    public var clientCount: Int { buckets.count }

    /// Takes a token from `client`'s bucket.
    public mutating func take(_ client: String, now: Duration) -> RateDecision {
        guard !limit.isOff else { return .allowed }
        if buckets.count >= maxClients || lastSweep.map({ now - $0 >= limit.refillTime }) ?? true {
            sweep(now: now)
        }
        var bucket = buckets[client] ?? .full(limit, at: now)
        let decision = bucket.take(limit, now: now)
        buckets[client] = bucket
        return decision
    }

    /// Forgets the buckets that are full again; if that is not enough, the longest untouched ones, down to 90% of
    /// `maxClients`.
    public mutating func sweep(now: Duration) {
        lastSweep = now
        buckets = buckets.filter { !$0.value.isFull(limit, at: now) }
        guard buckets.count >= maxClients else { return }
        let keep = maxClients * 9 / 10
        let newest = buckets.sorted { $0.value.updated > $1.value.updated }.prefix(keep)
        buckets = Dictionary(uniqueKeysWithValues: newest.map { ($0.key, $0.value) })
    }
}

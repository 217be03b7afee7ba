import Foundation

/// How a remote call is retried: exponential backoff with full jitter, for transient failures only
/// (connection errors and 502/503/504); permanent failures (4xx) are never retried.
public struct RetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 4, baseDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(10)) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Whether an HTTP status is worth another try.
    public static func isTransient(status: Int) -> Bool { status == 502 || status == 503 || status == 504 || status == 429 }

    /// The wait before attempt `attempt` (1-based, counting the first retry as 1): a random point in
    /// [0, min(maxDelay, baseDelay × 2^(attempt-1))].
    public func delay<R: RandomNumberGenerator>(beforeRetry attempt: Int, using rng: inout R) -> Duration {
        let cap = min(maxDelay, baseDelay * (1 << min(max(attempt - 1, 0), 20)))
        let nanos = cap.components.seconds * 1_000_000_000 + cap.components.attoseconds / 1_000_000_000
        return .nanoseconds(nanos > 0 ? Int64.random(in: 0...nanos, using: &rng) : 0)
    }
}

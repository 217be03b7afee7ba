import SkyportRemotes
import Testing

@Suite struct RetryPolicyTests {
    @Test func onlyGatewayErrorsAndThrottlingAreTransient() {
        for status in [502, 503, 504, 429] { #expect(RetryPolicy.isTransient(status: status)) }
        for status in [200, 303, 400, 401, 403, 404, 409, 500] { #expect(!RetryPolicy.isTransient(status: status)) }
    }

    @Test func delaysGrowExponentiallyWithFullJitterUpToTheCap() {
        let policy = RetryPolicy(maxAttempts: 6, baseDelay: .milliseconds(100), maxDelay: .milliseconds(700))
        var rng = SystemRandomNumberGenerator()
        for attempt in 1...6 {
            let cap = min(700, 100 << (attempt - 1))
            var seen: [Duration] = []
            for _ in 0..<200 {
                let d = policy.delay(beforeRetry: attempt, using: &rng)
                #expect(d >= .zero && d <= .milliseconds(cap))
                seen.append(d)
            }
            #expect(Set(seen).count > 10)  // jittered, not fixed
        }
    }
}

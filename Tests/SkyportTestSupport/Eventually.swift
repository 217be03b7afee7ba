/// Polls `condition` every `interval` until it holds, and returns true as soon as it does; false if it still does
/// not hold after `timeout`. The timeout is generous on purpose: a loaded machine makes things slow, not wrong, and a
/// passing test never waits for it.
public func eventually(
    within timeout: Duration = .seconds(60), every interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if try await condition() { return true }
        if clock.now >= deadline { return false }
        try? await Task.sleep(for: interval)
    }
}

import SkyportCore
import Synchronization

/// `Admission` behind a lock, with the clock that drives it (injected in tests) and the continuations of the
/// requests that wait: `POST /requests` and `/direct` run inside `admitted`, and a request it refuses is answered
/// 503 (`overloaded`) with `Retry-After`.
public final class OfferAdmission: Sendable {
    private struct State {
        var admission: Admission
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Tickets started before their request had registered its continuation.
        var startedEarly: Set<UInt64> = []
    }

    private let state: Mutex<State>
    private let now: @Sendable () -> Duration

    /// `now`: time since any fixed origin (by default the continuous clock since the gate was made).
    public init(_ settings: Admission.Settings, now: (@Sendable () -> Duration)? = nil) {
        state = Mutex(State(admission: Admission(settings)))
        if let now {
            self.now = now
        } else {
            let origin = ContinuousClock.now
            self.now = { ContinuousClock.now - origin }
        }
    }

    /// Runs `body` once the request may start (at once, or when a running one finishes); throws
    /// `APIError.overloaded` when it is refused.
    public func admitted<T>(_ body: () async throws -> T) async throws -> T {
        switch state.withLock({ $0.admission.arrive(at: now()) }) {
        case .start: break   // no suspension: most requests start at once
        case .refuse: throw APIError.overloaded
        case .wait(let ticket):
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                // A finish may have started it between its arrival and now.
                let started = state.withLock { s in
                    if s.startedEarly.remove(ticket) != nil { return true }
                    s.waiters[ticket] = waiter
                    return false
                }
                if started { waiter.resume() }
            }
        }
        defer { finish() }
        return try await body()
    }

    private func finish() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            // The time read under the lock: a finish never judges a wait with a time older than its arrival.
            guard let ticket = s.admission.finish(at: now()) else { return nil }
            guard let waiter = s.waiters.removeValue(forKey: ticket) else {
                s.startedEarly.insert(ticket)
                return nil
            }
            return waiter
        }
        next?.resume()
    }

    /// Running and waiting requests, those refused and those that waited so far, and whether the gate judges the
    /// broker overloaded (`/metrics` and tests).
    public var counts: Admission.Counts { state.withLock { $0.admission.counts } }
}

import Synchronization

/// Wakes a background worker as soon as there is new work (an offer accepted, a session cancelled) instead of
/// at its next poll. A ring with nobody waiting is kept for the next wait.
public final class WorkSignal: Sendable {
    private struct State {
        var pending = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var released: Set<Int> = []
        var next = 0
    }
    private let state = Mutex(State())

    public init() {}

    public func ring() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            if s.waiters.isEmpty { s.pending = true; return [] }
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume() }
    }

    /// Returns at the next ring (or at once if one is pending), or after `timeout`.
    public func wait(upTo timeout: Duration) async {
        let id = state.withLock { s -> Int? in
            if s.pending { s.pending = false; return nil }
            s.next += 1
            return s.next
        }
        guard let id else { return }
        await suspend(upTo: timeout, register: { c in
            self.state.withLock { s -> Bool in
                if s.released.remove(id) != nil { return true }
                // A ring between taking the id and registering here was kept as pending: take it.
                if s.pending { s.pending = false; return true }
                s.waiters[id] = c
                return false
            }
        }, expire: { self.release(id) })
        state.withLock { _ = $0.released.remove(id) }
    }

    private func release(_ id: Int) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiters.removeValue(forKey: id) { return w }
            s.released.insert(id)
            return nil
        }
        waiter?.resume()
    }
}

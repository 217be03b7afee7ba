import Foundation
import Synchronization

/// Tells waiters that a stored thing changed (a session's phase, a UWS job), by key, so that long polls
/// (`GET /sessions/{id}?wait`, UWS `WAIT`) wake on the write instead of re-reading the store on a timer.
///
/// A waiter starts observing *before* it reads the store, so that a change between its read and its wait is
/// never missed: `observe` → read → `wait`. Stores ring it after each committed write.
public final class ChangeFeed: Sendable {
    private struct Waiter {
        var keys: [String]
        var fired = false
        /// Woken by its timeout or cancellation: a continuation registered after this resumes at once.
        var closed = false
        var continuation: CheckedContinuation<Void, Never>?
    }
    private struct State {
        var waiters: [Int: Waiter] = [:]
        var byKey: [String: Set<Int>] = [:]
        var next = 0
    }
    private let state = Mutex(State())

    public init() {}

    /// One observation of some keys; wait on it once.
    public struct Observation: Sendable {
        let feed: ChangeFeed
        let id: Int

        /// Returns as soon as one of the keys changed since `observe` (at once if it already has), or after `timeout`.
        /// Returns whether a change was seen.
        @discardableResult
        public func wait(upTo timeout: Duration) async -> Bool {
            await feed.wait(id, upTo: timeout)
        }

        /// Stops observing without waiting.
        public func cancel() { feed.remove(id) }
    }

    /// Starts observing changes of any of `keys`.
    public func observe(_ keys: [String]) -> Observation {
        let id = state.withLock { s -> Int in
            s.next += 1
            s.waiters[s.next] = Waiter(keys: keys)
            for k in keys { s.byKey[k, default: []].insert(s.next) }
            return s.next
        }
        return Observation(feed: self, id: id)
    }

    /// Rings the waiters of `key`.
    public func changed(_ key: String) {
        fire { s in s.byKey[key].map(Array.init) ?? [] }
    }

    /// Rings every waiter (a sweep that changed many things at once).
    public func changedAll() {
        fire { s in Array(s.waiters.keys) }
    }

    /// Marks the chosen observations fired and resumes those that are waiting.
    private func fire(_ chosen: (State) -> [Int]) {
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            var out: [CheckedContinuation<Void, Never>] = []
            for id in chosen(s) {
                s.waiters[id]?.fired = true
                if let c = s.waiters[id]?.continuation {
                    out.append(c)
                    s.waiters[id]?.continuation = nil
                }
            }
            return out
        }
        for c in ready { c.resume() }
    }

    /// How many observations are open (for tests: none may be left behind).
    public var observing: Int { state.withLock { $0.waiters.count } }

    private func wait(_ id: Int, upTo timeout: Duration) async -> Bool {
        await suspend(upTo: timeout, register: { c in
            self.state.withLock { s -> Bool in
                guard let w = s.waiters[id], !w.fired, !w.closed else { return true }
                s.waiters[id]?.continuation = c
                return false
            }
        }, expire: { self.wake(id) })
        return remove(id)
    }

    /// Resumes the waiter of `id` if it is suspended (its timeout ran out, or the task was cancelled).
    private func wake(_ id: Int) {
        let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.waiters[id]?.closed = true
            defer { s.waiters[id]?.continuation = nil }
            return s.waiters[id]?.continuation
        }
        c?.resume()
    }

    /// Ends an observation; returns whether it had fired.
    @discardableResult
    private func remove(_ id: Int) -> Bool {
        state.withLock { s -> Bool in
            guard let w = s.waiters.removeValue(forKey: id) else { return false }
            for k in w.keys {
                s.byKey[k]?.remove(id)
                if s.byKey[k]?.isEmpty == true { s.byKey[k] = nil }
            }
            return w.fired
        }
    }
}

extension ChangeFeed {
    /// The key a session's writes ring.
    public static func key(session id: UUID) -> String { "session:" + id.text }
    /// The key a UWS job's writes ring.
    public static func key(uwsJob id: String) -> String { "uws:" + id }
}

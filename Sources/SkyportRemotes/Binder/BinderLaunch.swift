import Foundation
import Synchronization

/// One BinderHub launch as it happens: the phase and message of the build stream, and how it ended.
/// Written by the task reading the stream, read by the forwarding service's status calls, which can wait
/// for the next change without polling.
final class BinderLaunchState: Sendable {
    enum Outcome: Sendable, Equatable {
        case ready(url: String, token: String)
        case failed(String)
        case cancelled
    }

    struct Snapshot: Sendable, Equatable {
        var version = 0
        var phase = "waiting"
        var progress: String?
        var outcome: Outcome?
    }

    private struct State {
        var snapshot = Snapshot()
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var timedOut: Set<Int> = []
        var nextWaiter = 0
    }

    private let state = Mutex(State())
    private let task = Mutex<Task<Void, Never>?>(nil)
    let started = ContinuousClock.now

    var snapshot: Snapshot { state.withLock { $0.snapshot } }

    func attach(_ t: Task<Void, Never>) { task.withLock { $0 = t } }
    func cancel() { task.withLock { $0?.cancel() } }

    func update(phase: String?, progress: String?) {
        change { s in
            if let phase { s.phase = phase }
            if let progress { s.progress = progress }
        }
    }

    func finish(_ outcome: Outcome) {
        change { s in if s.outcome == nil { s.outcome = outcome } }
    }

    private func change(_ body: (inout Snapshot) -> Void) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            let before = s.snapshot
            body(&s.snapshot)
            guard s.snapshot != before else { return [] }
            s.snapshot.version += 1
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume() }
    }

    /// Returns once the snapshot's version is past `version`, or after `timeout`.
    func waitForChange(after version: Int, timeout: Duration) async {
        let id = state.withLock { s -> Int in s.nextWaiter += 1; return s.nextWaiter }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { c in
                    let resumeNow = self.state.withLock { s -> Bool in
                        if s.snapshot.version > version || s.timedOut.remove(id) != nil { return true }
                        s.waiters[id] = c
                        return false
                    }
                    if resumeNow { c.resume() }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.release(id)
            }
            await group.next()
            group.cancelAll()
            self.release(id)
        }
        state.withLock { _ = $0.timedOut.remove(id) }
    }

    /// Wakes waiter `id` (or makes it return at once if it has not registered yet).
    private func release(_ id: Int) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiters.removeValue(forKey: id) { return w }
            s.timedOut.insert(id)
            return nil
        }
        waiter?.resume()
    }
}

/// The launches this process is running, by session.
final class BinderLaunches: Sendable {
    private let launches = Mutex<[UUID: BinderLaunchState]>([:])

    /// The session's launch, or a new one started by `start` when there is none.
    func launch(_ session: UUID, start: (BinderLaunchState) -> Task<Void, Never>) -> BinderLaunchState {
        launches.withLock { all in
            if let existing = all[session] { return existing }
            let state = BinderLaunchState()
            state.attach(start(state))
            all[session] = state
            return state
        }
    }

    func existing(_ session: UUID) -> BinderLaunchState? { launches.withLock { $0[session] } }

    func remove(_ session: UUID) { _ = launches.withLock { $0.removeValue(forKey: session) } }

    var count: Int { launches.withLock { $0.count } }
}

import Foundation
import SkyportCore
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

    private let state = Mutex(Snapshot())
    private let changed = WorkSignal()
    private let task = Mutex<Task<Void, Never>?>(nil)
    let started = ContinuousClock.now

    var snapshot: Snapshot { state.withLock { $0 } }

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
        let moved = state.withLock { s -> Bool in
            let before = s
            body(&s)
            guard s != before else { return false }
            s.version += 1
            return true
        }
        if moved { changed.ring() }
    }

    /// Returns once the snapshot's version is past `version`, or after `timeout`.
    func waitForChange(after version: Int, timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while snapshot.version <= version, ContinuousClock.now < deadline, !Task.isCancelled {
            await changed.wait(upTo: deadline - ContinuousClock.now)
        }
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

import Foundation

/// Sessions claimed by a forwarding worker for a while (a lease), so that two workers never drive one job.
public protocol ForwardingStore: Sendable {
    /// Claims up to `limit` sessions that need forwarding or tracking and whose lease is free or lapsed,
    /// leasing them to `worker` until `until`. Those are the sessions `ForwardingMachine.needsWork` picks: accepted
    /// sessions, sessions being prepared or running, cancelled sessions whose remote job has not ended, ended
    /// sessions whose callback has not been told.
    func claimWork(worker: String, now: Date, until: Date, limit: Int) async throws -> [SessionRecord]
    /// Applies `change` to the stored session in one transaction, if `worker` still holds its lease;
    /// returns the stored result, or nil when the lease was lost. A client's `CANCELLED` is never overwritten
    /// (`ForwardingMachine.workerChange`).
    func updateClaimed(
        _ id: UUID, worker: String, now: Date, change: @escaping @Sendable (inout SessionRecord) -> Void
    ) async throws -> SessionRecord?
    /// Ends a claim: `until` nil frees the session at once; a date keeps others off it until then (a backoff).
    func release(_ id: UUID, worker: String, until: Date?) async throws

    /// Passes a claimed session from `worker` to `watcher` (a job-list tracker, with nothing in flight for it) until
    /// `until`: no worker claims it before then unless the watcher gives it back (`unwatch`), or the client changes
    /// its phase (a cancel does not wait for the watch to end: `ForwardingMachine.isWatcher`).
    func watch(_ id: UUID, worker: String, watcher: String, until: Date) async throws
    /// Extends to `until` the watch on those of `ids` that `watcher` holds (a session it lost track of lapses).
    func renewWatch(_ ids: [UUID], watcher: String, until: Date) async throws
    /// Gives back, claimable at once, the sessions `watcher` holds among `ids` (all it holds for nil).
    func unwatch(_ ids: [UUID]?, watcher: String) async throws
}

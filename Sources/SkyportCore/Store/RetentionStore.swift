import Foundation

/// Deleting what is over (`RetentionPolicy`), in bounded batches.
public protocol RetentionStore: Sendable {
    /// Deletes at most `policy.batch` offer sets that `Retention.isDeletable` gives up at `now`, with their sessions,
    /// in one write transaction. Returns what it deleted (`offerSets` below the batch size: nothing more to do).
    func purgeOfferSets(now: Date, policy: RetentionPolicy) async throws -> RetentionSweep
    /// Deletes at most `policy.batch` UWS jobs past their destruction time and the grace, in one write transaction.
    func purgeUWSJobs(now: Date, policy: RetentionPolicy) async throws -> RetentionSweep
    /// Deletes, in one write of at most `policy.batch` rows of each, usage that ended before `policy.usageCutoff`
    /// and audit events before `policy.auditCutoff`; returns how many rows went.
    func purgeAccounting(now: Date, policy: RetentionPolicy) async throws -> Int
    /// Gives freed space back after deletions where the store can (SQLite: an incremental vacuum of at most `pages`
    /// pages when the file was made with `auto_vacuum = INCREMENTAL`); returns the pages given back.
    func reclaimSpace(pages: Int) async throws -> Int
}

extension RetentionStore {
    public func reclaimSpace(pages: Int) async throws -> Int { 0 }
}

import Foundation
import GRDB
import SkyportCore
import Synchronization

/// Group commit of the writes that change sessions: offer sets (every offer request ends in one: plan against the
/// ledger, store the set and its sessions), phase changes, forwarding steps and claims. At hundreds of requests a
/// second one transaction per write wrote the same pages again and again: the tables' and indexes' last pages, every
/// facility's booking pages (about 48 KB reached the disk per offer request), and an accepted session's forwarding
/// made eight more commits of its own. Writes that arrive while the writer is busy therefore wait together and are
/// written as one transaction when it is free: each in order, in a savepoint of its own, an offer request planning
/// against the ledger with the holds of those before it in the group already applied (so booking stays atomic: no
/// request can plan between another's plan and its writes). One whose work throws is rolled back to its savepoint and
/// gets its error; the others are unaffected. If the transaction fails as a whole, every write in it gets the error
/// and every hold it applied is undone. A lone write is written at once, as before: grouping adds no wait.
struct WriteQueue: Sendable {
    /// A write's work, its value type erased (`groupedWrite` gives it back as it was).
    typealias Work = @Sendable (Database) throws -> (any Sendable, [CapacityLedger.Change])
    struct Waiting: Sendable {
        let work: Work
        /// Given the write's result once its group has committed (or failed).
        let done: @Sendable (Result<any Sendable, any Error>) -> Void
    }
    var waiting: [Waiting] = []
    var writing = false
    /// Transactions written, and the writes in them (for tests and the benchmark's notes).
    var groups = 0, writes = 0
}

extension SQLiteStore {
    /// The most writes in one transaction: a bound on how long the writer is held at a time.
    static let writeGroupLimit = 64

    /// Runs `work` in the next group's transaction and returns its value. `work` returns the ledger changes of the
    /// sessions it wrote (`CapacityLedger.change`): those that hold capacity are applied at the end of its savepoint,
    /// still on the writer (before the commit, and before the next write in the group plans); those that free it once
    /// the group has committed. If the commit fails after holds were applied, each of those sessions gets back what it
    /// held before (counting too much meanwhile is safe; too little never is).
    func groupedWrite<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> (T, [CapacityLedger.Change])) async throws -> T {
        let erased: WriteQueue.Work = { db in try work(db) }
        // No group is being written: this write is one, written on this task, so that a lone write costs no more
        // (no task and thread switch more) than a write of its own did.
        let lead = writeQueue.withLock { queue in
            defer { queue.writing = true }
            if !queue.writing { (queue.groups, queue.writes) = (queue.groups + 1, queue.writes + 1) }
            return !queue.writing
        }
        let value: any Sendable
        if lead {
            let result = Mutex<Result<any Sendable, any Error>?>(nil)
            await write([WriteQueue.Waiting(work: erased, done: { written in result.withLock { $0 = written } })])
            handOn()
            value = try result.withLock { $0! }.get()
        } else {
            value = try await withCheckedThrowingContinuation { (done: CheckedContinuation<any Sendable, any Error>) in
                let lead = writeQueue.withLock { queue in
                    queue.waiting.append(WriteQueue.Waiting(work: erased, done: { done.resume(with: $0) }))
                    defer { queue.writing = true }
                    return !queue.writing
                }
                // The group being written ended before this write was in the queue.
                if lead { Task { await self.writeGroups() } }
            }
        }
        // The value `work` returned: a `T` by construction.
        return value as! T
    }

    /// After a write of its own: the writes that came meanwhile are written in groups, on a task of their own.
    private func handOn() {
        let waiting = writeQueue.withLock { queue in
            if queue.waiting.isEmpty { queue.writing = false }
            return !queue.waiting.isEmpty
        }
        if waiting { Task { await self.writeGroups() } }
    }

    /// Writes groups until none is waiting.
    private func writeGroups() async {
        while true {
            let group: [WriteQueue.Waiting] = writeQueue.withLock { queue in
                let group = Array(queue.waiting.prefix(Self.writeGroupLimit))
                queue.waiting.removeFirst(group.count)
                if group.isEmpty { queue.writing = false } else { (queue.groups, queue.writes) = (queue.groups + 1, queue.writes + group.count) }
                return group
            }
            guard !group.isEmpty else { return }
            await write(group)
        }
    }

    /// Writes `group` in one transaction. Not cancelled with the task that writes it (as GRDB's `write` would be): a
    /// write once asked for is written, whichever task leads its group and whatever happens to that task meanwhile.
    private func write(_ group: [WriteQueue.Waiting]) async {
        let applied = AppliedHolds()
        do {
            let (results, frees) = try await uncancelledWrite { db in
                // Once, before any write in the group: read inside the group, the ledger would take in writes that a
                // failed commit then takes back, and `undo` would not restore what they had deleted.
                try self.reloadLedgerIfWrittenElsewhere(db)
                var results: [Result<any Sendable, any Error>] = []
                var frees: [CapacityLedger.Change] = []
                for write in group {
                    // A savepoint of the write's own, in cached statements (`inSavepoint` prepares its statements
                    // again each time, on the writer, for every write).
                    let done: Result<(any Sendable, [CapacityLedger.Change]), any Error>
                    try db.cachedStatement(sql: "SAVEPOINT grouped_write").execute()
                    do {
                        let value = try write.work(db)
                        try db.cachedStatement(sql: "RELEASE SAVEPOINT grouped_write").execute()
                        done = .success(value)
                    } catch {
                        // An error SQLite ended the transaction for ends the group: nothing after it may commit alone;
                        // nor may anything if this write's changes cannot be taken back.
                        guard db.isInsideTransaction else { throw error }
                        try db.cachedStatement(sql: "ROLLBACK TRANSACTION TO SAVEPOINT grouped_write").execute()
                        try db.cachedStatement(sql: "RELEASE SAVEPOINT grouped_write").execute()
                        done = .failure(error)
                    }
                    // Exactly one result per write, in order.
                    results.append(done.map { value, changes in
                        frees += self.applyHolds(changes, recordingIn: applied)
                        return value
                    })
                }
                return (results, frees)
            }
            applyFrees(frees)
            for (write, result) in zip(group, results) { write.done(result) }
        } catch {
            undo(applied)
            for write in group { write.done(.failure(error)) }
        }
    }

    /// `updates` in a transaction of the writer, carried out to its end even if the calling task is cancelled.
    private func uncancelledWrite<T: Sendable>(_ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { done in
            writer.asyncWrite(updates) { _, result in done.resume(with: result) }
        }
    }

    /// How many grouped transactions were written, how many writes they held, and how many wait for the writer.
    public func writeGroupCounts() -> (groups: Int, writes: Int, waiting: Int) {
        writeQueue.withLock { ($0.groups, $0.writes, $0.waiting.count) }
    }
}

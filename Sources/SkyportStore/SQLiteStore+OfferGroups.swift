import Foundation
import GRDB
import SkyportCore
import Synchronization

/// Group commit of offer sets. Every offer request ends in one write (plan against the ledger, store the set and
/// its sessions), and at hundreds of requests a second one transaction per request wrote the same pages again and
/// again: the tables' and indexes' last pages, every facility's booking pages (about 48 KB reached the disk per
/// request). Requests that arrive while the writer is busy therefore wait together and are written as one
/// transaction when it is free: each in order, in a savepoint of its own, planning against the ledger with the holds
/// of those before it in the group already applied (so booking stays atomic: no request can plan between another's
/// plan and its writes). One whose work throws is rolled back to its savepoint and gets its error; the others are
/// unaffected. If the transaction fails as a whole, every request in it gets the error and every hold it applied is
/// undone. A lone request is written at once, as before: grouping adds no wait.
struct OfferQueue: Sendable {
    typealias Work = @Sendable (Database) throws -> (OfferSetCreation, [CapacityLedger.Change])
    struct Waiting: Sendable {
        let work: Work
        let done: CheckedContinuation<OfferSetCreation, any Error>
    }
    var waiting: [Waiting] = []
    var writing = false
    /// Transactions written, and the requests in them (for tests and the benchmark's notes).
    var groups = 0, requests = 0
}

extension SQLiteStore {
    /// The most requests in one transaction: a bound on how long the writer is held at a time.
    static let offerGroupLimit = 64

    func groupedOfferWrite(_ work: @escaping OfferQueue.Work) async throws -> OfferSetCreation {
        try await withCheckedThrowingContinuation { done in
            let lead = offerQueue.withLock { queue in
                queue.waiting.append(OfferQueue.Waiting(work: work, done: done))
                defer { queue.writing = true }
                return !queue.writing
            }
            if lead { Task { await self.writeOfferGroups() } }
        }
    }

    /// Writes groups until none is waiting.
    private func writeOfferGroups() async {
        while true {
            let group: [OfferQueue.Waiting] = offerQueue.withLock { queue in
                let group = Array(queue.waiting.prefix(Self.offerGroupLimit))
                queue.waiting.removeFirst(group.count)
                if group.isEmpty { queue.writing = false } else { (queue.groups, queue.requests) = (queue.groups + 1, queue.requests + group.count) }
                return group
            }
            guard !group.isEmpty else { return }
            await write(group)
        }
    }

    private func write(_ group: [OfferQueue.Waiting]) async {
        let applied = AppliedHolds()
        do {
            let (results, frees) = try await writer.write { db in
                // Once, before any request's writes: read inside the group, the ledger would take in writes that a
                // failed commit then takes back, and `undo` would not restore what they had deleted.
                try reloadLedgerIfWrittenElsewhere(db)
                var results: [Result<OfferSetCreation, any Error>] = []
                var frees: [CapacityLedger.Change] = []
                for request in group {
                    // A savepoint of the request's own, in cached statements (`inSavepoint` prepares its statements
                    // again each time, on the writer, for every request).
                    let done: Result<(OfferSetCreation, [CapacityLedger.Change]), any Error>
                    try db.cachedStatement(sql: "SAVEPOINT offer_request").execute()
                    do {
                        let value = try request.work(db)
                        try db.cachedStatement(sql: "RELEASE SAVEPOINT offer_request").execute()
                        done = .success(value)
                    } catch {
                        // An error SQLite ended the transaction for ends the group: nothing after it may commit alone;
                        // nor may anything if this request's writes cannot be taken back.
                        guard db.isInsideTransaction else { throw error }
                        try db.cachedStatement(sql: "ROLLBACK TRANSACTION TO SAVEPOINT offer_request").execute()
                        try db.cachedStatement(sql: "RELEASE SAVEPOINT offer_request").execute()
                        done = .failure(error)
                    }
                    // Exactly one result per request, in order.
                    results.append(done.map { value, changes in
                        frees += applyHolds(changes, recordingIn: applied)
                        return value
                    })
                }
                return (results, frees)
            }
            applyFrees(frees)
            for (request, result) in zip(group, results) { request.done.resume(with: result) }
        } catch {
            undo(applied)
            for request in group { request.done.resume(throwing: error) }
        }
    }

    /// How many offer-set transactions were written, how many requests they held, and how many wait for the writer.
    public func offerGroupCounts() -> (groups: Int, requests: Int, waiting: Int) {
        offerQueue.withLock { ($0.groups, $0.requests, $0.waiting.count) }
    }
}

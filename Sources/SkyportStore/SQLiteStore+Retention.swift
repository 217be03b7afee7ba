import Foundation
import GRDB
import SkyportCore

/// Retention in SQL: `Retention`'s rules over the columns `insert`/`update` fill from the same functions (`ended` is
/// `Retention.end(of:)`, `job` is `becameJob`, `needs_work` is `ForwardingMachine.needsWork`). Each call is one
/// write transaction of at most `policy.batch` offer sets (with their sessions) or UWS jobs, so that a backlog is
/// worked off in short turns and other writers wait at most one batch.
extension SQLiteStore {
    /// The offer sets `Retention.isDeletable` gives up, oldest expiry first.
    static let deletableOfferSetsSQL = """
        SELECT o.id FROM offer_set o
        WHERE o.expires <= :offerCutoff
          AND NOT EXISTS (
            SELECT 1 FROM session s WHERE s.offer_set_id = o.id AND NOT (
              s.needs_work = 0 AND s.ended IS NOT NULL
              AND (s.lease_until IS NULL OR s.lease_until <= :now)
              AND (s.phase != 'OFFERED' OR s.expires <= :now)
              AND s.ended <= CASE WHEN s.job != 0 THEN :sessionCutoff ELSE :offerCutoff END))
          AND NOT EXISTS (SELECT 1 FROM uws_job j WHERE j.offer_set_id = o.id)
          AND NOT EXISTS (SELECT 1 FROM session s JOIN uws_job j ON j.session_id = s.id WHERE s.offer_set_id = o.id)
        ORDER BY o.expires, o.id
        LIMIT :batch
        """

    public func purgeOfferSets(now: Date, policy: RetentionPolicy) async throws -> RetentionSweep {
        let arguments: StatementArguments = [
            "now": now.timeIntervalSince1970, "offerCutoff": policy.offerCutoff(at: now).timeIntervalSince1970,
            "sessionCutoff": policy.sessionCutoff(at: now).timeIntervalSince1970, "batch": policy.batch,
        ]
        let deleted = try await ledgerWrite { db -> (RetentionSweep, [CapacityLedger.Change]) in
            let ids = try String.fetchAll(db, sql: Self.deletableOfferSetsSQL, arguments: arguments)
            guard !ids.isEmpty else { return (RetentionSweep(batches: 1), []) }
            // Deletable sessions hold nothing by Retention's rules; released all the same, so the ledger never keeps
            // a session the file no longer has.
            let gone = try Self.sessionIDs(db, offerSets: ids)
            let marks = Array(repeating: "?", count: ids.count).joined(separator: ",")
            try db.execute(sql: "DELETE FROM session WHERE offer_set_id IN (\(marks))", arguments: StatementArguments(ids))
            let sessions = db.changesCount
            try db.execute(sql: "DELETE FROM offer_set WHERE id IN (\(marks))", arguments: StatementArguments(ids))
            return (RetentionSweep(offerSets: db.changesCount, sessions: sessions, batches: 1), gone.map { .release($0) })
        }
        if !deleted.isEmpty { changes.changedAll() }
        return deleted
    }

    /// UWS jobs destroyed before `?1`, at most `?2`, first destroyed first.
    static let deletableUWSJobsSQL = "SELECT id FROM uws_job WHERE destruction IS NOT NULL AND destruction <= ?1 ORDER BY destruction, id LIMIT ?2"

    public func purgeUWSJobs(now: Date, policy: RetentionPolicy) async throws -> RetentionSweep {
        let ids = try await writer.write { db -> [String] in
            let ids = try String.fetchAll(db, sql: Self.deletableUWSJobsSQL, arguments: [policy.uwsCutoff(at: now).timeIntervalSince1970, policy.batch])
            guard !ids.isEmpty else { return [] }
            let marks = Array(repeating: "?", count: ids.count).joined(separator: ",")
            try db.execute(sql: "DELETE FROM uws_job WHERE id IN (\(marks))", arguments: StatementArguments(ids))
            return ids
        }
        for id in ids { changes.changed(ChangeFeed.key(uwsJob: id)) }
        return RetentionSweep(uwsJobs: ids.count, batches: 1)
    }

    /// Gives free pages back to the file system when more than a quarter of the file is free, down to an eighth (the
    /// rest is kept for the next writes to reuse), at most `pages` per call; only in a file made with
    /// `auto_vacuum = INCREMENTAL` (every file this version creates). In any file, freed pages are reused before
    /// the file grows.
    public func reclaimSpace(pages: Int) async throws -> Int {
        try await writer.writeWithoutTransaction { db in
            guard try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") == 2 else { return 0 }
            let total = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let free = try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            guard free * 4 > total else { return 0 }
            let n = min(pages, free - total / 8)
            guard n > 0 else { return 0 }
            try db.execute(sql: "PRAGMA incremental_vacuum(\(n))")
            return free - (try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? free)
        }
    }

    /// The file's vacuum mode: `none`, `full` or `incremental`.
    public func autoVacuum() async throws -> String {
        let mode = try await writer.read { db in try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") ?? 0 }
        return ["none", "full", "incremental"][min(max(mode, 0), 2)]
    }

    /// Turns an older file (made without incremental vacuum) into one that can give freed pages back: sets
    /// `auto_vacuum = INCREMENTAL` and rebuilds the file with `VACUUM` (which needs about the file's size again in free
    /// disk space and holds the writer throughout: run it with `skyport migrate --vacuum` while the broker is stopped).
    public func enableIncrementalVacuum() async throws {
        try await writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
            // VACUUM's copy of the file is a temporary database: on disk, not in the writer's memory.
            try db.execute(sql: "PRAGMA temp_store = DEFAULT")
            defer { try? db.execute(sql: "PRAGMA temp_store = \(Self.writerTempStore)") }
            try db.execute(sql: "VACUUM")
        }
    }

    /// The sizes of the database file and its write-ahead log, in bytes (0 for `:memory:`).
    public func fileSizes() -> (database: Int, wal: Int) {
        guard path != ":memory:" else { return (0, 0) }
        func size(_ p: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: p))?[.size] as? Int) ?? 0 }
        return (size(path), size(path + "-wal"))
    }
}

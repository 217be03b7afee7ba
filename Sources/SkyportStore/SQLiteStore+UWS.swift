import Foundation
import GRDB
import SkyportCore

/// Skyport's own UWS jobs in the `uws_job` table. A job's phase is computed in SQL from its linked session,
/// so that listing and filtering by phase read the session's phase in the same transaction.
extension SQLiteStore {
    public func insertUWSJob(_ job: UWSJobRecord) async throws {
        let doc = try StoreCoding.encode(job)
        try await writer.write { db in
            do {
                try db.execute(
                    sql: """
                        INSERT INTO uws_job (id, owner, created, destruction, phase, session_id, document, offer_set_id)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        job.id, job.owner, job.created.timeIntervalSince1970, job.destruction?.timeIntervalSince1970,
                        job.phase.rawValue, job.session?.text, doc, job.offerSet?.text,
                    ])
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
                throw StoreError.duplicate("UWS job \(job.id)")
            }
        }
    }

    public func uwsJob(_ id: String) async throws -> UWSJobRecord? {
        let doc = try await writer.read { db in
            try String.fetchOne(db, sql: "SELECT document FROM uws_job WHERE id = ?", arguments: [id])
        }
        return try doc.map { try StoreCoding.decode(UWSJobRecord.self, $0) }
    }

    public func uwsJobs(_ query: UWSJobQuery) async throws -> [UWSJobListing] {
        var clauses = ["owner = ?", "(destruction IS NULL OR destruction > ?)"]
        var args: StatementArguments = [query.owner, query.now.timeIntervalSince1970]
        if let after = query.after {
            clauses.append("created > ?")
            _ = args.append(contentsOf: [after.timeIntervalSince1970])
        }
        if query.phases.isEmpty {
            clauses.append("uws_phase != 'ARCHIVED'")
        } else {
            clauses.append("uws_phase IN (\(Array(repeating: "?", count: query.phases.count).joined(separator: ",")))")
            _ = args.append(contentsOf: StatementArguments(query.phases.map(\.rawValue).sorted()))
        }
        var sql = """
            SELECT document, uws_phase FROM (
                SELECT j.id, j.owner, j.created, j.destruction, j.document, \(Self.uwsPhaseSQL) AS uws_phase
                FROM uws_job j LEFT JOIN session s ON s.id = j.session_id)
            WHERE \(clauses.joined(separator: " AND "))
            ORDER BY created DESC, id DESC
            """
        if let last = query.last {
            sql += " LIMIT ?"
            _ = args.append(contentsOf: [max(0, last)])
        }
        let (finalSQL, finalArgs) = (sql, args)
        return try await writer.read { db in
            try Row.fetchAll(db, sql: finalSQL, arguments: finalArgs).map { row in
                UWSJobListing(
                    job: try StoreCoding.decode(UWSJobRecord.self, row["document"]),
                    phase: UWSPhase(rawValue: row["uws_phase"]) ?? .unknown)
            }
        }
    }

    public func updateUWSJob(_ id: String, change: @Sendable (inout UWSJobRecord) throws -> Void) async throws -> UWSJobRecord {
        defer { changes.changed(ChangeFeed.key(uwsJob: id)) }
        return try await writer.write { db in
            guard let doc = try String.fetchOne(db, sql: "SELECT document FROM uws_job WHERE id = ?", arguments: [id]) else {
                throw StoreError.notFound("UWS job \(id)")
            }
            var job = try StoreCoding.decode(UWSJobRecord.self, doc)
            try change(&job)
            job.id = id
            try db.execute(
                sql: "UPDATE uws_job SET owner = ?, destruction = ?, phase = ?, session_id = ?, document = ?, offer_set_id = ? WHERE id = ?",
                arguments: [
                    job.owner, job.destruction?.timeIntervalSince1970, job.phase.rawValue, job.session?.text,
                    try StoreCoding.encode(job), job.offerSet?.text, id,
                ])
            return job
        }
    }

    public func deleteUWSJob(_ id: String) async throws -> Bool {
        defer { changes.changed(ChangeFeed.key(uwsJob: id)) }
        return try await writer.write { db in
            try db.execute(sql: "DELETE FROM uws_job WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    /// `UWSJobRecord.phase(session:)` as an SQL expression over `j` (the job) and `s` (its session, left-joined).
    static let uwsPhaseSQL: String = {
        let cases = SessionPhase.allCases
            .map { "WHEN '\($0.rawValue)' THEN '\(UWSJobRecord.uwsPhase(for: $0).rawValue)'" }
            .joined(separator: " ")
        return "CASE WHEN j.session_id IS NULL THEN j.phase ELSE (CASE s.phase \(cases) ELSE 'UNKNOWN' END) END"
    }()
}

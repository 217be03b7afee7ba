import Foundation
import GRDB
import PostgresNIO
import SkyportCore

/// Moving an embedded broker's data into PostgreSQL (`skyport db copy`): every table of the SQLite file, row by row
/// as stored (documents untouched), in one transaction, into an empty schema.
extension PostgresStore {
    /// The tables in the order their references need, with the SQLite columns read (PostgreSQL's have the same names).
    static let copiedTables: [(table: String, columns: [String], order: String)] = [
        ("facility", ["id_key", "owner", "status", "document"], "id_key"),
        ("operator", ["name", "token_hash", "created"], "name"),
        ("registry_source", ["url", "document"], "url"),
        ("offer_set", ["id", "created", "idempotency_key", "request_digest", "document", "packed", "expires"], "id"),
        ("session", ["id", "offer_set_id", "facility_key", "phase", "expires", "start", "end", "rank", "document", "needs_work", "lease_owner",
                     "lease_until", "cores", "memory", "ended", "job", "accounts", "share", "owner", "created"], "id"),
        ("uws_job", ["id", "owner", "created", "destruction", "phase", "session_id", "document", "offer_set_id"], "id"),
        ("usage", ["session_id", "account", "cores", "started", "finished"], "session_id, account"),
        ("quota", ["account", "document", "modified", "by"], "account"),
        ("audit", ["seq", "time", "actor", "action", "target", "detail"], "seq"),
    ]
    /// SQLite keeps these as 0/1 integers; PostgreSQL as booleans.
    static let booleanColumns: Set<String> = ["needs_work", "job"]

    /// Copies everything in `sqlite` into this store, whose schema must hold no data yet;
    /// returns the rows copied by table. All or nothing: one transaction, under the ledger clock (no replica books
    /// meanwhile). Each replica reads the ledger whole at its next start.
    public func copy(from sqlite: SQLiteStore) async throws -> [String: Int] {
        let counts = try await ledgerTransaction { conn, seq -> ([String: Int], [CapacityLedger.Change]) in
            for table in Self.copiedTables.map(\.table) {
                if try await conn.one(PostgresQuery(unsafeSQL: "SELECT EXISTS (SELECT 1 FROM \(table))"), Bool.self) == true {
                    throw StoreError.conflict("the target already holds data (table \(table)): copy into an empty database or schema")
                }
            }
            var counts: [String: Int] = [:]
            for (table, columns, order) in Self.copiedTables {
                var offset = 0
                while true {
                    let page = try await sqlite.writer.read { db in
                        try Row.fetchAll(
                            db, sql: "SELECT \(columns.map { "\"\($0)\"" }.joined(separator: ", ")) FROM \(table) ORDER BY \(order) LIMIT 1000 OFFSET ?",
                            arguments: [offset])
                    }
                    if page.isEmpty { break }
                    let json = try Self.recordsetJSON(page, columns: columns, extra: table == "session" ? ["ledger_seq": seq] : [:])
                    try await conn.exec("INSERT INTO \(unescaped: table) SELECT * FROM jsonb_populate_recordset(NULL::\(unescaped: table), \(json)::jsonb)")
                    offset += page.count
                }
                counts[table] = offset
            }
            // The audit record goes on numbering after the copied events.
            try await conn.exec(
                "SELECT setval(pg_get_serial_sequence('audit', 'seq'), COALESCE((SELECT max(seq) FROM audit), 1), (SELECT max(seq) FROM audit) IS NOT NULL)")
            // Replicas already running read the copied sessions (stamped with this write's number) at their next booking.
            try await self.notify(conn, "a")
            return (counts, [])
        }
        try await reloadLedger()
        inbox.facilitiesChanged()
        return counts
    }

    /// SQLite rows as a JSON array of objects (what `jsonb_populate_recordset` reads; columns absent from it are NULL).
    static func recordsetJSON(_ rows: [Row], columns: [String], extra: [String: Any]) throws -> String {
        let objects: [[String: Any]] = try rows.map { row in
            var object = extra
            for column in columns where column != "packed" {
                switch row[column] as DatabaseValue? {
                case nil: object[column] = NSNull()
                case .some(let value):
                    switch value.storage {
                    case .null: object[column] = NSNull()
                    case .int64(let n): object[column] = booleanColumns.contains(column) ? (n != 0) as Any : n as Any
                    case .double(let d): object[column] = d
                    case .string(let s): object[column] = s
                    case .blob(let b): object[column] = String(decoding: b, as: UTF8.self)
                    }
                }
            }
            // The offer-set documents SQLite keeps deflated (`StoredDocument`) are JSON text here.
            if let packed = row["packed"] as Data? { object["document"] = String(decoding: try StoredDocument.json(text: "", packed: packed), as: UTF8.self) }
            return object
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: objects), as: UTF8.self)
    }
}

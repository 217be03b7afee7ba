import Foundation
import GRDB
import SkyportCore

/// The embedded default store: one SQLite file (the system libsqlite3 through GRDB), in WAL mode,
/// with named, append-only migrations run at start-up.
public final class SQLiteStore: BrokerStore {
    public let kind = "sqlite"
    /// The file, or `:memory:`.
    public let path: String
    private let writer: any DatabaseWriter

    /// Opens (creating if needed) the database file and migrates it to the current schema.
    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        if path == ":memory:" {
            writer = try DatabaseQueue(configuration: config)
        } else {
            let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            writer = try DatabasePool(path: path, configuration: config)  // a pool runs in WAL mode
        }
        try Self.migrator.migrate(writer)
    }

    /// The schema's history. Append new migrations at the end; never edit a released one.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-create-facility-and-operator") { db in
            try db.execute(sql: """
                CREATE TABLE facility (
                    id_key   TEXT PRIMARY KEY NOT NULL,   -- the identifier in lower case
                    owner    TEXT NOT NULL,
                    status   TEXT NOT NULL,
                    document TEXT NOT NULL               -- the facility as JSON
                ) STRICT;
                CREATE INDEX facility_owner ON facility(owner);
                CREATE TABLE operator (
                    name       TEXT PRIMARY KEY NOT NULL,
                    token_hash TEXT NOT NULL UNIQUE,
                    created    REAL NOT NULL
                ) STRICT;
                """)
        }
        return m
    }

    /// Names of the migrations applied to the database, in order.
    public func appliedMigrations() throws -> [String] {
        try writer.read { db in try Self.migrator.appliedMigrations(db) }
    }

    /// True when the database runs with a write-ahead log.
    public func journalMode() throws -> String {
        try writer.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    public func ping() async throws {
        _ = try await writer.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    // MARK: facilities

    public func insertFacility(_ facility: Facility) async throws {
        let doc = try StoreCoding.encode(facility)
        try await writer.write { db in
            do {
                try db.execute(
                    sql: "INSERT INTO facility (id_key, owner, status, document) VALUES (?, ?, ?, ?)",
                    arguments: [facility.id.key, facility.owner, facility.status.rawValue, doc])
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
                throw StoreError.duplicate("facility \(facility.id)")
            }
        }
    }

    public func facility(_ id: FacilityID) async throws -> Facility? {
        let doc = try await writer.read { db in
            try String.fetchOne(db, sql: "SELECT document FROM facility WHERE id_key = ?", arguments: [id.key])
        }
        return try doc.map { try StoreCoding.decode(Facility.self, $0) }
    }

    public func facilities(_ query: FacilityQuery) async throws -> [Facility] {
        var sql = "SELECT document FROM facility"
        var clauses: [String] = []
        var args: StatementArguments = []
        if let status = query.status {
            clauses.append("status = ?")
            _ = args.append(contentsOf: [status.rawValue])
        }
        if let kind = query.accepts {
            clauses.append("EXISTS (SELECT 1 FROM json_each(document, '$.accepts') WHERE value = ?)")
            _ = args.append(contentsOf: [kind.rawValue])
        }
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += " ORDER BY id_key"
        let finalSQL = sql
        let finalArgs = args
        let docs = try await writer.read { db in try String.fetchAll(db, sql: finalSQL, arguments: finalArgs) }
        return try docs.map { try StoreCoding.decode(Facility.self, $0) }
    }

    public func replaceFacility(_ facility: Facility) async throws {
        let doc = try StoreCoding.encode(facility)
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE facility SET owner = ?, status = ?, document = ? WHERE id_key = ?",
                arguments: [facility.owner, facility.status.rawValue, doc, facility.id.key])
            if db.changesCount == 0 { throw StoreError.notFound("facility \(facility.id)") }
        }
    }

    public func removeFacility(_ id: FacilityID, now: Date) async throws -> FacilityRemoval {
        try await writer.write { db in
            guard let doc = try String.fetchOne(db, sql: "SELECT document FROM facility WHERE id_key = ?", arguments: [id.key]) else {
                return .notFound
            }
            let live = try Self.liveJobs(db, facilityKey: id.key)
            if live > 0 {
                var facility = try StoreCoding.decode(Facility.self, doc)
                facility.status = .draining
                facility.modified = now
                try db.execute(
                    sql: "UPDATE facility SET status = ?, document = ? WHERE id_key = ?",
                    arguments: [facility.status.rawValue, try StoreCoding.encode(facility), id.key])
                return .drained(liveJobs: live)
            }
            try db.execute(sql: "DELETE FROM facility WHERE id_key = ?", arguments: [id.key])
            return .removed
        }
    }

    /// Jobs still running on a facility; sessions arrive with the negotiation work.
    private static func liveJobs(_ db: Database, facilityKey: String) throws -> Int { 0 }

    // MARK: operators

    public func insertOperator(_ record: OperatorRecord, tokenHash: String) async throws {
        try await writer.write { db in
            do {
                try db.execute(
                    sql: "INSERT INTO operator (name, token_hash, created) VALUES (?, ?, ?)",
                    arguments: [record.name, tokenHash, record.created.timeIntervalSince1970])
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw StoreError.duplicate("operator \(record.name)")
            }
        }
    }

    public func operatorName(forTokenHash hash: String) async throws -> String? {
        try await writer.read { db in
            try String.fetchOne(db, sql: "SELECT name FROM operator WHERE token_hash = ?", arguments: [hash])
        }
    }

    public func operators() async throws -> [OperatorRecord] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT name, created FROM operator ORDER BY name").map {
                OperatorRecord(name: $0["name"], created: Date(timeIntervalSince1970: $0["created"]))
            }
        }
    }

    public func removeOperator(named name: String) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM operator WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }
}

/// How values are written into document columns: JSON with dates as seconds since 1970 (no precision lost).
enum StoreCoding {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode(type, from: Data(text.utf8))
    }
}

import Foundation
import GRDB
import SkyportCore
import Synchronization

/// The embedded default store: one SQLite file (the system libsqlite3 through GRDB), in WAL mode,
/// with named, append-only migrations run at start-up.
public final class SQLiteStore: BrokerStore, CataloguedFacilities {
    public let kind = "sqlite"
    public let changes = ChangeFeed()
    public let telemetry = TelemetryRelay()
    public let wakeups = StoreWakeups()
    /// The file, or `:memory:`.
    public let path: String
    let writer: any DatabaseWriter
    /// A connection of its own for the facility generation, read once per offer request (nil in memory, where the
    /// writer's one connection serves). See `facilitySnapshot`.
    private let generationReader: DatabaseQueue?
    /// What every session holds, built from the rows at start and kept current by every write of a session (see
    /// `ledgerWrite`). Lock discipline: the mutex only guards memory; what makes booking atomic is that the ledger is
    /// read for planning and the plan's bookings applied inside one `writer.write` (GRDB runs writes one at a time),
    /// and that every change that adds capacity is applied inside its write, before the commit. Changes that free
    /// capacity are applied after their commit, from outside the writer; a planner may therefore count a released
    /// booking for an instant, never miss a held one. No lock is held while planning (the calendars are copied out).
    let ledger: Mutex<CapacityLedger>
    /// The file's `PRAGMA data_version` on the writer when the ledger was last made to match the file: it changes only
    /// when another connection (another process) commits, and then the ledger is read again before planning.
    private let ledgerDataVersion: Mutex<Int64>
    /// Writes waiting for the writer, and whether a group is being written (`groupedWrite`).
    let writeQueue = Mutex(WriteQueue())
    /// When the writer checkpoints the log, and what it has done (nil in memory, which has no log).
    let checkpoints: WriterCheckpoints?

    /// Opens (creating if needed) the database file and migrates it to the current schema.
    public convenience init(path: String) throws {
        try self.init(path: path, checkpoints: CheckpointSchedule())
    }

    /// The same, with the writer's checkpoints on `schedule`.
    init(path: String, checkpoints schedule: CheckpointSchedule) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in
            // Takes effect only in a new file (before its first table, and before WAL mode is set): freed pages can then
            // be given back (`reclaimSpace`). An older file keeps reusing its freed pages (`enableIncrementalVacuum`).
            if !db.configuration.readonly { try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL") }
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // After a checkpoint the write-ahead log is cut back to this size; without it the file stays as large as
            // the biggest burst of writes made it. Above the 4,000-4,500 pages the writer checkpoints at
            // (`CheckpointSchedule`): a log cut back below them grew again, past its file's end, in every round.
            try db.execute(sql: "PRAGMA journal_size_limit = \(Self.journalSizeLimit)")
        }
        let writer: any DatabaseWriter
        if path == ":memory:" {
            writer = try DatabaseQueue(configuration: config)
        } else {
            let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            writer = try DatabasePool(path: path, configuration: config)  // a pool runs in WAL mode
        }
        try Self.migrator.migrate(writer)
        // After the migrations (whose index builds and whole-table updates may need more than memory should hold):
        // the writer keeps statement journals in memory. A grouped offer write's outgrows SQLite's 64 KiB spill
        // bound, and was a temporary file opened, written (8.5 of the 16 MB/s the broker wrote in
        // `bench-load.sh accept10` at 300/s) and deleted in every such transaction. Readers keep the default.
        try writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA temp_store = \(Self.writerTempStore)") }
        self.writer = writer
        let checkpoints = writer is DatabasePool ? try WriterCheckpoints(schedule, database: path) : nil
        if let checkpoints { writer.writeWithoutTransaction { db in checkpoints.install(on: db) } }
        self.checkpoints = checkpoints
        if writer is DatabasePool {
            var readOnly = Configuration()
            readOnly.readonly = true
            readOnly.busyMode = .timeout(5)
            generationReader = try DatabaseQueue(path: path, configuration: readOnly)
        } else {
            generationReader = nil
        }
        let (version, loaded) = try writer.writeWithoutTransaction { db in (try Self.dataVersion(db), try Self.loadLedger(db)) }
        ledger = Mutex(loaded)
        ledgerDataVersion = Mutex(version)
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
        m.registerMigration("v2-create-offer-set-and-session") { db in
            try db.execute(sql: """
                CREATE TABLE offer_set (
                    id              TEXT PRIMARY KEY NOT NULL,
                    created         REAL NOT NULL,
                    idempotency_key TEXT UNIQUE,
                    request_digest  TEXT,
                    document        TEXT NOT NULL
                ) STRICT;
                CREATE TABLE session (
                    id           TEXT PRIMARY KEY NOT NULL,
                    offer_set_id TEXT NOT NULL REFERENCES offer_set(id),
                    facility_key TEXT NOT NULL,
                    phase        TEXT NOT NULL,
                    expires      REAL NOT NULL,
                    start        REAL NOT NULL,
                    "end"        REAL NOT NULL,
                    rank         INTEGER NOT NULL,
                    document     TEXT NOT NULL
                ) STRICT;
                CREATE INDEX session_booking ON session(facility_key, "end");
                CREATE INDEX session_offer_set ON session(offer_set_id);
                CREATE INDEX session_phase_expires ON session(phase, expires);
                """)
        }
        m.registerMigration("v3-add-session-lease") { db in
            try db.execute(sql: """
                ALTER TABLE session ADD COLUMN needs_work INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE session ADD COLUMN lease_owner TEXT;
                ALTER TABLE session ADD COLUMN lease_until REAL;
                UPDATE session SET needs_work = 1 WHERE phase IN ('ACCEPTED', 'WAITING', 'PREPARING', 'AVAILABLE', 'RUNNING');
                CREATE INDEX session_work ON session(needs_work, lease_until);
                """)
        }
        m.registerMigration("v4-create-uws-job") { db in
            try db.execute(sql: """
                CREATE TABLE uws_job (
                    id          TEXT PRIMARY KEY NOT NULL,
                    owner       TEXT NOT NULL,
                    created     REAL NOT NULL,
                    destruction REAL,
                    phase       TEXT NOT NULL,              -- the job's own phase, shown while no session is linked
                    session_id  TEXT REFERENCES session(id),
                    document    TEXT NOT NULL
                ) STRICT;
                CREATE INDEX uws_job_owner_created ON uws_job(owner, created);
                """)
        }
        m.registerMigration("v5-add-booking-columns-and-facility-generation") { db in
            try db.execute(sql: """
                ALTER TABLE session ADD COLUMN cores INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE session ADD COLUMN memory INTEGER NOT NULL DEFAULT 0;
                UPDATE session SET cores = json_extract(document, '$.cores'), memory = json_extract(document, '$.memory');
                -- Only sessions that hold capacity, so that booking reads skip the (many) ended ones.
                CREATE INDEX session_booking_live ON session(facility_key, "end")
                    WHERE phase IN ('OFFERED', 'ACCEPTED', 'WAITING', 'PREPARING', 'AVAILABLE', 'RUNNING', 'RELEASING');
                -- Bumped by every change to a facility, from any process: readers keep decoded facilities while it stands.
                CREATE TABLE facility_generation (n INTEGER NOT NULL) STRICT;
                INSERT INTO facility_generation VALUES (0);
                CREATE TRIGGER facility_insert AFTER INSERT ON facility BEGIN UPDATE facility_generation SET n = n + 1; END;
                CREATE TRIGGER facility_update AFTER UPDATE ON facility BEGIN UPDATE facility_generation SET n = n + 1; END;
                CREATE TRIGGER facility_delete AFTER DELETE ON facility BEGIN UPDATE facility_generation SET n = n + 1; END;
                """)
        }
        m.registerMigration("v6-create-registry-source") { db in
            try db.execute(sql: """
                CREATE TABLE registry_source (
                    url      TEXT PRIMARY KEY NOT NULL,   -- the OAI-PMH base URL, as given
                    document TEXT NOT NULL                -- the source as JSON
                ) STRICT;
                """)
        }
        m.registerMigration("v7-add-retention-columns") { db in
            // What retention reads, as columns: when an offer set's offers expire, when a session ended (an OFFERED one:
            // its expiry), whether it became a job, and which offer set a UWS job links.
            try db.execute(sql: """
                ALTER TABLE offer_set ADD COLUMN expires REAL;
                UPDATE offer_set SET expires = json_extract(document, '$.expires');
                CREATE INDEX offer_set_expires ON offer_set(expires);
                ALTER TABLE session ADD COLUMN ended REAL;
                ALTER TABLE session ADD COLUMN job INTEGER NOT NULL DEFAULT 0;
                UPDATE session SET
                    ended = CASE WHEN phase = 'OFFERED' THEN expires
                                 WHEN phase IN ('REJECTED', 'EXPIRED', 'COMPLETED', 'FAILED', 'CANCELLED') THEN json_extract(document, '$.modified')
                            END,
                    job = CASE WHEN phase IN ('ACCEPTED', 'WAITING', 'PREPARING', 'AVAILABLE', 'RUNNING', 'RELEASING', 'COMPLETED', 'FAILED') THEN 1
                               WHEN json_extract(document, '$.accepted') IS NOT NULL THEN 1
                               WHEN json_extract(document, '$.remote.url') IS NOT NULL THEN 1
                               WHEN json_extract(document, '$.remote.submitting') = 1 THEN 1
                               ELSE 0 END;
                ALTER TABLE uws_job ADD COLUMN offer_set_id TEXT;
                UPDATE uws_job SET offer_set_id = json_extract(document, '$.offerSet');
                CREATE INDEX uws_job_offer_set ON uws_job(offer_set_id);
                CREATE INDEX uws_job_session ON uws_job(session_id);
                CREATE INDEX uws_job_destruction ON uws_job(destruction);
                """)
        }
        m.registerMigration("v8-quotas-usage-audit") { db in
            try db.execute(sql: """
                -- What a session counts for (its quotas' accounts, newline-separated; its facility share): read when the
                -- ledger is loaded.
                ALTER TABLE session ADD COLUMN accounts TEXT;
                ALTER TABLE session ADD COLUMN share TEXT;
                -- Each started session's use, per account, kept after the session goes (for the rolling windows).
                CREATE TABLE usage (
                    session_id TEXT NOT NULL,
                    account    TEXT NOT NULL,
                    cores      INTEGER NOT NULL,
                    started    REAL NOT NULL,
                    finished   REAL,
                    PRIMARY KEY (session_id, account)
                ) STRICT, WITHOUT ROWID;
                CREATE INDEX usage_account ON usage(account, finished);
                CREATE INDEX usage_finished ON usage(finished);
                -- Quotas set through the admin API (they override the quota file's).
                CREATE TABLE quota (
                    account  TEXT PRIMARY KEY NOT NULL,
                    document TEXT NOT NULL,
                    modified REAL NOT NULL,
                    by       TEXT NOT NULL
                ) STRICT;
                CREATE TABLE audit (
                    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
                    time   REAL NOT NULL,
                    actor  TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target TEXT NOT NULL,
                    detail TEXT
                ) STRICT;
                CREATE INDEX audit_actor ON audit(actor, seq);
                CREATE INDEX audit_target ON audit(target, seq);
                CREATE INDEX audit_time ON audit(time);
                """)
        }
        m.registerMigration("v9-add-session-owner") { db in
            try db.execute(sql: """
                -- Who made a session, and when (the web interface's "My work"): columns beside the document, backfilled.
                ALTER TABLE session ADD COLUMN owner TEXT;
                ALTER TABLE session ADD COLUMN created REAL;
                UPDATE session SET owner = json_extract(document, '$.owner'), created = json_extract(document, '$.created');
                CREATE INDEX session_owner_created ON session(owner, created);
                """)
        }
        m.registerMigration("v10-add-offer-set-packed") { db in
            // Offer sets written from now on keep their document deflated here (`StoredDocument`), and '' in document.
            try db.execute(sql: "ALTER TABLE offer_set ADD COLUMN packed BLOB")
        }
        m.registerMigration("v11-fewer-session-indexes", foreignKeyChecks: .immediate) { db in  // indexes only: no key to check
            // Every offer request inserts a few sessions, and each index of the table is one more b-tree to write in the
            // serialized write. session_booking (every session ever made, by facility and end) wrote one more leaf per
            // offer, scattered over the facilities, and no statement needed it: bookings are read through the partial
            // session_booking_live. session_work kept every session, most with nothing to do; it now keeps only those
            // that have (as the PostgreSQL store's does), so that an offer writes nothing to it; needs_work is in it so
            // that the counts of queued and leased sessions read the index alone.
            try db.execute(sql: """
                DROP INDEX session_booking;
                DROP INDEX session_work;
                CREATE INDEX session_work ON session(lease_until, needs_work) WHERE needs_work = 1;
                """)
        }
        m.registerMigration("v12-booking-index-holds-jobs-only", foreignKeyChecks: .immediate) { db in  // indexes only
            // session_booking_live held offers too: each offer request wrote a leaf of it per facility offered, scattered
            // over the facilities (a fifth of the write-ahead log an offer request wrote, `bench-load.sh accept10`), for
            // statements that the capacity ledger answers in memory. It now holds the jobs that hold capacity: what a
            // facility's removal counts, and what its page lists beside the ledger's offers.
            try db.execute(sql: """
                DROP INDEX session_booking_live;
                CREATE INDEX session_job_live ON session(facility_key, "end")
                    WHERE phase IN ('ACCEPTED', 'WAITING', 'PREPARING', 'AVAILABLE', 'RUNNING', 'RELEASING');
                """)
        }
        return m
    }

    /// Names of the migrations applied to the database, in order.
    public func appliedMigrations() throws -> [String] {
        try writer.read { db in try Self.migrator.appliedMigrations(db) }
    }

    /// The largest size, in bytes, the write-ahead log is left at after a checkpoint.
    public static let journalSizeLimit = 20 << 20

    /// The journal size limit of the connection that writes (what checkpoints obey).
    public func writerJournalSizeLimit() throws -> Int {
        try writer.write { db in try Int.fetchOne(db, sql: "PRAGMA journal_size_limit") ?? -1 }
    }

    /// Where the writer keeps temporary files (statement journals above all).
    static let writerTempStore = "MEMORY"

    /// `PRAGMA temp_store` on the connection that writes and on a reader (0: the default, files; 2: in memory).
    public func tempStore() throws -> (writer: Int, reader: Int) {
        (try writer.write { db in try Int.fetchOne(db, sql: "PRAGMA temp_store") ?? -1 },
         try writer.read { db in try Int.fetchOne(db, sql: "PRAGMA temp_store") ?? -1 })
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
        let doc = try CanonicalJSON.encode(facility)
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

    /// The facility catalogue, kept while the facility generation (bumped by triggers on every change, from any
    /// process) stands.
    private struct FacilitySnapshot {
        var generation: Int64
        var catalogue: FacilityCatalogue
    }

    private let facilityCache = Mutex<FacilitySnapshot?>(nil)
    /// How many catalogues were built (for the tests).
    let catalogueBuilds = Atomic<Int>(0)
    /// The rebuild under way, so that requests arriving together after a change wait for one rebuild instead of
    /// each decoding every facility.
    private let snapshotBuild = Mutex<(generation: Int64, task: Task<FacilitySnapshot, any Error>)?>(nil)

    func facilityCatalogue() async throws -> FacilityCatalogue { try await facilitySnapshot().catalogue }

    func currentCatalogue() async throws -> FacilityCatalogue? {
        guard let cached = facilityCache.withLock({ $0 }) else { return nil }
        return try facilityGeneration() == cached.generation ? cached.catalogue : nil
    }

    func facilityRow(_ id: FacilityID) async throws -> String? {
        try await writer.read { db in try String.fetchOne(db, sql: "SELECT document FROM facility WHERE id_key = ?", arguments: [id.key]) }
    }

    private func facilitySnapshot() async throws -> FacilitySnapshot {
        let cached = facilityCache.withLock { $0 }
        // Read on the calling thread, on a connection of its own (a serial queue that GRDB's synchronous read runs on
        // the caller's thread): one row asked for every offer request, where an asynchronous read hands over to a
        // reader's thread and back, two context switches that cost more than the read. Not from the writer's pool of
        // readers: a synchronous read waits there for a free reader, and readers taken by asynchronous reads are given
        // back only by tasks that need this very thread pool, so every cooperative thread could wait for ever. Here a
        // caller waits at most for another caller's read of one row.
        let generation = try facilityGeneration()
        if let cached, cached.generation == generation { return cached }
        let task = snapshotBuild.withLock { build -> Task<FacilitySnapshot, any Error> in
            if let build, build.generation == generation { return build.task }
            let task = Task { try await self.buildSnapshot() }
            build = (generation, task)
            return task
        }
        return try await task.value
    }

    /// The facility generation, read on the calling thread (see `facilitySnapshot`). On its own connection it is
    /// one cached statement in SQLite's own read transaction: `read` would wrap it in statements of its own (BEGIN,
    /// COMMIT, each prepared again on every offer request).
    private func facilityGeneration() throws -> Int64 {
        let sql = "SELECT n FROM facility_generation"
        guard let generationReader else { return try writer.read { db in try Int64.fetchOne(db, sql: sql) ?? 0 } }
        return try generationReader.inDatabase { db in try Int64.fetchOne(db.cachedStatement(sql: sql)) ?? 0 }
    }

    private func buildSnapshot() async throws -> FacilitySnapshot {
        catalogueBuilds.add(1, ordering: .relaxed)
        let (generation, documents): (Int64, [String]) = try await writer.read { db in
            (try Int64.fetchOne(db, sql: "SELECT n FROM facility_generation") ?? 0,
             try String.fetchAll(db, sql: "SELECT document FROM facility ORDER BY id_key"))
        }
        let snapshot = FacilitySnapshot(generation: generation, catalogue: try FacilityCatalogue(documents: documents))
        facilityCache.withLock { cached in
            if (cached?.generation ?? -1) <= generation { cached = snapshot }
        }
        return snapshot
    }

    public func replaceFacility(_ facility: Facility) async throws {
        let doc = try CanonicalJSON.encode(facility)
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
                var facility = try CanonicalJSON.decode(Facility.self, doc)
                facility.status = .draining
                facility.modified = now
                try db.execute(
                    sql: "UPDATE facility SET status = ?, document = ? WHERE id_key = ?",
                    arguments: [facility.status.rawValue, try CanonicalJSON.encode(facility), id.key])
                return .drained(liveJobs: live)
            }
            try db.execute(sql: "DELETE FROM facility WHERE id_key = ?", arguments: [id.key])
            return .removed
        }
    }

    /// The phases of the jobs that hold capacity (`SessionPhase.live`), spelled as in the partial index session_job_live:
    /// a statement that spells them so is one SQLite can answer from that index.
    static let jobPhases = "('ACCEPTED', 'WAITING', 'PREPARING', 'AVAILABLE', 'RUNNING', 'RELEASING')"

    /// The sessions on facility `?1` that are jobs.
    static let liveJobsSQL = "SELECT count(*) FROM session WHERE facility_key = ?1 AND phase IN \(jobPhases)"

    private static func liveJobs(_ db: Database, facilityKey: String) throws -> Int {
        try Int.fetchOne(db, sql: liveJobsSQL, arguments: [facilityKey]) ?? 0
    }

    // MARK: offer sets and sessions

    public func createOfferSet(
        idempotencyKey: String?, requestDigest: String?, facilities: [FacilityID], now: Date, stored: Set<UUID>, accounts: [String],
        plan: @escaping @Sendable (FacilityCalendars) throws -> (OfferSetRecord, [SessionRecord])
    ) async throws -> OfferSetCreation {
        let (creation, written) = try await groupedWrite { db -> ((OfferSetCreation, WrittenDocuments?), [CapacityLedger.Change]) in
            if let key = idempotencyKey,
               let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT id, request_digest FROM offer_set WHERE idempotency_key = ?"), arguments: [key]) {
                guard row["request_digest"] as String? == requestDigest, let id = UUID(uuidString: row["id"]) else {
                    throw StoreError.conflict("Idempotency-Key '\(key)' was used with another request")
                }
                // Offers stored for a set now known to be a replay go with their set.
                if let any = stored.first,
                   let set = try String.fetchOne(db, sql: "SELECT offer_set_id FROM session WHERE id = ?", arguments: [any.text]),
                   set != id.text {
                    let gone = try Self.sessionIDs(db, offerSets: [set])
                    try db.execute(sql: "DELETE FROM session WHERE offer_set_id = ?", arguments: [set])
                    try db.execute(sql: "DELETE FROM offer_set WHERE id = ?", arguments: [set])
                    return ((.replayed(id), nil), gone.map { .release($0) })
                }
                return ((.replayed(id), nil), [])
            }
            // Planned against the ledger (on the writer: no other booking can come between this and the commit; the
            // group read it again first if another process had written the file).
            let calendars = self.ledger.withLock { $0.calendars(for: facilities, now: now, accounts: accounts) }
            var (set, offers) = try plan(calendars)
            (set.idempotencyKey, set.requestDigest) = (idempotencyKey, requestDigest)
            var written = WrittenDocuments()
            let document = StoreCoding.stored(set, written: &written)
            // Cached, as the session insert is: prepared once per connection, not again for every request on the writer.
            try db.cachedStatement(sql: """
                INSERT INTO offer_set (id, created, idempotency_key, request_digest, document, packed, expires) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET idempotency_key = excluded.idempotency_key,
                    request_digest = excluded.request_digest, document = excluded.document, packed = excluded.packed, expires = excluded.expires
                """).execute(
                arguments: [
                    set.id.text, set.created.timeIntervalSince1970, set.idempotencyKey, set.requestDigest, document.text, document.packed,
                    set.expires.timeIntervalSince1970,
                ])
            var changes: [CapacityLedger.Change] = []
            for offer in offers where !stored.contains(offer.id) {
                try Self.insert(db, offer, document: StoreCoding.encode(offer, written: &written))
                changes.append(contentsOf: CapacityLedger.change(from: nil, to: offer).map { [$0] } ?? [])
            }
            return ((.created(set, offers), written), changes)
        }
        // Remembered as read back once committed, off the writer (`DecodedDocuments`).
        written?.remember()
        return creation
    }

    public func offerSet(idempotencyKey key: String) async throws -> (id: UUID, digest: String?)? {
        try await writer.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT id, request_digest FROM offer_set WHERE idempotency_key = ?", arguments: [key]),
                  let id = UUID(uuidString: row["id"]) else { return nil }
            return (id, row["request_digest"] as String?)
        }
    }

    public func insertOffers(_ offers: [SessionRecord], of set: OfferSetRecord) async throws {
        // Encoded before the write: the writer is held only for the SQL.
        let setDocument = StoreCoding.stored(set)
        let documents = try offers.map { ($0, try StoreCoding.encode($0)) }
        try await ledgerWrite { db in
            try db.execute(
                sql: "INSERT INTO offer_set (id, created, document, packed, expires) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
                arguments: [set.id.text, set.created.timeIntervalSince1970, setDocument.text, setDocument.packed, set.expires.timeIntervalSince1970])
            for (offer, document) in documents { try Self.insert(db, offer, document: document) }
            return ((), offers.compactMap { CapacityLedger.change(from: nil, to: $0) })
        }
    }

    /// The ledger of the stored sessions (one query, through the index by phase: the sessions in the booking phases):
    /// the same ledger as the one kept by replaying their writes, since both go by `CapacityLedger.Hold`.
    static let ledgerSQL = """
        SELECT id, facility_key, cores, memory, start, "end", phase, expires, accounts, share FROM session
        WHERE phase IN ('OFFERED', 'ACCEPTED', 'WAITING', 'PREPARING', 'AVAILABLE', 'RUNNING', 'RELEASING')
        """

    static func loadLedger(_ db: Database) throws -> CapacityLedger {
        var ledger = CapacityLedger()
        let rows = try Row.fetchCursor(db, sql: ledgerSQL)
        while let row = try rows.next() {
            guard let id = UUID(uuidString: row["id"]), let phase = SessionPhase(rawValue: row["phase"]) else { continue }
            let booking = Booking(
                facility: FacilityID(lowercasedKey: row["facility_key"]), cores: row["cores"], memory: row["memory"],
                start: Date(timeIntervalSince1970: row["start"]), end: Date(timeIntervalSince1970: row["end"]))
            let accounts = (row["accounts"] as String?).map { $0.split(separator: "\n").map(String.init) } ?? []
            ledger.apply(CapacityLedger.change(id, from: nil, to: CapacityLedger.Hold(
                phase: phase, booking: booking, expires: Date(timeIntervalSince1970: row["expires"]), accounts: accounts, share: row["share"])))
        }
        return ledger
    }

    /// A write that changes sessions: `body` returns its value and the ledger changes of the sessions it wrote
    /// (`CapacityLedger.change`), written in a group with the writes waiting beside it (`groupedWrite`).
    func ledgerWrite<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> (T, [CapacityLedger.Change])) async throws -> T {
        try await groupedWrite(body)
    }

    /// Applies the changes that hold capacity (on the writer, before the commit), noting what each session held
    /// before in `applied`; returns the changes that free capacity, for after the commit.
    func applyHolds(_ changes: [CapacityLedger.Change], recordingIn applied: AppliedHolds) -> [CapacityLedger.Change] {
        let before = ledger.withLock { ledger in
            changes.compactMap { change -> (UUID, CapacityLedger.Hold?)? in
                guard case .hold(let id, _) = change else { return nil }
                defer { ledger.apply(change) }
                return (id, ledger.holds[id])
            }
        }
        if !before.isEmpty { applied.before.withLock { $0 += before } }
        return changes.filter(\.frees)
    }

    /// Gives each session in `applied` back what it held before (a write that failed to commit), latest first.
    func undo(_ applied: AppliedHolds) {
        let undo = applied.before.withLock { $0 }
        guard !undo.isEmpty else { return }
        ledger.withLock { ledger in
            for (id, hold) in undo.reversed() { ledger.apply(CapacityLedger.change(id, from: ledger.holds[id], to: hold)) }
        }
    }

    func applyFrees(_ frees: [CapacityLedger.Change]) {
        if !frees.isEmpty { ledger.withLock { ledger in for c in frees { ledger.apply(c) } } }
    }

    static func dataVersion(_ db: Database) throws -> Int64 { try Int64.fetchOne(db.cachedStatement(sql: "PRAGMA data_version")) ?? 0 }

    /// Reads the ledger again when another process has committed to the file since it was last read (such a write may
    /// have made or changed sessions this process did not see). Only on the writer, inside the booking write.
    func reloadLedgerIfWrittenElsewhere(_ db: Database) throws {
        let version = try Self.dataVersion(db)
        guard ledgerDataVersion.withLock({ $0 }) != version else { return }
        let fresh = try Self.loadLedger(db)
        ledger.withLock { $0 = fresh }
        ledgerDataVersion.withLock { $0 = version }
    }

    /// The ledger as it stands (for tests).
    public func capacityLedger() -> CapacityLedger { ledger.withLock { $0 } }

    /// The ids of the sessions of these offer sets.
    static func sessionIDs(_ db: Database, offerSets: [String]) throws -> [UUID] {
        guard !offerSets.isEmpty else { return [] }
        let marks = Array(repeating: "?", count: offerSets.count).joined(separator: ",")
        return try String.fetchAll(db, sql: "SELECT id FROM session WHERE offer_set_id IN (\(marks))", arguments: StatementArguments(offerSets))
            .compactMap(UUID.init(uuidString:))
    }

    static func insert(_ db: Database, _ s: SessionRecord, document: String? = nil) throws {
        // Cached: an offer set inserts many sessions (a federated one, one per remote offer) in one transaction.
        try db.cachedStatement(sql: """
                INSERT INTO session (id, offer_set_id, facility_key, phase, expires, start, "end", rank, document, needs_work, cores, memory, ended, job,
                    accounts, share, owner, created)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(
            arguments: [
                s.id.text, s.offerSet.text, s.facility.key, s.phase.rawValue, s.expires.timeIntervalSince1970,
                s.start.timeIntervalSince1970, s.end.timeIntervalSince1970, s.rank, try document ?? StoreCoding.encode(s), ForwardingMachine.needsWork(s),
                s.cores, s.memory, Retention.end(of: s)?.timeIntervalSince1970, s.becameJob,
                s.accounts.map { $0.joined(separator: "\n") }, s.share, s.owner, s.created.timeIntervalSince1970,
            ])
    }

    /// Writes a changed session, with its usage when it started or ended (`UsageAccounting`).
    static func update(_ db: Database, _ s: inout SessionRecord) throws {
        if UsageAccounting.stamp(&s) { try writeUsage(db, s) }
        try db.cachedStatement(sql: "UPDATE session SET phase = ?, document = ?, needs_work = ?, ended = ?, job = ? WHERE id = ?").execute(
            arguments: [
                s.phase.rawValue, try StoreCoding.encode(s), ForwardingMachine.needsWork(s), Retention.end(of: s)?.timeIntervalSince1970,
                s.becameJob, s.id.text,
            ])
    }

    static func sessions(_ db: Database, offerSet id: UUID) throws -> [SessionRecord] {
        try String.fetchAll(db.cachedStatement(sql: "SELECT document FROM session WHERE offer_set_id = ? ORDER BY rank"), arguments: [id.text])
            .map { try StoreCoding.decode(SessionRecord.self, $0) }
    }

    public func offerSet(_ id: UUID) async throws -> (OfferSetRecord, [SessionRecord])? {
        try await writer.read { db in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT document, packed FROM offer_set WHERE id = ?"), arguments: [id.text]) else {
                return nil
            }
            return (try StoreCoding.offerSet(StoredDocument(text: row["document"], packed: row["packed"])), try Self.sessions(db, offerSet: id))
        }
    }

    public func session(_ id: UUID) async throws -> SessionRecord? {
        let doc = try await writer.read { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT document FROM session WHERE id = ?"), arguments: [id.text])
        }
        return try doc.map { try StoreCoding.decode(SessionRecord.self, $0) }
    }

    public func sessions(owner: String, phase: SessionPhase?, limit: Int) async throws -> [SessionRecord] {
        let limit = max(0, min(limit, Self.ownerSessionsCap))
        let docs = try await writer.read { db in
            try String.fetchAll(
                db, sql: """
                    SELECT document FROM session WHERE owner = ?1 AND (?2 IS NULL OR phase = ?2)
                    ORDER BY created DESC, offer_set_id, rank, id LIMIT ?3
                    """, arguments: [owner, phase?.rawValue, limit])
        }
        return try docs.map { try StoreCoding.decode(SessionRecord.self, $0) }
    }

    /// The jobs on facility `?1` that hold it between `?2` and `?3`, at most `?4`, as the columns of their bookings
    /// (read through session_job_live, and sorted: a facility has few at once).
    static let jobsHoldingSQL = """
        SELECT id, phase, cores, memory, start, "end" FROM session
        WHERE facility_key = ?1 AND "end" > ?2 AND start < ?3 AND phase IN \(jobPhases)
        ORDER BY start, id LIMIT ?4
        """

    public func holdings(of facility: FacilityID, from: Date, to: Date, limit: Int) async throws -> [Holding] {
        let limit = max(0, limit)
        // The offers, from the capacity ledger (no index of the table holds them by facility: an offer request would
        // write a leaf of it per facility offered): the facility's holders and the holds, snapshots of tries that cost
        // nothing to take, walked outside the lock; no document is read. An offer past its expiry holds nothing, swept
        // or not. Another process on the file may have booked since this one last wrote: the ledger is read again
        // first if so (on the writer, as before a booking; an operator's page, not a request's path).
        if writer is DatabasePool { try await writer.writeWithoutTransaction { db in try self.reloadLedgerIfWrittenElsewhere(db) } }
        let (holds, holders) = ledger.withLock { ($0.holds, $0.holders(of: facility)) }
        let (t0, t1) = (from.timeIntervalSince1970, to.timeIntervalSince1970)
        var offered: [Holding] = []
        for id in holders {
            guard let hold = holds[id], let expires = hold.expires, expires.timeIntervalSince1970 > t0,
                  hold.booking.end.timeIntervalSince1970 > t0, hold.booking.start.timeIntervalSince1970 < t1 else { continue }
            offered.append(Holding(session: id, phase: .offered, booking: hold.booking))
        }
        let jobs = try await writer.read { db in
            try Row.fetchAll(db, sql: Self.jobsHoldingSQL, arguments: [facility.key, t0, t1, limit]).compactMap { row -> Holding? in
                guard let id = UUID(uuidString: row["id"]), let phase = SessionPhase(rawValue: row["phase"]) else { return nil }
                return Holding(session: id, phase: phase, booking: Booking(
                    facility: facility, cores: row["cores"], memory: row["memory"],
                    start: Date(timeIntervalSince1970: row["start"]), end: Date(timeIntervalSince1970: row["end"])))
            }
        }
        // An offer accepted since the snapshot is among the jobs too: once, as a job. (UUIDs compare as their text.)
        let accepted = Set(jobs.map(\.session))
        let all = jobs + offered.filter { !accepted.contains($0.session) }
        return Array(all.sorted { ($0.booking.start, $0.session) < ($1.booking.start, $1.session) }.prefix(limit))
    }

    public func changePhase(
        of id: UUID, to target: SessionPhase, now: Date, admit: (@Sendable (inout SessionRecord, LedgerTally) throws -> Void)?
    ) async throws -> SessionRecord {
        let (changed, before) = try await ledgerWrite { db in
            guard let doc = try String.fetchOne(db.cachedStatement(sql: "SELECT document FROM session WHERE id = ?"), arguments: [id.text]) else {
                throw StoreError.notFound("session \(id)")
            }
            let stored = try StoreCoding.decode(SessionRecord.self, doc)
            var session = stored
            if target == .accepted, let admit {
                try self.reloadLedgerIfWrittenElsewhere(db)
                let held = self.ledger.withLock { $0.usage(of: session.accounts ?? [], now: now) }
                try admit(&session, held)
            }
            let siblings = try Self.sessions(db, offerSet: session.offerSet)
            var changed = try SessionLifecycle.apply(target, to: session, siblings: siblings, now: now)
            let before = Dictionary(siblings.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a }).merging([(stored.id, stored)]) { _, b in b }
            for i in changed.indices {
                try Self.update(db, &changed[i])
                let s = changed[i]
                // A session a job-list tracker watches (nothing in flight) is free for a worker at once: a cancel must
                // reach the facility now, not when the watch ends.
                try db.cachedStatement(sql: "UPDATE session SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner LIKE ?")
                    .execute(arguments: [s.id.text, "%" + ForwardingMachine.watcherSuffix])
            }
            return ((changed, before), changed.compactMap { CapacityLedger.change(from: before[$0.id], to: $0) })
        }
        for s in changed { changes.changed(ChangeFeed.key(session: s.id)) }
        telemetry.telemetry.changed(before, changed)
        return changed[0]
    }

    /// Offers marked `EXPIRED` by one write of the sweep.
    static let expiryBatch = 100

    /// Up to `expiryBatch` offers past their expiry `?1` marked `EXPIRED`.
    static let expireOffersSQL = """
        UPDATE session SET phase = 'EXPIRED', document = json_set(document, '$.phase', 'EXPIRED', '$.modified', ?1), ended = ?1
        WHERE id IN (SELECT id FROM session WHERE phase = 'OFFERED' AND expires <= ?1 LIMIT \(expiryBatch))
        """

    public func expireOffers(now: Date) async throws -> Int {
        // In batches, in SQL: a sweep never decodes sessions. Each batch is one write in a group with the requests'
        // writes (`groupedWrite`), in their queue: under sustained load a sweep has thousands of offers to mark
        // (about 17 µs each), and batches written apart from the queue, one after another, took half the writer
        // for the length of the sweep, while every offer request waited behind them.
        var total = 0
        while true {
            let changed = try await groupedWrite { db in
                try db.cachedStatement(sql: Self.expireOffersSQL).execute(arguments: [now.timeIntervalSince1970])
                return (db.changesCount, [])
            }
            total += changed
            if changed > 0 { changes.changedAll() }
            telemetry.telemetry.changed(from: .offered, to: .expired, count: changed)
            if changed < Self.expiryBatch {
                // The ledger drops the same offers by their expiry (it already does so before each plan).
                ledger.withLock { $0.expire(now: now) }
                return total
            }
        }
    }

    // MARK: forwarding

    /// Up to `?1` sessions that need work and were never leased (or were given back).
    static let claimUnleasedSQL =
        "SELECT document, lease_owner FROM session INDEXED BY session_work WHERE needs_work = 1 AND lease_until IS NULL LIMIT ?1"
    /// Up to `?2` sessions that need work whose lease ran out by `?1`, oldest lease first.
    static let claimLapsedSQL = """
        SELECT document, lease_owner FROM session INDEXED BY session_work
        WHERE needs_work = 1 AND lease_until <= ?1 ORDER BY lease_until LIMIT ?2
        """

    public func claimWork(worker: String, now: Date, until: Date, limit: Int) async throws -> [SessionRecord] {
        let (claimed, takenOver) = try await groupedWrite { db -> (([SessionRecord], Int), [CapacityLedger.Change]) in
            // Sessions never leased (or given back) first, then those whose lease ran out, oldest first: two ranges of
            // the index, each read only as far as needed. (One `IS NULL OR <=` condition read every session that needs
            // work, thousands of them followed on job lists with leases far ahead, on every claim: 1.3 ms at 10,000.)
            let n = min(limit, 10_000)  // within SQLite's bound-parameter limit
            var rows = try Row.fetchAll(db.cachedStatement(sql: Self.claimUnleasedSQL), arguments: [n])
            if rows.count < n {
                rows += try Row.fetchAll(db.cachedStatement(sql: Self.claimLapsedSQL), arguments: [now.timeIntervalSince1970, n - rows.count])
            }
            let claimed = try rows.map { try StoreCoding.decode(SessionRecord.self, $0["document"] as String) }
            guard !claimed.isEmpty else { return (([], 0), []) }
            let marks = Array(repeating: "?", count: claimed.count).joined(separator: ",")
            var args: StatementArguments = [worker, until.timeIntervalSince1970]
            _ = args.append(contentsOf: StatementArguments(claimed.map(\.id.text)))
            try db.execute(sql: "UPDATE session SET lease_owner = ?, lease_until = ? WHERE id IN (\(marks))", arguments: args)
            // Last leased to another worker whose lease ran out: a replica, or this broker before a restart.
            return ((claimed, rows.filter { ForwardingMachine.isTakeover(from: $0["lease_owner"], by: worker) }.count), [])
        }
        if !claimed.isEmpty { telemetry.record(.forwardingClaimed(sessions: claimed.count, takenOver: takenOver)) }
        return claimed
    }

    public func statistics(now: Date) async throws -> StoreStatistics {
        try await writer.read { db in
            var out = StoreStatistics()
            for row in try Row.fetchAll(db, sql: "SELECT phase, count(*) AS n FROM session GROUP BY phase") {
                if let phase = SessionPhase(rawValue: row["phase"]) { out.sessions[phase] = row["n"] }
            }
            out.queued = try Int.fetchOne(
                db, sql: "SELECT count(*) FROM session WHERE needs_work = 1 AND (lease_until IS NULL OR lease_until <= ?)",
                arguments: [now.timeIntervalSince1970]) ?? 0
            out.leased = try Int.fetchOne(
                db, sql: "SELECT count(*) FROM session WHERE needs_work = 1 AND lease_until > ?", arguments: [now.timeIntervalSince1970]) ?? 0
            for table in ["facility", "offer_set", "uws_job", "registry_source", "usage", "audit"] {
                out.rows[table] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0
            }
            out.rows["session"] = out.sessions.values.reduce(0, +)
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let size = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 0
            out.bytes = pages * size
            out.log = checkpoints?.counts
            return out
        }
    }

    public func updateClaimed(
        _ id: UUID, worker: String, now: Date, change: @escaping @Sendable (inout SessionRecord) -> Void
    ) async throws -> SessionRecord? {
        defer { changes.changed(ChangeFeed.key(session: id)) }
        let written = try await ledgerWrite { db -> ((old: SessionPhase, new: SessionRecord)?, [CapacityLedger.Change]) in
            guard let doc = try String.fetchOne(
                db.cachedStatement(sql: "SELECT document FROM session WHERE id = ? AND lease_owner = ?"), arguments: [id.text, worker])
            else { return (nil, []) }
            let old = try StoreCoding.decode(SessionRecord.self, doc)
            var s = ForwardingMachine.workerChange(old, change)
            s.modified = now
            try Self.update(db, &s)
            return ((old.phase, s), CapacityLedger.change(from: old, to: s).map { [$0] } ?? [])
        }
        if let written { telemetry.telemetry.changed(from: written.old, to: written.new.phase) }
        return written?.new
    }

    public func release(_ id: UUID, worker: String, until: Date?) async throws {
        try await groupedWrite { db in
            try db.cachedStatement(sql: "UPDATE session SET lease_owner = ?, lease_until = ? WHERE id = ? AND lease_owner = ?")
                .execute(arguments: [until == nil ? nil : ForwardingMachine.holdOff, until?.timeIntervalSince1970, id.text, worker])
            return ((), [])
        }
    }

    public func watch(_ id: UUID, worker: String, watcher: String, until: Date) async throws {
        try await groupedWrite { db in
            try db.cachedStatement(sql: "UPDATE session SET lease_owner = ?, lease_until = ? WHERE id = ? AND lease_owner = ?")
                .execute(arguments: [watcher, until.timeIntervalSince1970, id.text, worker])
            return ((), [])
        }
    }

    public func renewWatch(_ ids: [UUID], watcher: String, until: Date) async throws {
        try await writer.write { db in
            try Self.forEachChunk(of: ids) { marks, args in
                try db.execute(
                    sql: "UPDATE session SET lease_until = ? WHERE lease_owner = ? AND id IN (\(marks))",
                    arguments: [until.timeIntervalSince1970, watcher] + args)
            }
        }
    }

    public func unwatch(_ ids: [UUID]?, watcher: String) async throws {
        try await writer.write { db in
            guard let ids else {
                try db.execute(
                    sql: "UPDATE session SET lease_owner = NULL, lease_until = NULL WHERE needs_work = 1 AND lease_owner = ?", arguments: [watcher])
                return
            }
            try Self.forEachChunk(of: ids) { marks, args in
                try db.execute(
                    sql: "UPDATE session SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ? AND id IN (\(marks))",
                    arguments: [watcher] + args)
            }
        }
    }

    /// Runs `body` for each 500 of `ids` (within SQLite's bound-parameter limit), with their `?` marks and arguments.
    static func forEachChunk(of ids: [UUID], _ body: (String, StatementArguments) throws -> Void) throws {
        for start in stride(from: 0, to: ids.count, by: 500) {
            let chunk = ids[start..<min(start + 500, ids.count)]
            try body(Array(repeating: "?", count: chunk.count).joined(separator: ","), StatementArguments(chunk.map(\.text)))
        }
    }

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
    /// Documents are opaque to SQL (only `json_set` on a known path): no key sorting, which costs a third of the encoding.
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// A session's document, written by hand: an offer request stores up to four, inside the serialized write, and
    /// every change of a session writes it again, where `JSONEncoder` took a fifteenth of the broker's CPU at a
    /// thousand requests a second. The same JSON value as `encode`'s (keys sorted here); the forwarded job
    /// (`remote`) and the sealed credential, present only once a session is accepted, are still encoded by it.
    static func encode(_ s: SessionRecord) throws -> String {
        var written = WrittenDocuments()
        defer { written.remember() }
        return try encode(s, written: &written)
    }

    /// `encode`, noting in `written` what the document reads back as, for `WrittenDocuments.remember` (after the
    /// write that stores it, off the writer).
    static func encode(_ s: SessionRecord, written: inout WrittenDocuments) throws -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        let remote = try s.remote.map { Array(try encoder.encode($0)) }
        let credential = try s.credential.map { Array(try encoder.encode($0)) }
        var json = JSONWriter(capacity: 1_024, dates: .secondsSince1970)
        json.object { w in
            w.field("accepted", s.accepted)
            w.field("accounts", s.accounts)
            w.field("callback", s.callback)
            w.field("cores", s.cores)
            w.field("created", s.created)
            w.field("credential", json: credential)
            w.field("data", s.data)
            w.field("duration", s.duration.description)
            w.field("executable", s.executable)
            w.field("expires", s.expires)
            w.field("facility", s.facility.rawValue)
            w.field("facilityName", s.facilityName)
            w.field("finished", s.finished)
            w.field("gpus", s.gpus)
            w.field("id", s.id.text)
            w.field("memory", s.memory)
            w.field("message", s.message)
            w.field("modified", s.modified)
            w.field("notified", s.notified)
            w.field("notifiedAvailable", s.notifiedAvailable)
            w.field("offerSet", s.offerSet.text)
            w.field("owner", s.owner)
            w.field("phase", s.phase.rawValue)
            w.field("rank", s.rank)
            w.field("remote", json: remote)
            w.field("share", s.share)
            w.field("staging", number: s.staging)
            w.field("start", s.start)
            w.field("started", s.started)
            w.field("trace", s.trace)
        }
        let text = String(decoding: json.bytes, as: UTF8.self)
        // Remembered as written only without a forwarded job or a credential: their own decoding reads a phase word
        // for the endpoint's kind and rounds a deadline, and decoding them here cost a federated offer request (a
        // hundred offers, each with its remote offer) more than it saved. Those are remembered when first read.
        if s.remote == nil, s.credential == nil { written.sessions.append((text, s, json.bytes.count)) }
        return text
    }

    /// A record that writes itself (`JSONWritable`, an offer set: one per request, inside the serialized write),
    /// in the form `encode` gives it, without `JSONEncoder`.
    static func write(_ value: some JSONWritable) -> String {
        var writer = JSONWriter(capacity: 8_192, dates: .secondsSince1970)
        value.write(to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// An offer set's document as the store keeps it: `write`'s JSON, deflated (`StoredDocument`).
    static func stored(_ set: OfferSetRecord) -> StoredDocument {
        var written = WrittenDocuments()
        defer { written.remember() }
        return stored(set, written: &written)
    }

    /// `stored`, noting in `written` what the document reads back as.
    static func stored(_ set: OfferSetRecord, written: inout WrittenDocuments) -> StoredDocument {
        var writer = JSONWriter(capacity: 8_192, dates: .secondsSince1970)
        set.write(to: &writer)
        let document = StoredDocument(json: writer.bytes)
        written.set = (document, set, writer.bytes.count)
        return document
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try decode(type, bytes: Data(text.utf8))
    }

    // MARK: documents known decoded

    /// Sessions by their document: read back moments after they were written, under load, again and again
    /// (`DecodedDocuments`). Two thousand (the offers of 500 requests: half a second at a thousand a second; a
    /// client reads its set, and accepts, within milliseconds), in at most 4 MiB of JSON (one is 1-2 KB).
    static let sessions = DecodedDocuments<SessionRecord>(capacity: 2_048, budget: 4 << 20)
    /// Offer sets by their stored form, written once and read by their client soon after: only 128, since one takes
    /// far more memory decoded than as JSON (a set that turns a hundred facilities down holds a hundred rejections,
    /// some 80 KB, where its JSON is 2-3 KB: a thousand of them held 88 MiB more in `bench-flood.sh`).
    static let offerSets = DecodedDocuments<OfferSetRecord>(capacity: 128, budget: 1 << 20)

    static func decode(_ type: SessionRecord.Type, _ text: String) throws -> SessionRecord {
        try sessions.value(DocumentBytes(text: text), size: text.utf8.count) { try decode(type, bytes: Data(text.utf8)) }
    }

    /// An offer set from its columns `document` and `packed`.
    static func offerSet(_ document: StoredDocument) throws -> OfferSetRecord {
        let key = DocumentBytes(text: document.text, packed: document.packed)
        if let known = offerSets.value(key) { return known }
        let json = try StoredDocument.json(text: document.text, packed: document.packed)
        let set = try decode(OfferSetRecord.self, bytes: json)
        offerSets.remember(key, set, size: json.count)
        return set
    }

    /// Remembers what a document just written reads back as. The tests' (debug) builds read it back and compare, so
    /// that a field written in a form that does not read back the same (a date's precision, a value left out) fails
    /// them instead of being served from here.
    fileprivate static func remember(_ text: String, _ s: SessionRecord, size: Int) {
        assert((try? decode(SessionRecord.self, bytes: Data(text.utf8))) == s, "a session's document does not read back as written: \(text)")
        sessions.remember(DocumentBytes(text: text), s, size: size)
    }

    fileprivate static func remember(_ document: StoredDocument, _ set: OfferSetRecord, size: Int) {
        assert(
            (try? decode(OfferSetRecord.self, bytes: StoredDocument.json(text: document.text, packed: document.packed))) == set,
            "an offer set's document does not read back as written: \(set)")
        offerSets.remember(DocumentBytes(text: document.text, packed: document.packed), set, size: size)
    }

    /// A session without a forwarded job or a credential as its document reads back: times to the precision kept
    /// (seconds since 1970, a `Double`), a staging estimate that is not a number left out.
    static func asRead(_ s: SessionRecord) -> SessionRecord {
        var s = s
        s.created = s.created.asRead
        s.modified = s.modified.asRead
        s.expires = s.expires.asRead
        s.start = s.start.asRead
        s.accepted = s.accepted?.asRead
        s.started = s.started?.asRead
        s.finished = s.finished?.asRead
        if let staging = s.staging, !staging.isFinite { s.staging = nil }
        return s
    }

    /// An offer set as its document reads back (times as in `asRead(_: SessionRecord)`).
    static func asRead(_ set: OfferSetRecord) -> OfferSetRecord {
        var set = set
        set.created = set.created.asRead
        set.expires = set.expires.asRead
        for i in set.messages.indices { set.messages[i].time = set.messages[i].time.asRead }
        if let window = set.request.start { set.request.start = TimeWindow(earliest: window.earliest.asRead, latest: window.latest.asRead) }
        return set
    }

    static func decode<T: Decodable>(_ type: T.Type, bytes: some Sequence<UInt8>) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode(type, from: Data(bytes))
    }
}

/// The holds one group of writes (`groupedWrite`) applied before its commit, with what each session
/// held before them.
final class AppliedHolds: Sendable {
    let before = Mutex<[(UUID, CapacityLedger.Hold?)]>([])
}

private extension Date {
    /// The time as a document keeps it: seconds since 1970, as `JSONDecoder` reads them back.
    var asRead: Date { Date(timeIntervalSince1970: timeIntervalSince1970) }
}

/// Documents encoded to be stored, with the values they read back as: remembered (`StoreCoding.sessions`,
/// `StoreCoding.offerSets`) by `remember` once the write commits, on the task that asked for it rather than in the
/// serialized write, where hashing them and freeing what they push out (an offer set decoded holds its rejections
/// one by one) was a fortieth of the broker's CPU under load.
struct WrittenDocuments: Sendable {
    var sessions: [(text: String, value: SessionRecord, size: Int)] = []
    var set: (document: StoredDocument, value: OfferSetRecord, size: Int)?

    func remember() {
        for s in sessions { StoreCoding.remember(s.text, StoreCoding.asRead(s.value), size: s.size) }
        if let set { StoreCoding.remember(set.document, StoreCoding.asRead(set.value), size: set.size) }
    }
}

import Foundation
import Logging
import PostgresNIO
import SkyportCore
import Synchronization

/// The store replicas share: one PostgreSQL database (postgres-nio, a pool of connections), with named, append-only
/// migrations run once at start under an advisory lock.
///
/// How replicas stay correct together:
/// - **Capacity.** Every write that changes what a session holds (booking, a client's phase change, a worker's
///   change) first takes the one row of `ledger_clock` (`UPDATE … RETURNING n`): that row lock serialises those
///   writes across all replicas, and its number is stamped on every session the write changes (`ledger_seq`). Each
///   replica keeps the capacity ledger in memory, as SQLite's does; before planning it reads the sessions stamped
///   after the last number it saw (an index range, usually a few rows) and applies them. One lock, not one per
///   facility: the ledger also counts what each account holds across facilities (quotas), which per-facility row
///   locks would not protect. Serialisable transactions would give the same answer with retries under contention;
///   the lock gives it without, and a booking holds it for a few round trips.
/// - **Work.** Forwarding claims sessions with `FOR UPDATE SKIP LOCKED` under a lease; a dead replica's sessions
///   are claimable when their lease runs out.
/// - **Wake-ups.** Writes send `NOTIFY` on the schema's channel (in the transaction: delivered at commit); every
///   replica listens and rings its own change feed, work signal and facility cache.
/// - **Once per cluster.** `claimTurn` hands a periodic task to one replica per period.
public final class PostgresStore: BrokerStore, CataloguedFacilities {
    public let kind = "postgres"
    public let changes = ChangeFeed()
    public let telemetry = TelemetryRelay()
    public let wakeups = StoreWakeups()
    /// The database, as configured (without its password).
    public let location: String
    /// This process among the replicas (in notifications, so that it skips its own).
    public let replica: String
    let schema: String
    let channel: String
    let client: PostgresClient
    let logger: Logger
    private let running: Task<Void, Never>
    private let listening = Mutex<Task<Void, Never>?>(nil)
    let inbox: PostgresInbox

    /// The capacity ledger (see the type's comment), the last `ledger_clock` number applied, and whether it must be
    /// read whole again (a failed commit after applying; a periodic refresh).
    struct LedgerState {
        var ledger = CapacityLedger()
        var seen: Int64 = 0
        var valid = false
        var loaded = Date.distantPast
        /// The clock number and transaction id of a write whose changes are applied but whose commit is not known here yet.
        var pending: (seq: Int64, transaction: Int64)?
    }
    let ledgerState = Mutex(LedgerState())
    /// How often the ledger is read whole again, whatever the increments said (bounds any drift, such as a
    /// session deleted by retention before this replica read its end).
    static let ledgerRefresh: TimeInterval = 300

    /// Facilities decoded and compiled for matching, kept until a notification (or, without a listener, the
    /// facility generation) says they changed.
    struct FacilitySnapshot: Sendable {
        var generation: Int64
        var mark: Int
        var catalogue: FacilityCatalogue
    }
    let facilityCache = Mutex<FacilitySnapshot?>(nil)

    /// Opens the database at `url` (`postgres://user[:password]@host[:port]/database[?schema=NAME&sslmode=…]`),
    /// creating the schema if needed and migrating it, and starts listening for other replicas' notifications.
    public static func open(url: String, replica: String? = nil, logger: Logger = Logger(label: "skyport.postgres")) async throws -> PostgresStore {
        let target = try PostgresURL(url)
        let store = PostgresStore(target, replica: replica ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UUID().text.prefix(6))", logger: logger)
        do {
            try await store.migrate()
            try await store.reloadLedger()
            store.startListening()
        } catch {
            await store.close()
            throw StoreError.unavailable("PostgreSQL at \(target.display): \(PostgresStore.describe(error))")
        }
        return store
    }

    init(_ target: PostgresURL, replica: String, logger: Logger) {
        self.location = target.display
        self.replica = replica
        self.schema = target.schema
        self.channel = "skyport:" + target.schema
        self.logger = logger
        inbox = PostgresInbox(replica: replica, changes: changes, wakeups: wakeups)
        var config = PostgresClient.Configuration(
            host: target.host, port: target.port, username: target.user, password: target.password, database: target.database, tls: target.tls)
        config.options.maximumConnections = target.poolSize
        // A replica that stalls inside a transaction must not hold the ledger clock (and so every booking in the
        // cluster) for long: the server ends such a transaction, and a write waits for a lock at most this long (then
        // a 503 the client may retry).
        config.options.additionalStartupParameters = [
            ("search_path", target.schema), ("application_name", "skyport"),
            ("idle_in_transaction_session_timeout", "15s"), ("lock_timeout", "10s"),
        ]
        // The pool's own messages at error and above: its warnings (a lease asked before `run()` has started, in the
        // first instant) say nothing an operator can act on; this store logs its own connection failures.
        var background = logger
        background.logLevel = max(logger.logLevel, .error)
        let client = PostgresClient(configuration: config, backgroundLogger: background)
        self.client = client
        running = Task { await client.run() }
    }

    /// Stops listening and closes the connections.
    public func close() async {
        listening.withLock { $0 }?.cancel()
        running.cancel()
        _ = await running.value
    }

    public func ping() async throws {
        try await run { conn in try await conn.exec("SELECT 1") }
    }

    // MARK: migrations

    /// The schema's history. Append new migrations at the end; never edit a released one.
    static let migrations: [(name: String, sql: String)] = [
        ("v1-create-schema", """
            CREATE TABLE facility (
                id_key   text PRIMARY KEY,          -- the identifier in lower case
                owner    text NOT NULL,
                status   text NOT NULL,
                document text NOT NULL              -- the facility as canonical JSON
            );
            CREATE INDEX facility_owner ON facility(owner);
            -- Bumped by every change to a facility, from any replica; the change is also announced on the channel.
            CREATE TABLE facility_generation (n bigint NOT NULL);
            INSERT INTO facility_generation VALUES (0);
            CREATE FUNCTION facility_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE facility_generation SET n = n + 1;
                PERFORM pg_notify('skyport:' || TG_TABLE_SCHEMA, '|f|');
                RETURN NULL;
            END $$;
            CREATE TRIGGER facility_changed AFTER INSERT OR UPDATE OR DELETE ON facility
                FOR EACH STATEMENT EXECUTE FUNCTION facility_changed();
            CREATE TABLE operator (
                name       text PRIMARY KEY,
                token_hash text NOT NULL UNIQUE,
                created    float8 NOT NULL
            );
            CREATE TABLE offer_set (
                id              uuid PRIMARY KEY,
                created         float8 NOT NULL,
                idempotency_key text UNIQUE,
                request_digest  text,
                document        text NOT NULL,
                expires         float8
            );
            CREATE INDEX offer_set_expires ON offer_set(expires);
            CREATE TABLE session (
                id           uuid PRIMARY KEY,
                offer_set_id uuid NOT NULL REFERENCES offer_set(id),
                facility_key text NOT NULL,
                phase        text NOT NULL,
                expires      float8 NOT NULL,
                start        float8 NOT NULL,
                "end"        float8 NOT NULL,
                rank         integer NOT NULL,
                document     text NOT NULL,
                needs_work   boolean NOT NULL,
                lease_owner  text,
                lease_until  float8,
                cores        bigint NOT NULL,
                memory       bigint NOT NULL,
                ended        float8,
                job          boolean NOT NULL,
                accounts     text,                  -- newline-separated
                share        text,
                ledger_seq   bigint NOT NULL        -- the ledger_clock number of the write that last changed its hold
            );
            CREATE INDEX session_offer_set ON session(offer_set_id);
            CREATE INDEX session_phase_expires ON session(phase, expires);
            CREATE INDEX session_work ON session(lease_until) WHERE needs_work;
            CREATE INDEX session_live ON session(facility_key)
                WHERE phase IN ('OFFERED', 'ACCEPTED', 'WAITING', 'PREPARING', 'AVAILABLE', 'RUNNING', 'RELEASING');
            CREATE INDEX session_ledger_seq ON session(ledger_seq);
            CREATE TABLE ledger_clock (n bigint NOT NULL);
            INSERT INTO ledger_clock VALUES (0);
            CREATE TABLE uws_job (
                id           text PRIMARY KEY,
                owner        text NOT NULL,
                created      float8 NOT NULL,
                destruction  float8,
                phase        text NOT NULL,
                session_id   uuid REFERENCES session(id),
                document     text NOT NULL,
                offer_set_id uuid
            );
            CREATE INDEX uws_job_owner_created ON uws_job(owner, created);
            CREATE INDEX uws_job_offer_set ON uws_job(offer_set_id);
            CREATE INDEX uws_job_session ON uws_job(session_id);
            CREATE INDEX uws_job_destruction ON uws_job(destruction);
            CREATE TABLE registry_source (
                url      text PRIMARY KEY,
                document text NOT NULL
            );
            CREATE TABLE usage (
                session_id uuid NOT NULL,
                account    text NOT NULL,
                cores      bigint NOT NULL,
                started    float8 NOT NULL,
                finished   float8,
                PRIMARY KEY (session_id, account)
            );
            CREATE INDEX usage_account ON usage(account, finished);
            CREATE INDEX usage_finished ON usage(finished);
            CREATE TABLE quota (
                account  text PRIMARY KEY,
                document text NOT NULL,
                modified float8 NOT NULL,
                by       text NOT NULL
            );
            CREATE TABLE audit (
                seq    bigserial PRIMARY KEY,
                time   float8 NOT NULL,
                actor  text NOT NULL,
                action text NOT NULL,
                target text NOT NULL,
                detail text
            );
            CREATE INDEX audit_actor ON audit(actor, seq);
            CREATE INDEX audit_target ON audit(target, seq);
            CREATE INDEX audit_time ON audit(time);
            -- Periodic tasks that one replica runs per period (claimTurn).
            CREATE TABLE turn (
                name  text PRIMARY KEY,
                next  float8 NOT NULL,
                owner text NOT NULL
            );
            """),
        ("v2-create-facility-health", """
            -- Each facility's last health check, as the replica whose turn it was recorded it (HealthService).
            CREATE TABLE facility_health (
                facility_key text PRIMARY KEY,
                checked      float8 NOT NULL,
                document     text NOT NULL
            );
            """),
        ("v3-add-session-owner", """
            -- Whose a session is and when it was made, as columns: a user's own sessions, newest first.
            ALTER TABLE session ADD COLUMN owner text;
            ALTER TABLE session ADD COLUMN created float8;
            UPDATE session SET owner = document::jsonb->>'owner', created = (document::jsonb->>'created')::float8;
            CREATE INDEX session_owner_created ON session(owner, created DESC);
            """),
    ]

    /// Creates the schema if needed and applies the migrations it lacks, holding an advisory lock meanwhile, so that
    /// replicas starting together migrate once (the others wait, then find nothing to do).
    func migrate() async throws {
        try await run { conn in
            let key = "skyport-migrate:" + self.schema
            // Waiting for another replica's migration is no lock held too long: no lock timeout meanwhile (reset below,
            // before the connection goes back to the pool).
            try await conn.exec("SET lock_timeout = 0")
            try await conn.exec("SELECT pg_advisory_lock(hashtext(\(key)))")
            do {
                try await conn.exec(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(Self.quoted(self.schema))"))
                try await conn.exec("CREATE TABLE IF NOT EXISTS skyport_migration (name text PRIMARY KEY, applied float8 NOT NULL)")
                let applied = Set(try await conn.all("SELECT name FROM skyport_migration", String.self))
                for m in Self.migrations where !applied.contains(m.name) {
                    try await conn.exec("BEGIN")
                    do {
                        for statement in Self.statements(m.sql) { try await conn.exec(PostgresQuery(unsafeSQL: statement)) }
                        try await conn.exec("INSERT INTO skyport_migration (name, applied) VALUES (\(m.name), \(Date().timeIntervalSince1970))")
                        try await conn.exec("COMMIT")
                    } catch {
                        try? await conn.exec("ROLLBACK")
                        throw error
                    }
                    self.logger.info("postgres: migrated", metadata: ["migration": .string(m.name), "schema": .string(self.schema)])
                }
            } catch {
                _ = try? await conn.exec("SELECT pg_advisory_unlock(hashtext(\(key)))")
                _ = try? await conn.exec("RESET lock_timeout")
                throw error
            }
            try await conn.exec("SELECT pg_advisory_unlock(hashtext(\(key)))")
            try await conn.exec("RESET lock_timeout")
        }
    }

    /// The names of all migrations, in order.
    public static var migrationNames: [String] { migrations.map(\.name) }

    /// Names of the migrations applied to the database, in order.
    public func appliedMigrations() async throws -> [String] {
        try await run { conn in try await conn.all("SELECT name FROM skyport_migration ORDER BY applied, name", String.self) }
    }

    /// A migration's statements, one by one (the extended query protocol takes one at a time): split at semicolons
    /// outside `$$` bodies, with `--` comments dropped.
    static func statements(_ sql: String) -> [String] {
        var out: [String] = [], current = "", inBody = false
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            var text = Substring(line)
            if !inBody, let comment = text.range(of: "--") { text = text[..<comment.lowerBound] }
            var i = text.startIndex
            while i < text.endIndex {
                if text[i...].hasPrefix("$$") {
                    inBody.toggle()
                    current += "$$"
                    i = text.index(i, offsetBy: 2)
                    continue
                }
                if text[i] == ";" && !inBody {
                    let statement = current.trimmingWhitespace()
                    if !statement.isEmpty { out.append(statement) }
                    current = ""
                } else {
                    current.append(text[i])
                }
                i = text.index(after: i)
            }
            current += "\n"
        }
        let last = current.trimmingWhitespace()
        if !last.isEmpty { out.append(last) }
        return out
    }

    static func quoted(_ identifier: String) -> String { "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    // MARK: connections and transactions

    /// Runs `body` on a pooled connection. PostgreSQL's errors become `StoreError.unavailable` naming the error (never
    /// the query's values), except a unique violation, which callers turn into `duplicate` or `conflict`.
    @discardableResult
    func run<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { conn in
                do { return try await body(conn) } catch { throw Thrown(error) }
            }
        } catch let thrown as Thrown {
            if let error = thrown.error as? PSQLError { throw Self.mapped(error) }
            throw thrown.error
        } catch {
            // From the pool itself (no connection could be had, the pool is shut down): the database is unavailable.
            throw Self.unavailable(error)
        }
    }

    /// An error the body threw, told apart from the pool's own.
    struct Thrown: Error { let error: any Error; init(_ error: any Error) { self.error = error } }

    static func unavailable(_ error: any Error) -> any Error {
        if let error = error as? PSQLError { return mapped(error) }
        return StoreError.unavailable("PostgreSQL: \(describe(error))")
    }

    /// Runs `body` in a transaction (READ COMMITTED: rows that are read to be changed are read `FOR UPDATE`), and
    /// again, up to three times, when PostgreSQL aborts it for a deadlock or a serialisation failure.
    @discardableResult
    func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await client.withConnection { conn in
                    do {
                        try await conn.exec("BEGIN")
                        do {
                            let value = try await body(conn)
                            try await conn.exec("COMMIT")
                            return value
                        } catch {
                            _ = try? await conn.exec("ROLLBACK")
                            throw error
                        }
                    } catch { throw Thrown(error) }
                }
            } catch let thrown as Thrown {
                if let error = thrown.error as? PSQLError {
                    if attempt < 3 && Self.isRetryable(error) { continue }
                    throw Self.mapped(error)
                }
                throw thrown.error
            } catch {
                throw Self.unavailable(error)
            }
        }
    }

    static func mapped(_ error: PSQLError) -> any Error {
        isUniqueViolation(error) ? error : StoreError.unavailable("PostgreSQL: \(describe(error))")
    }

    static func isRetryable(_ error: PSQLError) -> Bool {
        let state = error.serverInfo?[.sqlState]
        return state == PostgresError.Code.deadlockDetected.raw || state == PostgresError.Code.serializationFailure.raw
    }

    static func isUniqueViolation(_ error: any Error) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == PostgresError.Code.uniqueViolation.raw
    }

    /// A short description of a PostgreSQL error (its message and SQLSTATE, never the query's values).
    static func describe(_ error: any Error) -> String {
        guard let e = error as? PSQLError else { return String(describing: error) }
        if let info = e.serverInfo {
            return "\(info[.message] ?? "error") (SQLSTATE \(info[.sqlState] ?? "?"))"
        }
        return "\(e.code)" + (e.underlying.map { ": \($0)" } ?? "")
    }

    // MARK: notifications

    /// Sends a notification to every replica (this one skips its own), at commit.
    func notify(_ conn: PostgresConnection, _ kind: Character, _ keys: [String] = []) async throws {
        // A payload is at most 8000 bytes: keys go in chunks.
        var chunk: [String] = []
        var size = 0
        func flush() async throws {
            let payload = "\(replica)|\(kind)|" + chunk.joined(separator: " ")
            try await conn.exec("SELECT pg_notify(\(channel), \(payload))")
            chunk.removeAll()
            size = 0
        }
        if keys.isEmpty { try await flush(); return }
        for key in keys {
            if size + key.utf8.count > 7_000 { try await flush() }
            chunk.append(key)
            size += key.utf8.count + 1
        }
        if !chunk.isEmpty { try await flush() }
    }

    /// Listens on the schema's channel for as long as the store is open, reconnecting after a failure. Each
    /// (re)connection counts as a change of everything: what was announced while it was away is not replayed.
    /// The task holds the client and the inbox, not the store, so that a store nobody holds closes (`deinit`).
    func startListening() {
        let (client, channel, inbox, logger) = (self.client, self.channel, self.inbox, self.logger)
        let task = Task {
            var pause = Duration.milliseconds(100)
            while !Task.isCancelled {
                do {
                    try await client.withConnection { conn in
                        try await conn.listen(on: channel) { notifications in
                            inbox.connected(true)
                            pause = .milliseconds(100)
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                group.addTask { for try await n in notifications { inbox.received(n.payload) } }
                                // A connection dropped without a word (a firewall's idle timeout) would leave this replica
                                // trusting a silent channel: it is pinged, and closed when the ping does not come back.
                                group.addTask {
                                    while true {
                                        try await Task.sleep(for: Self.heartbeat)
                                        let watchdog = Task {
                                            try await Task.sleep(for: Self.heartbeat / 3)
                                            try? await conn.close()
                                        }
                                        defer { watchdog.cancel() }
                                        try await conn.exec("SELECT 1")
                                    }
                                }
                                try await group.next()
                                group.cancelAll()
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    logger.warning("postgres: listening failed; retrying", metadata: ["error": .string(Self.describe(error))])
                }
                inbox.connected(false)
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(5))
            }
        }
        listening.withLock { $0 = task }
    }

    /// How often the listening connection is checked.
    static let heartbeat = Duration.seconds(30)

    deinit {
        listening.withLock { $0 }?.cancel()
        running.cancel()
    }
}

/// Where the notifications of other replicas land: the change feed, the wake-ups, the facility cache's mark.
final class PostgresInbox: Sendable {
    let replica: String
    let changes: ChangeFeed
    let wakeups: StoreWakeups
    /// Bumped by every facility notification: a facility snapshot is good while its mark equals this.
    let facilityInvalidations = Atomic<Int>(0)
    /// Whether the listener is connected: while it is not, the facility cache is checked against the database on
    /// every read instead of trusting notifications.
    let up = Atomic<Bool>(false)

    init(replica: String, changes: ChangeFeed, wakeups: StoreWakeups) {
        self.replica = replica
        self.changes = changes
        self.wakeups = wakeups
    }

    /// The listener (re)connected, or lost its connection. After a (re)connection anything may have changed meanwhile.
    func connected(_ isUp: Bool) {
        up.store(isUp, ordering: .sequentiallyConsistent)
        guard isUp else { return }
        facilitiesChanged()
        changes.changedAll()
        wakeups.ring(.work)
    }

    func facilitiesChanged() { facilityInvalidations.add(1, ordering: .sequentiallyConsistent) }

    /// What a notification says: `replica|kind|keys`.
    func received(_ payload: String) {
        let parts = payload.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let kind = parts[1].first else { return }
        if kind == "f" { return facilitiesChanged() }
        guard parts[0] != replica else { return }
        switch kind {
        case "c": for key in parts[2].split(separator: " ") { changes.changed(String(key)) }
        case "a": changes.changedAll()
        case "w": wakeups.ring(.work)
        case "r": wakeups.ring(.registrySources)
        default: break
        }
    }
}

/// A `postgres://` URL, read.
struct PostgresURL {
    var host: String
    var port: Int
    var user: String
    var password: String?
    var database: String
    var schema: String
    var tls: PostgresClient.Configuration.TLS
    var poolSize: Int
    /// The URL without its password (for logs and `/health`).
    var display: String

    init(_ text: String) throws {
        func bad(_ why: String) -> StoreError { .unavailable("database URL: \(why) (postgres://user[:password]@host[:port]/database)") }
        guard let c = URLComponents(string: text), ["postgres", "postgresql"].contains(c.scheme ?? "") else { throw bad("not a postgres:// URL") }
        guard let host = c.host, !host.isEmpty else { throw bad("no host") }
        guard let user = c.user, !user.isEmpty else { throw bad("no user") }
        let database = String(c.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else { throw bad("no database") }
        self.host = host
        port = c.port ?? 5432
        self.user = user
        password = c.password
        self.database = database
        let query = Dictionary((c.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, b in b })
        schema = query["schema"] ?? "public"
        // The channel name (`skyport:` and the schema) must stay within PostgreSQL's 63-byte identifiers.
        guard !schema.isEmpty, schema.count <= 48, schema.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
            throw bad("schema must be 1 to 48 lower-case letters, digits or underscores")
        }
        switch query["sslmode"] ?? "prefer" {
        case "disable": tls = .disable
        case "require", "verify-full": tls = .require(.makeClientConfiguration())
        case "prefer", "allow": tls = .prefer(.makeClientConfiguration())
        case let other: throw bad("sslmode \(other) is not one of disable, prefer, require, verify-full")
        }
        poolSize = Int(query["pool"] ?? "") ?? 16
        // One connection listens for notifications all the time: at least one more serves queries.
        guard (2...200).contains(poolSize) else { throw bad("pool must be 2 to 200 connections") }
        var shown = c
        shown.password = nil
        display = shown.string ?? "postgres://\(host)"
    }
}

// MARK: small helpers over postgres-nio

extension PostgresConnection {
    static let quiet = Logger(label: "skyport.postgres.query", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs a statement, reading any rows it returns; returns how many there were.
    @discardableResult
    func exec(_ query: PostgresQuery) async throws -> Int {
        var n = 0
        for try await _ in try await self.query(query, logger: Self.quiet) { n += 1 }
        return n
    }

    /// Every row's one column.
    func all<T: PostgresDecodable>(_ query: PostgresQuery, _ type: T.Type) async throws -> [T] {
        var out: [T] = []
        for try await row in try await self.query(query, logger: Self.quiet) { out.append(try row.decode(T.self)) }
        return out
    }

    /// The first row's one column, if there is a row.
    func one<T: PostgresDecodable>(_ query: PostgresQuery, _ type: T.Type) async throws -> T? {
        try await all(query, type).first
    }

    /// Every row, as the columns given.
    func rows<each C: PostgresDecodable>(_ query: PostgresQuery, _ type: (repeat each C).Type) async throws -> [(repeat each C)] {
        var out: [(repeat each C)] = []
        for try await row in try await self.query(query, logger: Self.quiet) { out.append(try row.decode(type)) }
        return out
    }
}

import Foundation
import PostgresNIO
import SkyportCore
import Synchronization

/// Offer sets, sessions, the capacity ledger and forwarding leases in PostgreSQL.
extension PostgresStore {
    static let livePhases = ["OFFERED", "ACCEPTED", "WAITING", "PREPARING", "AVAILABLE", "RUNNING", "RELEASING"]
    static let holdColumns = #"id, facility_key, cores, memory, start, "end", phase, expires, accounts, share"#
    typealias HoldRow = (UUID, String, Int, Int, Double, Double, String, Double, String?, String?)

    static func hold(_ row: HoldRow) -> CapacityLedger.Hold? {
        guard let phase = SessionPhase(rawValue: row.6) else { return nil }
        let booking = Booking(
            facility: FacilityID(lowercasedKey: row.1), cores: row.2, memory: row.3,
            start: Date(timeIntervalSince1970: row.4), end: Date(timeIntervalSince1970: row.5))
        return CapacityLedger.Hold(
            phase: phase, booking: booking, expires: Date(timeIntervalSince1970: row.7),
            accounts: row.8.map { $0.split(separator: "\n").map(String.init) } ?? [], share: row.9)
    }

    /// Reads the ledger whole (the sessions in a phase that holds capacity), as of the clock's number now.
    func reloadLedger() async throws {
        try await transaction { conn in
            // FOR SHARE waits for a write holding the clock, so every number up to the one read is committed.
            let seen = try await conn.one("SELECT n FROM ledger_clock FOR SHARE", Int64.self) ?? 0
            try await self.loadLedger(conn, seen: seen)
        }
    }

    func loadLedger(_ conn: PostgresConnection, seen: Int64) async throws {
        var ledger = CapacityLedger()
        for row in try await conn.rows(
            PostgresQuery(unsafeSQL: "SELECT \(Self.holdColumns) FROM session WHERE phase IN (\(Self.livePhases.map { "'\($0)'" }.joined(separator: ",")))"),
            HoldRow.self) {
            ledger.apply(CapacityLedger.change(row.0, from: nil, to: Self.hold(row)))
        }
        ledgerState.withLock { $0 = LedgerState(ledger: ledger, seen: seen, valid: true, loaded: Date()) }
    }

    /// Brings the ledger up to `seen` (every write numbered up to it is committed: the caller holds the clock row): applies the
    /// sessions stamped after the last number applied, or reads it whole when it is not valid or is due a refresh.
    func catchUp(_ conn: PostgresConnection, to seen: Int64, known: (transaction: Int64, status: String?)? = nil) async throws {
        // A write of this replica applied before its commit whose outcome is not recorded yet (its task has not run
        // since the commit answered, or the commit failed): its transaction's status says which. Under load this is
        // the common case, so it is asked (with the clock, when the caller could: `known`), not answered by reading
        // the ledger whole.
        if let pending = ledgerState.withLock({ $0.pending }) {
            let status = known?.transaction == pending.transaction
                ? known?.status : try await conn.one("SELECT txid_status(\(pending.transaction))", String.self)
            ledgerState.withLock { state in
                guard state.pending?.seq == pending.seq else { return }
                if status != "committed" { state.valid = false }
                state.pending = nil
            }
        }
        let (valid, from, loaded) = ledgerState.withLock { ($0.valid, $0.seen, $0.loaded) }
        guard valid, Date().timeIntervalSince(loaded) < Self.ledgerRefresh else { return try await loadLedger(conn, seen: seen) }
        guard seen > from else { return }
        let rows = try await conn.rows(
            PostgresQuery(unsafeSQL: "SELECT \(Self.holdColumns) FROM session WHERE ledger_seq > $1", binds: {
                var b = PostgresBindings(); b.append(from); return b
            }()), HoldRow.self)
        ledgerState.withLock { state in
            for row in rows { state.ledger.apply(CapacityLedger.change(row.0, from: state.ledger.holds[row.0], to: Self.hold(row))) }
            state.seen = max(state.seen, seen)
        }
    }

    /// A write that changes what sessions hold: takes the ledger clock (serialising such writes across replicas),
    /// brings the ledger up to date, runs `body` with the clock's new number (to stamp on the sessions it writes), and
    /// applies the ledger changes it returns just before the commit, marked `pending` (with its transaction id) until
    /// the commit is known here: whoever takes the clock next while it is still pending asks PostgreSQL whether that
    /// transaction committed, and reads the ledger whole if it did not.
    func ledgerTransaction<T: Sendable>(
        _ body: @Sendable (PostgresConnection, Int64) async throws -> (T, [CapacityLedger.Change])
    ) async throws -> T {
        let attempt = Atomic<Int64>(0)
        do {
            let value = try await transaction { conn in
                // With the clock, the status of this replica's write still pending (read once the clock is held: that
                // write has ended), so that settling it costs no round trip of its own.
                let asked = self.ledgerState.withLock { $0.pending?.transaction }
                guard let (seq, xid, status) = try await conn.rows(
                    "UPDATE ledger_clock SET n = n + 1 RETURNING n, txid_current(), txid_status(\(asked)::int8)", (Int64, Int64, String?).self).first
                else {
                    throw StoreError.unavailable("PostgreSQL: the ledger clock row is missing")
                }
                try await self.catchUp(conn, to: seq - 1, known: asked.map { ($0, status) })
                let (value, changes) = try await body(conn, seq)
                attempt.store(seq, ordering: .sequentiallyConsistent)
                self.ledgerState.withLock { state in
                    for change in changes { state.ledger.apply(change) }
                    state.seen = seq
                    state.pending = (seq, xid)
                }
                return value
            }
            let seq = attempt.load(ordering: .sequentiallyConsistent)
            ledgerState.withLock { if $0.pending?.seq == seq { $0.pending = nil } }
            return value
        } catch {
            let seq = attempt.load(ordering: .sequentiallyConsistent)
            ledgerState.withLock { if $0.pending?.seq == seq, seq != 0 { $0.valid = false; $0.pending = nil } }
            throw error
        }
    }

    /// The ledger as it stands here (for tests).
    public func capacityLedger() -> CapacityLedger { ledgerState.withLock { $0.ledger } }

    // MARK: writing sessions

    /// Inserts sessions in one statement (arrays unnested), stamped with the ledger clock's number.
    static func insert(_ conn: PostgresConnection, _ sessions: [SessionRecord], seq: Int64, documents: [String]? = nil) async throws {
        guard !sessions.isEmpty else { return }
        var ids: [UUID] = [], sets: [UUID] = [], keys: [String] = [], phases: [String] = [], expires: [Double] = [], starts: [Double] = []
        var ends: [Double] = [], ranks: [Int] = [], docs: [String] = [], work: [Bool] = [], cores: [Int] = [], memory: [Int] = []
        var ended: [Double] = [], jobs: [Bool] = [], hasAccounts: [Bool] = [], accounts: [String] = [], hasShare: [Bool] = [], shares: [String] = []
        var hasOwner: [Bool] = [], owners: [String] = [], created: [Double] = []
        for (i, s) in sessions.enumerated() {
            ids.append(s.id); sets.append(s.offerSet); keys.append(s.facility.key); phases.append(s.phase.rawValue)
            expires.append(s.expires.timeIntervalSince1970); starts.append(s.start.timeIntervalSince1970); ends.append(s.end.timeIntervalSince1970)
            ranks.append(s.rank); docs.append(try documents?[i] ?? StoreCoding.encode(s)); work.append(ForwardingMachine.needsWork(s))
            cores.append(s.cores); memory.append(s.memory); ended.append(Retention.end(of: s)?.timeIntervalSince1970 ?? .nan)
            jobs.append(s.becameJob)
            hasAccounts.append(s.accounts != nil); accounts.append(s.accounts?.joined(separator: "\n") ?? "")
            hasShare.append(s.share != nil); shares.append(s.share ?? "")
            hasOwner.append(s.owner != nil); owners.append(s.owner ?? ""); created.append(s.created.timeIntervalSince1970)
        }
        try await conn.exec("""
            INSERT INTO session (id, offer_set_id, facility_key, phase, expires, start, "end", rank, document, needs_work, cores, memory,
                ended, job, accounts, share, owner, created, ledger_seq)
            SELECT id, set_id, key, phase, expires, start, "end", rank, doc, work, cores, memory, NULLIF(ended, 'NaN'::float8), job,
                CASE WHEN has_accounts THEN accounts END, CASE WHEN has_share THEN share END, CASE WHEN has_owner THEN owner END, created, \(seq)
            FROM unnest(\(ids)::uuid[], \(sets)::uuid[], \(keys)::text[], \(phases)::text[], \(expires)::float8[], \(starts)::float8[],
                \(ends)::float8[], \(ranks)::int8[], \(docs)::text[], \(work)::bool[], \(cores)::int8[], \(memory)::int8[], \(ended)::float8[],
                \(jobs)::bool[], \(hasAccounts)::bool[], \(accounts)::text[], \(hasShare)::bool[], \(shares)::text[], \(hasOwner)::bool[],
                \(owners)::text[], \(created)::float8[])
                AS t(id, set_id, key, phase, expires, start, "end", rank, doc, work, cores, memory, ended, job, has_accounts, accounts, has_share, share,
                    has_owner, owner, created)
            """)
    }

    /// Writes a changed session, with its usage when it started or ended (`UsageAccounting`).
    static func update(_ conn: PostgresConnection, _ s: inout SessionRecord, seq: Int64) async throws {
        if UsageAccounting.stamp(&s) { try await writeUsage(conn, s) }
        try await conn.exec("""
            UPDATE session SET phase = \(s.phase.rawValue), document = \(try StoreCoding.encode(s)), needs_work = \(ForwardingMachine.needsWork(s)),
                ended = \(Retention.end(of: s)?.timeIntervalSince1970), job = \(s.becameJob), ledger_seq = \(seq)
            WHERE id = \(s.id)
            """)
    }

    static func writeUsage(_ conn: PostgresConnection, _ s: SessionRecord) async throws {
        guard let started = s.started, let accounts = s.accounts, !accounts.isEmpty else { return }
        try await conn.exec("""
            INSERT INTO usage (session_id, account, cores, started, finished)
            SELECT \(s.id), account, \(s.cores), \(started.timeIntervalSince1970), \(s.finished?.timeIntervalSince1970) FROM unnest(\(accounts)::text[]) AS a(account)
            ON CONFLICT (session_id, account) DO UPDATE SET cores = excluded.cores, started = excluded.started, finished = excluded.finished
            """)
    }

    static func sessions(_ conn: PostgresConnection, offerSet id: UUID, lock: Bool = false) async throws -> [SessionRecord] {
        try await conn.all(
            lock ? "SELECT document FROM session WHERE offer_set_id = \(id) ORDER BY rank FOR UPDATE"
                 : "SELECT document FROM session WHERE offer_set_id = \(id) ORDER BY rank", String.self)
            .map { try StoreCoding.decode(SessionRecord.self, $0) }
    }

    // MARK: offer sets

    public func createOfferSet(
        idempotencyKey: String?, requestDigest: String?, facilities: [FacilityID], now: Date, stored: Set<UUID>, accounts: [String],
        plan: @escaping @Sendable (FacilityCalendars) throws -> (OfferSetRecord, [SessionRecord])
    ) async throws -> OfferSetCreation {
        do {
            return try await ledgerTransaction { conn, seq in
                if let key = idempotencyKey,
                   let row = try await conn.rows("SELECT id, request_digest FROM offer_set WHERE idempotency_key = \(key)", (UUID, String?).self).first {
                    guard row.1 == requestDigest else { throw StoreError.conflict("Idempotency-Key '\(key)' was used with another request") }
                    // Offers stored for a set now known to be a replay go with their set.
                    if let any = stored.first,
                       let set = try await conn.one("SELECT offer_set_id FROM session WHERE id = \(any)", UUID.self), set != row.0 {
                        let gone = try await conn.all("DELETE FROM session WHERE offer_set_id = \(set) RETURNING id", UUID.self)
                        try await conn.exec("DELETE FROM offer_set WHERE id = \(set)")
                        return (.replayed(row.0), gone.map { .release($0) })
                    }
                    return (.replayed(row.0), [])
                }
                let calendars = self.ledgerState.withLock { $0.ledger.calendars(for: facilities, now: now, accounts: accounts) }
                var (set, offers) = try plan(calendars)
                (set.idempotencyKey, set.requestDigest) = (idempotencyKey, requestDigest)
                try await conn.exec("""
                    INSERT INTO offer_set (id, created, idempotency_key, request_digest, document, expires)
                    VALUES (\(set.id), \(set.created.timeIntervalSince1970), \(set.idempotencyKey), \(set.requestDigest), \(StoreCoding.write(set)),
                        \(set.expires.timeIntervalSince1970))
                    ON CONFLICT (id) DO UPDATE SET idempotency_key = excluded.idempotency_key, request_digest = excluded.request_digest,
                        document = excluded.document, expires = excluded.expires
                    """)
                let fresh = offers.filter { !stored.contains($0.id) }
                try await Self.insert(conn, fresh, seq: seq)
                return (.created(set, offers), fresh.compactMap { CapacityLedger.change(from: nil, to: $0) })
            }
        } catch where Self.isUniqueViolation(error) {
            // Two requests with one new idempotency key cannot both get here (the clock serialises them).
            if let idempotencyKey { throw StoreError.conflict("Idempotency-Key '\(idempotencyKey)' is being used by another request") }
            throw StoreError.unavailable("PostgreSQL: \(Self.describe(error))")
        }
    }

    public func offerSet(idempotencyKey key: String) async throws -> (id: UUID, digest: String?)? {
        try await run { conn in
            try await conn.rows("SELECT id, request_digest FROM offer_set WHERE idempotency_key = \(key)", (UUID, String?).self).first
                .map { (id: $0.0, digest: $0.1) }
        }
    }

    public func insertOffers(_ offers: [SessionRecord], of set: OfferSetRecord) async throws {
        let setDocument = StoreCoding.write(set)
        let documents = try offers.map { try StoreCoding.encode($0) }
        try await ledgerTransaction { conn, seq in
            try await conn.exec("""
                INSERT INTO offer_set (id, created, document, expires)
                VALUES (\(set.id), \(set.created.timeIntervalSince1970), \(setDocument), \(set.expires.timeIntervalSince1970))
                ON CONFLICT (id) DO NOTHING
                """)
            try await Self.insert(conn, offers, seq: seq, documents: documents)
            return ((), offers.compactMap { CapacityLedger.change(from: nil, to: $0) })
        }
    }

    public func offerSet(_ id: UUID) async throws -> (OfferSetRecord, [SessionRecord])? {
        try await transaction { conn in
            guard let doc = try await conn.one("SELECT document FROM offer_set WHERE id = \(id)", String.self) else { return nil }
            return (try StoreCoding.decode(OfferSetRecord.self, doc), try await Self.sessions(conn, offerSet: id))
        }
    }

    public func session(_ id: UUID) async throws -> SessionRecord? {
        try await run { conn in try await conn.one("SELECT document FROM session WHERE id = \(id)", String.self) }
            .map { try StoreCoding.decode(SessionRecord.self, $0) }
    }

    public func sessions(owner: String, phase: SessionPhase?, limit: Int) async throws -> [SessionRecord] {
        let limit = max(0, min(limit, Self.ownerSessionsCap))
        return try await run { conn -> [String] in
            // Read on the (owner, created) index; the phase, when given, filters along it.
            if let phase {
                return try await conn.all("""
                    SELECT document FROM session WHERE owner = \(owner) AND phase = \(phase.rawValue)
                    ORDER BY created DESC, offer_set_id, rank, id LIMIT \(limit)
                    """, String.self)
            }
            return try await conn.all(
                "SELECT document FROM session WHERE owner = \(owner) ORDER BY created DESC, offer_set_id, rank, id LIMIT \(limit)", String.self)
        }.map { try StoreCoding.decode(SessionRecord.self, $0) }
    }

    public func holdings(of facility: FacilityID, from: Date, to: Date, limit: Int) async throws -> [Holding] {
        let (a, b, n) = (from.timeIntervalSince1970, to.timeIntervalSince1970, max(0, limit))
        // On the partial index of live sessions (the booking phases); the columns of the booking, no document.
        return try await run { conn in
            try await conn.rows("""
                SELECT \(unescaped: Self.holdColumns) FROM session WHERE facility_key = \(facility.key) AND "end" > \(a) AND start < \(b)
                AND phase IN ('OFFERED', 'ACCEPTED', 'WAITING', 'PREPARING', 'AVAILABLE', 'RUNNING', 'RELEASING')
                AND (phase <> 'OFFERED' OR expires > \(a))
                ORDER BY start, id LIMIT \(n)
                """, HoldRow.self)
        }.compactMap { row in
            Self.hold(row).flatMap { hold in SessionPhase(rawValue: row.6).map { Holding(session: row.0, phase: $0, booking: hold.booking) } }
        }
    }

    public func changePhase(
        of id: UUID, to target: SessionPhase, now: Date, admit: (@Sendable (inout SessionRecord, LedgerTally) throws -> Void)?
    ) async throws -> SessionRecord {
        let (changed, before) = try await ledgerTransaction { conn, seq in
            guard let setID = try await conn.one("SELECT offer_set_id FROM session WHERE id = \(id)", UUID.self) else {
                throw StoreError.notFound("session \(id)")
            }
            // The whole set, locked: a sibling's acceptance, the expiry sweep and workers wait for this to commit.
            let siblings = try await Self.sessions(conn, offerSet: setID, lock: true)
            guard let stored = siblings.first(where: { $0.id == id }) else { throw StoreError.notFound("session \(id)") }
            var session = stored
            if target == .accepted, let admit {
                let held = self.ledgerState.withLock { $0.ledger.usage(of: session.accounts ?? [], now: now) }
                try admit(&session, held)
            }
            var changed = try SessionLifecycle.apply(target, to: session, siblings: siblings, now: now)
            let before = Dictionary(siblings.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            for i in changed.indices {
                try await Self.update(conn, &changed[i], seq: seq)
                // A session a job-list tracker watches (nothing in flight) is free for a worker at once.
                try await conn.exec("""
                    UPDATE session SET lease_owner = NULL, lease_until = NULL WHERE id = \(changed[i].id) AND lease_owner LIKE \("%" + ForwardingMachine.watcherSuffix)
                    """)
            }
            try await self.notify(conn, "c", changed.map { ChangeFeed.key(session: $0.id) })
            if changed.contains(where: ForwardingMachine.needsWork) { try await self.notify(conn, "w") }
            return ((changed, before), changed.compactMap { CapacityLedger.change(from: before[$0.id], to: $0) })
        }
        for s in changed { changes.changed(ChangeFeed.key(session: s.id)) }
        telemetry.telemetry.changed(before, changed)
        return changed[0]
    }

    public func expireOffers(now: Date) async throws -> Int {
        // In batches, in SQL, skipping rows a write holds (an acceptance under way: the next sweep gets them).
        // Expiry needs no ledger write: every ledger drops an offer at its expiry by itself.
        var total = 0
        while true {
            let changed = try await transaction { conn in
                let n = try await conn.exec("""
                    UPDATE session SET phase = 'EXPIRED', ended = \(now.timeIntervalSince1970),
                        document = jsonb_set(jsonb_set(document::jsonb, '{phase}', '"EXPIRED"'), '{modified}', to_jsonb(\(now.timeIntervalSince1970)::float8))::text
                    WHERE id IN (SELECT id FROM session WHERE phase = 'OFFERED' AND expires <= \(now.timeIntervalSince1970) LIMIT 500 FOR UPDATE SKIP LOCKED)
                    RETURNING 1
                    """)
                if n > 0 { try await self.notify(conn, "a") }
                return n
            }
            total += changed
            if changed > 0 { changes.changedAll() }
            telemetry.telemetry.changed(from: .offered, to: .expired, count: changed)
            if changed < 500 {
                ledgerState.withLock { $0.ledger.expire(now: now) }
                return total
            }
        }
    }

    // MARK: forwarding

    public func claimWork(worker: String, now: Date, until: Date, limit: Int) async throws -> [SessionRecord] {
        let rows = try await run { conn in
            try await conn.rows("""
                WITH picked AS (
                    SELECT id, lease_owner FROM session
                    WHERE needs_work AND (lease_until IS NULL OR lease_until <= \(now.timeIntervalSince1970))
                    ORDER BY lease_until NULLS FIRST LIMIT \(min(limit, 10_000))
                    FOR UPDATE SKIP LOCKED)
                UPDATE session s SET lease_owner = \(worker), lease_until = \(until.timeIntervalSince1970)
                FROM picked WHERE s.id = picked.id
                RETURNING s.document, picked.lease_owner
                """, (String, String?).self)
        }
        let claimed = try rows.map { try StoreCoding.decode(SessionRecord.self, $0.0) }
        if !claimed.isEmpty {
            // Last leased to another worker whose lease ran out: a replica, or this broker before a restart.
            let takenOver = rows.filter { ForwardingMachine.isTakeover(from: $0.1, by: worker) }.count
            telemetry.record(.forwardingClaimed(sessions: claimed.count, takenOver: takenOver))
        }
        return claimed
    }

    public func updateClaimed(
        _ id: UUID, worker: String, now: Date, change: @escaping @Sendable (inout SessionRecord) -> Void
    ) async throws -> SessionRecord? {
        defer { changes.changed(ChangeFeed.key(session: id)) }
        let written = try await ledgerTransaction { conn, seq -> ((old: SessionPhase, new: SessionRecord)?, [CapacityLedger.Change]) in
            guard let doc = try await conn.one(
                "SELECT document FROM session WHERE id = \(id) AND lease_owner = \(worker) FOR UPDATE", String.self)
            else { return (nil, []) }
            let old = try StoreCoding.decode(SessionRecord.self, doc)
            var s = ForwardingMachine.workerChange(old, change)
            s.modified = now
            try await Self.update(conn, &s, seq: seq)
            try await self.notify(conn, "c", [ChangeFeed.key(session: id)])
            return ((old.phase, s), CapacityLedger.change(from: old, to: s).map { [$0] } ?? [])
        }
        if let written { telemetry.telemetry.changed(from: written.old, to: written.new.phase) }
        return written?.new
    }

    public func release(_ id: UUID, worker: String, until: Date?) async throws {
        try await run { conn in
            try await conn.exec("""
                UPDATE session SET lease_owner = \(until == nil ? nil : ForwardingMachine.holdOff), lease_until = \(until?.timeIntervalSince1970)
                WHERE id = \(id) AND lease_owner = \(worker)
                """)
        }
    }

    public func watch(_ id: UUID, worker: String, watcher: String, until: Date) async throws {
        try await run { conn in
            try await conn.exec("""
                UPDATE session SET lease_owner = \(watcher), lease_until = \(until.timeIntervalSince1970) WHERE id = \(id) AND lease_owner = \(worker)
                """)
        }
    }

    public func renewWatch(_ ids: [UUID], watcher: String, until: Date) async throws {
        guard !ids.isEmpty else { return }
        try await run { conn in
            try await conn.exec("""
                UPDATE session SET lease_until = \(until.timeIntervalSince1970) WHERE lease_owner = \(watcher) AND id = ANY(\(ids)::uuid[])
                """)
        }
    }

    public func unwatch(_ ids: [UUID]?, watcher: String) async throws {
        try await run { conn in
            if let ids {
                try await conn.exec("""
                    UPDATE session SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = \(watcher) AND id = ANY(\(ids)::uuid[])
                    """)
            } else {
                try await conn.exec("UPDATE session SET lease_owner = NULL, lease_until = NULL WHERE needs_work AND lease_owner = \(watcher)")
            }
        }
    }

    // MARK: statistics

    public func statistics(now: Date) async throws -> StoreStatistics {
        try await run { conn in
            var out = StoreStatistics()
            for (phase, n) in try await conn.rows("SELECT phase, count(*) FROM session GROUP BY phase", (String, Int).self) {
                if let phase = SessionPhase(rawValue: phase) { out.sessions[phase] = n }
            }
            let t = now.timeIntervalSince1970
            out.queued = try await conn.one(
                "SELECT count(*) FROM session WHERE needs_work AND (lease_until IS NULL OR lease_until <= \(t))", Int.self) ?? 0
            out.leased = try await conn.one("SELECT count(*) FROM session WHERE needs_work AND lease_until > \(t)", Int.self) ?? 0
            for table in ["facility", "offer_set", "uws_job", "registry_source", "usage", "audit"] {
                out.rows[table] = try await conn.one(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)"), Int.self) ?? 0
            }
            out.rows["session"] = out.sessions.values.reduce(0, +)
            // The schema's tables with their indexes and TOAST.
            out.bytes = try await conn.one("""
                SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0)::int8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = \(self.schema) AND c.relkind = 'r'
                """, Int.self)
            return out
        }
    }
}

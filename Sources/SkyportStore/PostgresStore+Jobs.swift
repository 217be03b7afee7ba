import Foundation
import PostgresNIO
import SkyportCore
import Synchronization

/// UWS jobs, accounts (usage, quotas, audit), retention and cluster turns in PostgreSQL.
extension PostgresStore {
    // MARK: UWS jobs

    public func insertUWSJob(_ job: UWSJobRecord) async throws {
        let doc = try StoreCoding.encode(job)
        do {
            try await run { conn in
                try await conn.exec("""
                    INSERT INTO uws_job (id, owner, created, destruction, phase, session_id, document, offer_set_id)
                    VALUES (\(job.id), \(job.owner), \(job.created.timeIntervalSince1970), \(job.destruction?.timeIntervalSince1970),
                        \(job.phase.rawValue), \(job.session), \(doc), \(job.offerSet))
                    """)
            }
        } catch where Self.isUniqueViolation(error) {
            throw StoreError.duplicate("UWS job \(job.id)")
        }
    }

    public func uwsJob(_ id: String) async throws -> UWSJobRecord? {
        try await run { conn in try await conn.one("SELECT document FROM uws_job WHERE id = \(id)", String.self) }
            .map { try StoreCoding.decode(UWSJobRecord.self, $0) }
    }

    public func uwsJobs(_ query: UWSJobQuery) async throws -> [UWSJobListing] {
        var binds = PostgresBindings()
        binds.append(query.owner)
        binds.append(query.now.timeIntervalSince1970)
        var clauses = ["owner = $1", "(destruction IS NULL OR destruction > $2)"]
        if let after = query.after {
            binds.append(after.timeIntervalSince1970)
            clauses.append("created > $\(binds.count)")
        }
        if query.phases.isEmpty {
            clauses.append("uws_phase != 'ARCHIVED'")
        } else {
            binds.append(query.phases.map(\.rawValue).sorted())
            clauses.append("uws_phase = ANY($\(binds.count)::text[])")
        }
        var sql = """
            SELECT document, uws_phase FROM (
                SELECT j.id, j.owner, j.created, j.destruction, j.document, \(Self.uwsPhaseSQL) AS uws_phase
                FROM uws_job j LEFT JOIN session s ON s.id = j.session_id) AS listed
            WHERE \(clauses.joined(separator: " AND "))
            ORDER BY created DESC, id DESC
            """
        if let last = query.last {
            binds.append(max(0, last))
            sql += " LIMIT $\(binds.count)"
        }
        let q = PostgresQuery(unsafeSQL: sql, binds: binds)
        return try await run { conn in try await conn.rows(q, (String, String).self) }.map { row in
            UWSJobListing(job: try StoreCoding.decode(UWSJobRecord.self, row.0), phase: UWSPhase(rawValue: row.1) ?? .unknown)
        }
    }

    public func updateUWSJob(_ id: String, change: @Sendable (inout UWSJobRecord) throws -> Void) async throws -> UWSJobRecord {
        defer { changes.changed(ChangeFeed.key(uwsJob: id)) }
        return try await transaction { conn in
            guard let doc = try await conn.one("SELECT document FROM uws_job WHERE id = \(id) FOR UPDATE", String.self) else {
                throw StoreError.notFound("UWS job \(id)")
            }
            var job = try StoreCoding.decode(UWSJobRecord.self, doc)
            try change(&job)
            job.id = id
            try await conn.exec("""
                UPDATE uws_job SET owner = \(job.owner), destruction = \(job.destruction?.timeIntervalSince1970), phase = \(job.phase.rawValue),
                    session_id = \(job.session), document = \(try StoreCoding.encode(job)), offer_set_id = \(job.offerSet)
                WHERE id = \(id)
                """)
            try await self.notify(conn, "c", [ChangeFeed.key(uwsJob: id)])
            return job
        }
    }

    public func deleteUWSJob(_ id: String) async throws -> Bool {
        defer { changes.changed(ChangeFeed.key(uwsJob: id)) }
        return try await transaction { conn in
            let n = try await conn.exec("DELETE FROM uws_job WHERE id = \(id) RETURNING 1")
            if n > 0 { try await self.notify(conn, "c", [ChangeFeed.key(uwsJob: id)]) }
            return n > 0
        }
    }

    /// `UWSJobRecord.phase(session:)` as an SQL expression over `j` (the job) and `s` (its session, left-joined).
    static let uwsPhaseSQL: String = {
        let cases = SessionPhase.allCases
            .map { "WHEN '\($0.rawValue)' THEN '\(UWSJobRecord.uwsPhase(for: $0).rawValue)'" }
            .joined(separator: " ")
        return "CASE WHEN j.session_id IS NULL THEN j.phase ELSE (CASE s.phase \(cases) ELSE 'UNKNOWN' END) END"
    }()

    // MARK: accounts

    public func coreSeconds(accounts: [String], from: Date, now: Date) async throws -> [String: Double] {
        guard !accounts.isEmpty else { return [:] }
        let (t, f) = (now.timeIntervalSince1970, from.timeIntervalSince1970)
        // The same overlap as UsageAccounting.coreSeconds, summed in SQL.
        let rows = try await run { conn in
            try await conn.rows("""
                SELECT account, SUM(cores * (LEAST(COALESCE(finished, \(t)), \(t)) - GREATEST(started, \(f))))::float8 FROM usage
                WHERE account = ANY(\(accounts)::text[]) AND started < \(t) AND (finished IS NULL OR finished > \(f))
                GROUP BY account
                """, (String, Double?).self)
        }
        var out: [String: Double] = [:]
        for (account, used) in rows { if let used, used > 0 { out[account] = used } }
        return out
    }

    public func held(accounts: [String], now: Date) async throws -> LedgerTally {
        // Other replicas' writes since this one last booked are read first (numbers commit in order: every write up to
        // the clock's committed value is visible; a later one read too is read again next time).
        try await run { conn in
            let seen = try await conn.one("SELECT n FROM ledger_clock", Int64.self) ?? 0
            try await self.catchUp(conn, to: seen)
        }
        return ledgerState.withLock { $0.ledger.usage(of: accounts, now: now) }
    }

    public func quotaOverrides() async throws -> [QuotaOverride] {
        try await run { conn in
            try await conn.rows("SELECT account, document, modified, by FROM quota ORDER BY account", (String, String, Double, String).self)
        }.compactMap { row in
            guard case .success(let account) = Account.parse(row.0) else { return nil }
            return QuotaOverride(
                account: account, limits: try StoreCoding.decode(QuotaLimits.self, row.1), modified: Date(timeIntervalSince1970: row.2), by: row.3)
        }
    }

    public func setQuota(_ account: Account, _ limits: QuotaLimits?, by: String, now: Date) async throws -> Bool {
        let document = try limits.map { try StoreCoding.encode($0) }
        let name = account.description
        return try await transaction { conn in
            if let document {
                // xmax = 0 only in a row this statement inserted.
                let inserted = try await conn.one("""
                    INSERT INTO quota (account, document, modified, by) VALUES (\(name), \(document), \(now.timeIntervalSince1970), \(by))
                    ON CONFLICT (account) DO UPDATE SET document = excluded.document, modified = excluded.modified, by = excluded.by
                    RETURNING (xmax = 0)
                    """, Bool.self) ?? true
                return !inserted
            }
            return try await conn.exec("DELETE FROM quota WHERE account = \(name) RETURNING 1") > 0
        }
    }

    public func appendAudit(_ events: [AuditEvent]) async throws {
        guard !events.isEmpty else { return }
        let detailGiven = events.map { $0.detail != nil }
        try await run { conn in
            try await conn.exec("""
                INSERT INTO audit (time, actor, action, target, detail)
                SELECT time, actor, action, target, CASE WHEN given THEN detail END
                FROM unnest(\(events.map { $0.time.timeIntervalSince1970 })::float8[], \(events.map(\.actor))::text[],
                    \(events.map(\.action.rawValue))::text[], \(events.map(\.target))::text[], \(detailGiven)::bool[],
                    \(events.map { $0.detail ?? "" })::text[]) WITH ORDINALITY AS t(time, actor, action, target, given, detail, i)
                ORDER BY i
                """)
        }
    }

    public func audit(_ query: AuditQuery) async throws -> [AuditEvent] {
        var binds = PostgresBindings()
        var clauses: [String] = []
        if let a = query.actor { binds.append(a); clauses.append("actor = $\(binds.count)") }
        if let a = query.action { binds.append(a.rawValue); clauses.append("action = $\(binds.count)") }
        if let t = query.target { binds.append(t); clauses.append("target = $\(binds.count)") }
        if let s = query.since { binds.append(s.timeIntervalSince1970); clauses.append("time >= $\(binds.count)") }
        if let b = query.before { binds.append(b); clauses.append("seq < $\(binds.count)") }
        binds.append(query.limit)
        let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let q = PostgresQuery(
            unsafeSQL: "SELECT seq, time, actor, action, target, detail FROM audit \(filter) ORDER BY seq DESC LIMIT $\(binds.count)", binds: binds)
        return try await run { conn in try await conn.rows(q, (Int64, Double, String, String, String, String?).self) }.compactMap { row in
            guard let action = AuditAction(rawValue: row.3) else { return nil }
            return AuditEvent(seq: row.0, time: Date(timeIntervalSince1970: row.1), actor: row.2, action: action, target: row.4, detail: row.5)
        }
    }

    public func purgeAccounting(now: Date, policy: RetentionPolicy) async throws -> Int {
        let (usageBefore, auditBefore, batch) = (policy.usageCutoff(at: now), policy.auditCutoff(at: now), policy.batch)
        return try await transaction { conn in
            let usage = try await conn.exec("""
                DELETE FROM usage WHERE (session_id, account) IN (
                    SELECT session_id, account FROM usage WHERE finished < \(usageBefore.timeIntervalSince1970) LIMIT \(batch) FOR UPDATE SKIP LOCKED)
                RETURNING 1
                """)
            // Oldest first, found through `audit_time` (equal times sorted by seq among the few past the cutoff) rather
            // than by walking the table in seq order (SQLiteStore.purgeAuditSQL).
            let audit = try await conn.exec("""
                DELETE FROM audit WHERE seq IN (
                    SELECT seq FROM audit WHERE time < \(auditBefore.timeIntervalSince1970) ORDER BY time, seq LIMIT \(batch))
                RETURNING 1
                """)
            // Turns nobody has taken for a day belong to what is gone (a removed facility's health check, a removed
            // registry source's harvest): every live one is taken again within its period.
            let turns = try await conn.exec("DELETE FROM turn WHERE next < \(now.timeIntervalSince1970 - Self.turnRetention) RETURNING 1")
            return usage + audit + turns
        }
    }

    // MARK: retention

    public func purgeOfferSets(now: Date, policy: RetentionPolicy) async throws -> RetentionSweep {
        let t = now.timeIntervalSince1970
        let (offerCutoff, sessionCutoff) = (policy.offerCutoff(at: now).timeIntervalSince1970, policy.sessionCutoff(at: now).timeIntervalSince1970)
        let sweep = try await transaction { conn -> RetentionSweep in
            // `Retention.isDeletable` in SQL (as SQLite's), the sets locked so that no write changes them meanwhile.
            let ids = try await conn.all("""
                SELECT o.id FROM offer_set o
                WHERE o.expires <= \(offerCutoff)
                  AND NOT EXISTS (
                    SELECT 1 FROM session s WHERE s.offer_set_id = o.id AND NOT (
                      NOT s.needs_work AND s.ended IS NOT NULL
                      AND (s.lease_until IS NULL OR s.lease_until <= \(t))
                      AND (s.phase != 'OFFERED' OR s.expires <= \(t))
                      AND s.ended <= CASE WHEN s.job THEN \(sessionCutoff) ELSE \(offerCutoff) END))
                  AND NOT EXISTS (SELECT 1 FROM uws_job j WHERE j.offer_set_id = o.id)
                  AND NOT EXISTS (SELECT 1 FROM session s JOIN uws_job j ON j.session_id = s.id WHERE s.offer_set_id = o.id)
                ORDER BY o.expires, o.id
                LIMIT \(policy.batch)
                FOR UPDATE OF o SKIP LOCKED
                """, UUID.self)
            guard !ids.isEmpty else { return RetentionSweep(batches: 1) }
            let gone = try await conn.all("DELETE FROM session WHERE offer_set_id = ANY(\(ids)::uuid[]) RETURNING id", UUID.self)
            let sets = try await conn.exec("DELETE FROM offer_set WHERE id = ANY(\(ids)::uuid[]) RETURNING 1")
            try await self.notify(conn, "a")
            // Deletable sessions hold nothing by Retention's rules; released here all the same.
            self.ledgerState.withLock { state in for id in gone { state.ledger.release(id) } }
            return RetentionSweep(offerSets: sets, sessions: gone.count, batches: 1)
        }
        if !sweep.isEmpty { changes.changedAll() }
        return sweep
    }

    public func purgeUWSJobs(now: Date, policy: RetentionPolicy) async throws -> RetentionSweep {
        let ids = try await transaction { conn in
            let ids = try await conn.all("""
                DELETE FROM uws_job WHERE id IN (
                    SELECT id FROM uws_job WHERE destruction IS NOT NULL AND destruction <= \(policy.uwsCutoff(at: now).timeIntervalSince1970)
                    ORDER BY destruction, id LIMIT \(policy.batch) FOR UPDATE SKIP LOCKED)
                RETURNING id
                """, String.self)
            if !ids.isEmpty { try await self.notify(conn, "c", ids.map { ChangeFeed.key(uwsJob: $0) }) }
            return ids
        }
        for id in ids { changes.changed(ChangeFeed.key(uwsJob: id)) }
        return RetentionSweep(uwsJobs: ids.count, batches: 1)
    }

    // MARK: turns

    /// How long a turn nobody takes is kept (`purgeAccounting`).
    static let turnRetention: TimeInterval = 86_400

    /// Whether `owner` takes the turn of the periodic task `name` now: true for one caller among all replicas per
    /// `every` (the first to ask once the last turn's period is over).
    public func claimTurn(_ name: String, every: Duration, owner: String, now: Date) async throws -> Bool {
        let t = now.timeIntervalSince1970
        return try await run { conn in
            try await conn.exec("""
                INSERT INTO turn (name, next, owner) VALUES (\(name), \(t + every.seconds), \(owner))
                ON CONFLICT (name) DO UPDATE SET next = excluded.next, owner = excluded.owner WHERE turn.next <= \(t)
                RETURNING 1
                """) > 0
        }
    }
}

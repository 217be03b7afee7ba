import Foundation
import GRDB
import SkyportCore

/// Usage, quotas and the audit record in SQL.
extension SQLiteStore {
    /// Keeps a started session's use, one row per account it counts for (updated when it ends).
    static func writeUsage(_ db: Database, _ s: SessionRecord) throws {
        guard let started = s.started else { return }
        let statement = try db.cachedStatement(sql: """
            INSERT INTO usage (session_id, account, cores, started, finished) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(session_id, account) DO UPDATE SET cores = excluded.cores, started = excluded.started, finished = excluded.finished
            """)
        for account in s.accounts ?? [] {
            try statement.execute(arguments: [s.id.text, account, s.cores, started.timeIntervalSince1970, s.finished?.timeIntervalSince1970])
        }
    }

    public func coreSeconds(accounts: [String], from: Date, now: Date) async throws -> [String: Double] {
        guard !accounts.isEmpty else { return [:] }
        return try await writer.read { db in
            var out: [String: Double] = [:]
            var args: [String: (any DatabaseValueConvertible)?] = ["now": now.timeIntervalSince1970, "from": from.timeIntervalSince1970]
            for (i, a) in accounts.enumerated() { args["a\(i)"] = a }
            let marks = accounts.indices.map { ":a\($0)" }.joined(separator: ",")
            // The same overlap as UsageAccounting.coreSeconds, summed in SQL.
            let rows = try Row.fetchAll(db, sql: """
                SELECT account, SUM(cores * (MIN(COALESCE(finished, :now), :now) - MAX(started, :from))) AS used FROM usage
                WHERE account IN (\(marks)) AND started < :now AND (finished IS NULL OR finished > :from)
                GROUP BY account
                """, arguments: StatementArguments(args))
            for row in rows { if let used = row["used"] as Double?, used > 0 { out[row["account"]] = used } }
            return out
        }
    }

    public func held(accounts: [String], now: Date) async throws -> LedgerTally {
        ledger.withLock { $0.usage(of: accounts, now: now) }
    }

    public func quotaOverrides() async throws -> [QuotaOverride] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT account, document, modified, by FROM quota ORDER BY account").compactMap { row in
                guard case .success(let account) = Account.parse(row["account"]) else { return nil }
                return QuotaOverride(
                    account: account, limits: try StoreCoding.decode(QuotaLimits.self, row["document"]),
                    modified: Date(timeIntervalSince1970: row["modified"]), by: row["by"])
            }
        }
    }

    public func setQuota(_ account: Account, _ limits: QuotaLimits?, by: String, now: Date) async throws -> Bool {
        let document = try limits.map { try StoreCoding.encode($0) }
        return try await writer.write { db in
            let had = try Bool.fetchOne(db, sql: "SELECT 1 FROM quota WHERE account = ?", arguments: [account.description]) ?? false
            if let document {
                try db.execute(
                    sql: """
                        INSERT INTO quota (account, document, modified, by) VALUES (?, ?, ?, ?)
                        ON CONFLICT(account) DO UPDATE SET document = excluded.document, modified = excluded.modified, by = excluded.by
                        """,
                    arguments: [account.description, document, now.timeIntervalSince1970, by])
            } else {
                try db.execute(sql: "DELETE FROM quota WHERE account = ?", arguments: [account.description])
            }
            return had
        }
    }

    public func appendAudit(_ events: [AuditEvent]) async throws {
        guard !events.isEmpty else { return }
        try await writer.write { db in
            let statement = try db.cachedStatement(sql: "INSERT INTO audit (time, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)")
            for e in events {
                try statement.execute(arguments: [e.time.timeIntervalSince1970, e.actor, e.action.rawValue, e.target, e.detail])
            }
        }
    }

    public func audit(_ query: AuditQuery) async throws -> [AuditEvent] {
        var clauses: [String] = []
        var args: StatementArguments = []
        if let a = query.actor { clauses.append("actor = ?"); args += [a] }
        if let a = query.action { clauses.append("action = ?"); args += [a.rawValue] }
        if let t = query.target { clauses.append("target = ?"); args += [t] }
        if let s = query.since { clauses.append("time >= ?"); args += [s.timeIntervalSince1970] }
        if let b = query.before { clauses.append("seq < ?"); args += [b] }
        let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        args += [query.limit]
        let arguments = args
        return try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, time, actor, action, target, detail FROM audit \(filter) ORDER BY seq DESC LIMIT ?", arguments: arguments)
                .compactMap { row in
                    guard let action = AuditAction(rawValue: row["action"]) else { return nil }
                    return AuditEvent(
                        seq: row["seq"], time: Date(timeIntervalSince1970: row["time"]), actor: row["actor"], action: action,
                        target: row["target"], detail: row["detail"])
                }
        }
    }

    /// Usage rows finished before `?1`, at most `?2`.
    static let purgeUsageSQL = "DELETE FROM usage WHERE (session_id, account) IN (SELECT session_id, account FROM usage WHERE finished < ?1 LIMIT ?2)"
    /// Audit events older than `?1`, at most `?2`, oldest first. Ordered by `time, seq`, the order of the `audit_time`
    /// index (an index's rows end with the row id), so that only the events past the cutoff are read: ordered by `seq`
    /// alone, SQLite walked the whole table in `seq` order looking for them, inside the write, every pass (a broker
    /// that audits every offer request had 300,000 events after 5 minutes at 1,000/s, and every minute's pass held
    /// the writer for 40-130 ms while requests waited).
    static let purgeAuditSQL = "DELETE FROM audit WHERE seq IN (SELECT seq FROM audit WHERE time < ?1 ORDER BY time, seq LIMIT ?2)"

    public func purgeAccounting(now: Date, policy: RetentionPolicy) async throws -> Int {
        let (usageBefore, auditBefore, batch) = (policy.usageCutoff(at: now), policy.auditCutoff(at: now), policy.batch)
        return try await writer.write { db in
            try db.execute(sql: Self.purgeUsageSQL, arguments: [usageBefore.timeIntervalSince1970, batch])
            let usage = db.changesCount
            try db.execute(sql: Self.purgeAuditSQL, arguments: [auditBefore.timeIntervalSince1970, batch])
            return usage + db.changesCount
        }
    }
}

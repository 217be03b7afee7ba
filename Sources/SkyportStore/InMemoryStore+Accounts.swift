import Foundation
import SkyportCore

/// One session's use of cores, kept for the quotas' rolling windows.
struct UsageRow: Sendable {
    var accounts: [String]
    var cores: Int
    var started: Date
    var finished: Date?
}

extension InMemoryStore {
    public func coreSeconds(accounts: [String], from: Date, now: Date) async throws -> [String: Double] {
        let wanted = Set(accounts)
        var out: [String: Double] = [:]
        for row in usage.values {
            let used = UsageAccounting.coreSeconds(cores: row.cores, started: row.started, finished: row.finished, from: from, now: now)
            guard used > 0 else { continue }
            for a in row.accounts where wanted.contains(a) { out[a, default: 0] += used }
        }
        return out
    }

    public func quotaOverrides() async throws -> [QuotaOverride] { quotas.values.sorted { $0.account < $1.account } }

    public func setQuota(_ account: Account, _ limits: QuotaLimits?, by: String, now: Date) async throws -> Bool {
        let had = quotas[account] != nil
        quotas[account] = limits.map { QuotaOverride(account: account, limits: $0, modified: now, by: by) }
        return had
    }

    public func appendAudit(_ events: [AuditEvent]) async throws {
        for var e in events {
            e.seq = (auditEvents.last?.seq ?? purgedAuditSeq) + 1
            auditEvents.append(e)
        }
    }

    public func audit(_ query: AuditQuery) async throws -> [AuditEvent] {
        Array(auditEvents.reversed().lazy.filter(query.matches).prefix(query.limit))
    }

    public func purgeAccounting(now: Date, policy: RetentionPolicy) async throws -> Int {
        let (usageBefore, auditBefore, batch) = (policy.usageCutoff(at: now), policy.auditCutoff(at: now), policy.batch)
        // Counted in rows of one account each, as the SQLite store keeps them.
        var rows = 0
        for (id, row) in usage where row.finished.map({ $0 < usageBefore }) ?? false && rows < batch {
            usage[id] = nil
            rows += max(1, row.accounts.count)
        }
        let old = auditEvents.prefix { $0.time < auditBefore }.count
        let n = min(old, batch)
        if n > 0 { purgedAuditSeq = auditEvents[n - 1].seq ?? purgedAuditSeq }
        auditEvents.removeFirst(n)
        return rows + n
    }
}

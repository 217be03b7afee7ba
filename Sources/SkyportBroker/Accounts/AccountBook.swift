import Foundation
import Logging
import SkyportCore
import Synchronization

/// What the account use cases keep in memory, handed in once by the composition root: the quota file's table, the
/// merged table (file and admin API) as last read, and audit events not yet written.
public final class AccountBook: Sendable {
    /// The quota file's quotas (`SKYPORT_QUOTAS`); those set through the admin API override them.
    public let file: QuotaTable
    /// How long the merged table is used before the store is read again (changes made here are seen at once).
    let refresh: Duration
    private let merged = Mutex<(table: QuotaTable, read: ContinuousClock.Instant)?>(nil)
    private let pending = Mutex<[AuditEvent]>([])
    /// Core-seconds used by account and window, as last read (for at most `refresh`): what offers are held to. Usage
    /// moves slowly against windows of hours or days; reading it per request cost more than the rest of the quota
    /// check. Nothing can run up more than its cores × `refresh` unseen.
    private let used = Mutex<[String: (seconds: Double, read: Date)]>([:])
    /// Rung when audit events are waiting (the audit writer service writes them).
    public let auditWaiting = WorkSignal()

    public init(file: QuotaTable = QuotaTable(), refresh: Duration = .seconds(5)) {
        self.file = file
        self.refresh = refresh
    }

    func cached() -> QuotaTable? {
        merged.withLock { m in m.flatMap { ContinuousClock.now - $0.read < refresh ? $0.table : nil } }
    }

    func keep(_ table: QuotaTable) { merged.withLock { $0 = (table, .now) } }
    func forget() { merged.withLock { $0 = nil } }

    /// On the broker's clock (`now`), so that a test that moves it sees usage move too.
    func usedCached(_ key: String, now: Date) -> Double? {
        let ttl = Double(refresh.components.seconds)
        return used.withLock { u in u[key].flatMap { abs(now.timeIntervalSince($0.read)) < ttl ? $0.seconds : nil } }
    }

    func keepUsed(_ values: [String: Double], now: Date) {
        let ttl = Double(refresh.components.seconds)
        used.withLock { u in
            if u.count > 100_000 { u = u.filter { abs(now.timeIntervalSince($0.value.read)) < ttl } }
            for (k, v) in values { u[k] = (v, now) }
        }
    }

    func enqueue(_ event: AuditEvent) {
        pending.withLock { $0.append(event) }
        auditWaiting.ring()
    }

    /// Puts back events that could not be written, before any recorded since.
    func putBack(_ events: [AuditEvent]) { pending.withLock { $0.insert(contentsOf: events, at: 0) } }

    /// Takes the events waiting to be written.
    public func takeAudit() -> [AuditEvent] { pending.withLock { p in defer { p.removeAll() }; return p } }
}

/// Configured quotas and what accounts use: what offers and acceptances are held to, what `GET /usage` shows, and
/// the admin API that changes them.
public struct Quotas: Sendable {
    let broker: Broker

    /// Every quota: the file's, overridden by the admin API's.
    public func table() async throws -> QuotaTable {
        if let t = broker.accounts.cached() { return t }
        var limits = broker.accounts.file.limits
        for o in try await broker.store.quotaOverrides() { limits[o.account] = o.limits }
        let table = QuotaTable(limits)
        broker.accounts.keep(table)
        return table
    }

    /// What a requester's offers are held to: its accounts, the quotas that apply, and each account's core-hours in its
    /// window (read before the booking write; what is held now is read inside it, from the ledger).
    public func terms(for requester: Requester, now: Date) async throws -> QuotaTerms {
        guard case .identity(let who) = requester else { return QuotaTerms() }
        let table = try await table()
        // Every group is judged (a token may list many); the session keeps the identity and the groups with a quota.
        let applying = table.applying(to: [.user(who.owner)] + who.groups.map { .group($0) })
        let accounts = [Account.user(who.owner)] + applying.map(\.0).filter { $0.kind == .group }
        return QuotaTerms(accounts: accounts, quotas: applying, coreSeconds: try await coreSeconds(applying, now: now), groups: who.groups)
    }

    /// Core-seconds used inside each core-hours quota's window, by account (cached per `AccountBook.refresh`).
    func coreSeconds(_ applying: [(Account, QuotaLimits)], now: Date) async throws -> [String: Double] {
        var coreSeconds: [String: Double] = [:]
        let windows = Set(applying.filter { $0.1.coreHours != nil }.map { $0.1.effectiveWindow.seconds })
        for w in windows {
            var names: [String] = []
            for (a, l) in applying where l.coreHours != nil && l.effectiveWindow.seconds == w {
                if let hit = broker.accounts.usedCached("\(a)|\(w)", now: now) { coreSeconds[a.description] = hit } else { names.append(a.description) }
            }
            guard !names.isEmpty else { continue }
            let used = try await broker.store.coreSeconds(accounts: names, from: now.addingTimeInterval(-Double(w)), now: now)
            broker.accounts.keepUsed(Dictionary(uniqueKeysWithValues: names.map { ("\($0)|\(w)", used[$0] ?? 0) }), now: now)
            for n in names { coreSeconds[n] = used[n] ?? 0 }
        }
        return coreSeconds
    }

    /// What `who` uses and may use, by account (its own, and each of its groups that has a quota).
    public func usage(of who: Identity, now: Date) async throws -> [AccountReport] {
        let me = Account.user(who.owner)
        let applying = try await table().applying(to: [me] + who.groups.map { .group($0) })
        let shown = [me] + applying.map(\.0).filter { $0 != me }
        return try await reports(shown, quotas: Dictionary(applying, uniquingKeysWith: { a, _ in a }), now: now)
    }

    /// An admin's view of an account (`user:*` shows the default quota only).
    public func usage(of account: Account, now: Date) async throws -> AccountReport {
        let table = try await table()
        let quota = table.limits[account] ?? (account.kind == .user && account != .everyUser ? table.limits[.everyUser] : nil)
        return try await reports([account], quotas: quota.map { [account: $0] } ?? [:], now: now)[0]
    }

    private func reports(_ accounts: [Account], quotas: [Account: QuotaLimits], now: Date) async throws -> [AccountReport] {
        let names = accounts.map(\.description)
        let held = try await broker.store.held(accounts: names, now: now)
        var out: [AccountReport] = []
        for a in accounts {
            let quota = quotas[a]
            let window = quota?.effectiveWindow ?? QuotaLimits.defaultWindow
            let used = try await broker.store.coreSeconds(accounts: [a.description], from: now.addingTimeInterval(-Double(window.seconds)), now: now)
            var u = held.usage(a, now: now)
            u.coreSeconds = used[a.description] ?? 0
            out.append(AccountReport(account: a, quota: quota, usage: u, window: window))
        }
        return out
    }

    /// Every quota, with where it comes from.
    public func list() async throws -> [QuotaEntry] {
        let overrides = try await broker.store.quotaOverrides()
        var out = broker.accounts.file.limits.map { QuotaEntry(account: $0.key, limits: $0.value, source: "file", modified: nil, by: nil) }
        out.removeAll { e in overrides.contains { $0.account == e.account } }
        out += overrides.map { QuotaEntry(account: $0.account, limits: $0.limits, source: "api", modified: $0.modified, by: $0.by) }
        return out.sorted { $0.account < $1.account }
    }

    /// Sets an account's quota from an admin's document (checked: every bad field named). Returns whether it
    /// replaced one set before through the API.
    public func set(_ account: Account, _ document: JSONValue, by actor: String, logger: Logger) async throws -> (QuotaLimits, Bool) {
        let limits: QuotaLimits
        switch QuotaLimits.parse(document) {
        case .success(let l): limits = l
        case .failure(let f): throw f
        }
        let had = try await broker.store.setQuota(account, limits, by: actor, now: broker.now())
        broker.accounts.forget()
        let text = String(decoding: try CanonicalJSON.encoder().encode(limits), as: UTF8.self)
        broker.audit.record(.quotaSet, target: "quota:\(account)", by: actor, detail: text, logger: logger)
        return (limits, had)
    }

    /// Removes an account's quota set through the API (the file's, if any, applies again); false when it had none.
    public func remove(_ account: Account, by actor: String, logger: Logger) async throws -> Bool {
        let had = try await broker.store.setQuota(account, nil, by: actor, now: broker.now())
        broker.accounts.forget()
        if had { broker.audit.record(.quotaDelete, target: "quota:\(account)", by: actor, logger: logger) }
        return had
    }
}

/// What a requester's offers are held to, read before the booking write.
public struct QuotaTerms: Sendable {
    /// The requester's accounts (`Account.description`), stored on its sessions.
    public var accounts: [String] = []
    public var quotas: [(Account, QuotaLimits)] = []
    public var coreSeconds: [String: Double] = [:]
    public var groups: [String] = []

    init() {}

    init(accounts: [Account], quotas: [(Account, QuotaLimits)], coreSeconds: [String: Double], groups: [String]) {
        self.accounts = accounts.map(\.description)
        self.quotas = quotas
        self.coreSeconds = coreSeconds
        self.groups = groups
    }

    /// The allowance given what the accounts hold now (the ledger's tally, inside the booking write).
    public func allowance(held: LedgerTally, now: Date) -> Allowance {
        guard !quotas.isEmpty else { return Allowance(groups: groups) }
        var usage: [Account: AccountUsage] = [:]
        for (a, _) in quotas {
            var u = held.usage(a, now: now)
            u.coreSeconds = coreSeconds[a.description] ?? 0
            usage[a] = u
        }
        return Allowance(quotas: quotas, usage: usage, groups: groups)
    }

    /// Refuses accepting `session` when an account's sessions are at their limit, or its core-hours (used, booked
    /// ahead, and this session's booking) would pass theirs.
    public func admit(_ session: SessionRecord, held: LedgerTally, now: Date) throws {
        for (a, l) in quotas {
            let u = held.usage(a, now: now)
            if let max = l.sessions, u.sessions >= max {
                throw QuotaBreach(account: a, limit: .sessions, allowed: Double(max), used: Double(u.sessions))
            }
            if let hours = l.coreHours {
                let committed = (coreSeconds[a.description] ?? 0) + u.bookedCoreSeconds
                let own = Double(session.cores) * session.end.timeIntervalSince(max(session.start, now))
                if committed + own > hours * 3600 {
                    throw QuotaBreach(account: a, limit: .coreHours, allowed: hours, used: committed / 3600, needs: own / 3600)
                }
            }
        }
    }
}

/// One account's quota and usage, as `GET /usage` shows it.
public struct AccountReport: Sendable, Hashable, Encodable {
    public var account: Account
    public var quota: QuotaLimits?
    public var usage: AccountUsage
    public var window: ISODuration

    enum CodingKeys: String, CodingKey { case account, quota, usage }
    enum UsageKeys: String, CodingKey { case offeredCores, sessions, coreHours, bookedCoreHours, window }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(account.description, forKey: .account)
        try c.encodeIfPresent(quota, forKey: .quota)
        var u = c.nestedContainer(keyedBy: UsageKeys.self, forKey: .usage)
        try u.encode(usage.offeredCores, forKey: .offeredCores)
        try u.encode(usage.sessions, forKey: .sessions)
        try u.encode((usage.coreHours * 1000).rounded() / 1000, forKey: .coreHours)
        try u.encode((usage.bookedCoreSeconds / 3.6).rounded() / 1000, forKey: .bookedCoreHours)
        try u.encode(window.description, forKey: .window)
    }
}

/// A quota as the admin API lists it.
public struct QuotaEntry: Sendable, Hashable, Encodable {
    public var account: Account
    public var limits: QuotaLimits
    /// `file` or `api`.
    public var source: String
    public var modified: Date?
    public var by: String?

    public init(account: Account, limits: QuotaLimits, source: String, modified: Date?, by: String?) {
        (self.account, self.limits, self.source, self.modified, self.by) = (account, limits, source, modified, by)
    }

    enum CodingKeys: String, CodingKey { case account, limits, source, modified, by }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(account.description, forKey: .account)
        try c.encode(limits, forKey: .limits)
        try c.encode(source, forKey: .source)
        try c.encodeIfPresent(modified.map(Timestamp.format), forKey: .modified)
        try c.encodeIfPresent(by, forKey: .by)
    }
}

/// Who did what: one structured log event each, and the record admins query (written by the audit writer service,
/// a batch at a time, so that asking for offers costs no extra write of its own).
public struct AuditTrail: Sendable {
    let broker: Broker

    public func record(_ action: AuditAction, target: String, by actor: String, detail: String? = nil, logger: Logger) {
        let event = AuditEvent(time: broker.now(), actor: actor, action: action, target: target, detail: detail)
        var metadata: Logger.Metadata = ["audit": .string(action.rawValue), "actor": .string(actor), "target": .string(target)]
        if let detail = event.detail { metadata["detail"] = .string(detail) }
        logger.notice("audit", metadata: metadata)
        broker.accounts.enqueue(event)
    }

    /// Writes what is waiting; returns how many.
    @discardableResult
    public func flush() async throws -> Int {
        let events = broker.accounts.takeAudit()
        guard !events.isEmpty else { return 0 }
        do {
            try await broker.store.appendAudit(events)
        } catch {
            broker.accounts.putBack(events)
            throw error
        }
        return events.count
    }

    /// The record, newest first (what is waiting is written first, so that it is complete).
    public func events(_ query: AuditQuery) async throws -> [AuditEvent] {
        try await flush()
        return try await broker.store.audit(query)
    }
}

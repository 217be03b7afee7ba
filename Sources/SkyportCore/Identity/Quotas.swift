import Foundation

/// Who a quota and usage are counted for: one signed-in identity, or everyone in a group.
/// Written `user:issuer#subject` and `group:/skao/users`; `user:*` is the quota of every identity that has none of
/// its own.
public struct Account: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable { case user, group }
    public var kind: Kind
    /// `Identity.owner` for a user (`*` for every user), the group's name for a group.
    public var name: String

    public init(_ kind: Kind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    public static func user(_ owner: String) -> Account { Account(.user, owner) }
    public static func group(_ name: String) -> Account { Account(.group, name) }
    /// The quota of every identity without one of its own.
    public static let everyUser = Account(.user, "*")

    public var description: String { kind.rawValue + ":" + name }

    /// Reads `user:…` / `group:…`, or says why it is not an account.
    public static func parse(_ text: String) -> Result<Account, FieldError> {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let kind = Kind(rawValue: parts[0]) else {
            return .failure(FieldError("account", "'\(text)' is not an account: write user:issuer#subject, user:* or group:name"))
        }
        let name = parts[1]
        if name.isEmpty || name.unicodeScalars.count > 512 || name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return .failure(FieldError("account", "the name after '\(kind.rawValue):' must be 1 to 512 characters without control characters"))
        }
        if kind == .user, name != "*", !name.contains("#") {
            return .failure(FieldError("account", "'\(name)' is not a user: name one as its token's issuer and subject, 'issuer#subject'"))
        }
        return .success(Account(kind, name))
    }

    public static func < (a: Account, b: Account) -> Bool { a.description < b.description }

}

/// One account's limits; a limit left out does not apply.
public struct QuotaLimits: Sendable, Hashable, Codable {
    /// Most cores held at once by the account's outstanding offers (every offer books its capacity until it is
    /// accepted or expires: this stops capacity squatting).
    public var offeredCores: Int?
    /// Most sessions accepted and not ended at once (counted, as capacity is, until their booked end).
    public var sessions: Int?
    /// Most core-hours used in the rolling `window` (counted from sessions' real start and end).
    public var coreHours: Double?
    /// The rolling window of `coreHours` (default 30 days).
    public var window: ISODuration?

    public init(offeredCores: Int? = nil, sessions: Int? = nil, coreHours: Double? = nil, window: ISODuration? = nil) {
        self.offeredCores = offeredCores
        self.sessions = sessions
        self.coreHours = coreHours
        self.window = window
    }

    public static let defaultWindow = ISODuration(seconds: 30 * 86_400)
    /// The longest window a quota may have (usage older than the longest configured window is not kept).
    public static let maxWindow = ISODuration(seconds: 366 * 86_400)

    public var effectiveWindow: ISODuration { window ?? Self.defaultWindow }

    /// Reads and checks a quota document (`{"offeredCores": 16, "sessions": 2, "coreHours": 500, "window": "P30D"}`),
    /// naming every bad field under `prefix`.
    public static func parse(_ value: JSONValue, prefix: String = "") -> Result<QuotaLimits, ValidationFailure> {
        var errors = FieldErrors()
        let p = prefix.isEmpty ? "" : prefix + "."
        guard let o = value.objectValue else {
            return .failure(ValidationFailure([FieldError(prefix.isEmpty ? "body" : prefix, "must be an object")]))
        }
        for key in o.keys.sorted() where !["offeredCores", "sessions", "coreHours", "window"].contains(key) {
            errors.add(p + key, "unknown field")
        }
        var limits = QuotaLimits()
        func count(_ key: String) -> Int? {
            guard let v = o[key], v != .null else { return nil }
            guard let n = v.intValue, n >= 0, n <= 10_000_000 else {
                errors.add(p + key, "must be a whole number from 0 to 10000000"); return nil
            }
            return n
        }
        limits.offeredCores = count("offeredCores")
        limits.sessions = count("sessions")
        if let v = o["coreHours"], v != .null {
            if let h = v.doubleValue, h.isFinite, h >= 0, h <= 1e12 { limits.coreHours = h } else {
                errors.add(p + "coreHours", "must be a number from 0 to 1e12")
            }
        }
        if let v = o["window"], v != .null {
            if let text = v.stringValue, let seconds = SpecPattern.duration(text, clampedTo: SpecPattern.secondToLeapYear) {
                limits.window = ISODuration(seconds: Int(seconds.rounded()))
            } else {
                errors.add(p + "window", "must be an ISO 8601 duration longer than zero (read as at least PT1S and at most P366D)")
            }
        }
        if limits.window != nil, limits.coreHours == nil { errors.add(p + "window", "is the window of coreHours, which is not given") }
        if ["offeredCores", "sessions", "coreHours"].allSatisfy({ o[$0] == nil || o[$0] == .null }) {
            errors.add(prefix.isEmpty ? "body" : prefix, "names no limit: give offeredCores, sessions or coreHours")
        }
        return errors.isEmpty ? .success(limits) : .failure(ValidationFailure(errors.all))
    }
}

/// Every configured quota, by account: those of the quota file, overridden by those set through the admin API.
public struct QuotaTable: Sendable, Hashable {
    public var limits: [Account: QuotaLimits]

    public init(_ limits: [Account: QuotaLimits] = [:]) { self.limits = limits }

    public var isEmpty: Bool { limits.isEmpty }

    /// The quotas that apply to what `who` does: its own (or, without one, `user:*`'s), and its groups'.
    public func applying(to accounts: [Account]) -> [(Account, QuotaLimits)] {
        var out: [(Account, QuotaLimits)] = []
        for a in accounts {
            if let l = limits[a] { out.append((a, l)) } else if a.kind == .user, let l = limits[.everyUser] { out.append((a, l)) }
        }
        return out
    }

    /// The longest core-hours window configured (how far back usage is read).
    public var longestWindow: ISODuration? {
        limits.values.filter { $0.coreHours != nil }.map(\.effectiveWindow).max { $0.seconds < $1.seconds }
    }

    /// Reads a quota file: `{"quotas": [{"account": "group:/skao", "offeredCores": 64, ...}, ...]}`, naming every
    /// bad entry (`quotas[2].sessions`) and every account given twice.
    public static func parse(_ value: JSONValue) -> Result<QuotaTable, ValidationFailure> {
        var errors: [FieldError] = []
        guard let root = value.objectValue else { return .failure(ValidationFailure([FieldError("body", "must be an object with a 'quotas' list")])) }
        for key in root.keys.sorted() where key != "quotas" { errors.append(FieldError(key, "unknown field")) }
        guard let list = root["quotas"]?.arrayValue else {
            return .failure(ValidationFailure(errors + [FieldError("quotas", "must be a list of quotas")]))
        }
        var table: [Account: QuotaLimits] = [:]
        for (i, item) in list.enumerated() {
            let field = "quotas[\(i)]"
            guard var o = item.objectValue else { errors.append(FieldError(field, "must be an object")); continue }
            let named = o.removeValue(forKey: "account")
            guard let text = named?.stringValue else { errors.append(FieldError(field + ".account", "is required: user:issuer#subject, user:* or group:name")); continue }
            switch Account.parse(text) {
            case .failure(let e): errors.append(FieldError(field + ".account", e.message))
            case .success(let account):
                switch QuotaLimits.parse(.object(o), prefix: field) {
                case .failure(let f): errors += f.errors
                case .success(let l):
                    if table[account] != nil { errors.append(FieldError(field + ".account", "\(account) is given twice")) }
                    table[account] = l
                }
            }
        }
        return errors.isEmpty ? .success(QuotaTable(table)) : .failure(ValidationFailure(errors))
    }
}

/// What an account holds and has used, as its quotas count it.
public struct AccountUsage: Sendable, Hashable {
    /// Cores held by its outstanding offers.
    public var offeredCores = 0
    /// Sessions accepted and not ended.
    public var sessions = 0
    /// Core-seconds used inside the quota's window.
    public var coreSeconds = 0.0
    /// Core-seconds its accepted sessions are still booked for: a core-hours quota counts them as spent, so that
    /// accepting many sessions before any runs cannot pass it.
    public var bookedCoreSeconds = 0.0

    public init(offeredCores: Int = 0, sessions: Int = 0, coreSeconds: Double = 0, bookedCoreSeconds: Double = 0) {
        self.offeredCores = offeredCores
        self.sessions = sessions
        self.coreSeconds = coreSeconds
        self.bookedCoreSeconds = bookedCoreSeconds
    }

    public var coreHours: Double { coreSeconds / 3600 }
    /// What a core-hours quota counts: used, and booked ahead.
    public var committedCoreSeconds: Double { coreSeconds + bookedCoreSeconds }
}

/// A quota that stops an offer or an acceptance, with its limit and the usage.
public struct QuotaBreach: Sendable, Hashable, Error, CustomStringConvertible {
    public enum Limit: String, Sendable, Hashable { case offeredCores, sessions, coreHours }
    public var account: Account
    public var limit: Limit
    public var allowed: Double
    public var used: Double
    /// What the request needs at least (cores, core-hours), when it is what does not fit.
    public var needs: Double?

    public init(account: Account, limit: Limit, allowed: Double, used: Double, needs: Double? = nil) {
        self.account = account
        self.limit = limit
        self.allowed = allowed
        self.used = used
        self.needs = needs
    }

    public var description: String {
        func n(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(format: "%.2f", x) }
        let whose = account.kind == .user ? "your" : "group \(account.name)'s"
        let what: String
        switch limit {
        case .offeredCores: what = "quota of cores held by outstanding offers: limit \(n(allowed)), held \(n(used))"
        case .sessions: what = "quota of concurrent sessions: limit \(n(allowed)), running \(n(used))"
        case .coreHours: what = "quota of core-hours: limit \(n(allowed)), used or booked \(n(used))"
        }
        let need = needs.map { ", this request needs at least \(n($0))" } ?? ""
        return "quota-exceeded: \(whose) \(what)\(need)"
    }
}

/// What one requester may still take, from its accounts' quotas and usage: what the planner caps offers by.
public struct Allowance: Sendable, Hashable {
    /// Cores its offers may still hold (`Int.max`: no limit), and the quota that says so.
    public var offeredCores = Int.max
    var offeredCoresQuota: (Account, Int, Int)?
    /// Core-seconds one session may still use (`.infinity`: no limit).
    public var coreSeconds = Double.infinity
    var coreHoursQuota: (Account, Double, Double)?
    /// A quota that allows no offer at all (concurrent sessions at their limit, core-hours spent).
    public var blocked: QuotaBreach?
    /// The requester's groups, in its token's order (which facility share it is charged to).
    public var groups: [String] = []

    public init(groups: [String] = []) { self.groups = groups }

    /// No quota.
    public static let unlimited = Allowance()

    /// The allowance from the quotas that apply and each account's usage.
    public init(quotas: [(Account, QuotaLimits)], usage: [Account: AccountUsage], groups: [String]) {
        self.groups = groups
        for (account, l) in quotas {
            let u = usage[account] ?? AccountUsage()
            if let max = l.sessions, u.sessions >= max, blocked == nil {
                blocked = QuotaBreach(account: account, limit: .sessions, allowed: Double(max), used: Double(u.sessions))
            }
            if let max = l.offeredCores {
                let left = Swift.max(0, max - u.offeredCores)
                if left < offeredCores { offeredCores = left; offeredCoresQuota = (account, max, u.offeredCores) }
            }
            if let hours = l.coreHours {
                let committed = u.committedCoreSeconds / 3600
                let left = Swift.max(0, hours * 3600 - u.committedCoreSeconds)
                if left <= 0, blocked == nil {
                    blocked = QuotaBreach(account: account, limit: .coreHours, allowed: hours, used: committed)
                }
                if left < coreSeconds { coreSeconds = left; coreHoursQuota = (account, hours, committed) }
            }
        }
    }

    /// The most cores a session of `seconds` may have, or the quota that allows fewer than `lower`.
    public func cap(lower: Int, seconds: Int) -> Result<Int, QuotaBreach> {
        if lower > offeredCores, let (a, max, held) = offeredCoresQuota {
            return .failure(QuotaBreach(account: a, limit: .offeredCores, allowed: Double(max), used: Double(held), needs: Double(lower)))
        }
        var cap = offeredCores
        if coreSeconds.isFinite, seconds > 0 {
            let byHours = Int((coreSeconds / Double(seconds)).rounded(.down))
            if lower > byHours, let (a, hours, used) = coreHoursQuota {
                return .failure(QuotaBreach(account: a, limit: .coreHours, allowed: hours, used: used, needs: Double(lower * seconds) / 3600))
            }
            cap = min(cap, byHours)
        }
        return .success(cap)
    }

    /// Cores booked by an offer just planned.
    public mutating func spend(cores: Int) {
        if offeredCores != .max { offeredCores = max(0, offeredCores - cores) }
        if let (a, max, held) = offeredCoresQuota { offeredCoresQuota = (a, max, held + cores) }
    }

    public static func == (a: Allowance, b: Allowance) -> Bool {
        a.offeredCores == b.offeredCores && a.coreSeconds == b.coreSeconds && a.blocked == b.blocked && a.groups == b.groups
    }

    public func hash(into h: inout Hasher) {
        h.combine(offeredCores)
        h.combine(groups)
    }
}

import Foundation
import Testing
@testable import SkyportCore

/// Quotas, group shares and usage as pure rules: what is read from a quota file, what a requester may still take,
/// what a share leaves, and how the planner keeps to both.
@Suite struct QuotaRulesTests {
    typealias F = MatchFixtures
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func aQuotaFileNamesEveryBadEntry() throws {
        let good = try JSONValue.parse(#"{"quotas": [{"account": "user:*", "offeredCores": 16, "sessions": 2}, {"account": "group:/skao", "coreHours": 500, "window": "P7D"}]}"#)
        let table = try QuotaTable.parse(good).get()
        #expect(table.limits[.everyUser] == QuotaLimits(offeredCores: 16, sessions: 2))
        #expect(table.limits[.group("/skao")]?.effectiveWindow.seconds == 7 * 86_400)
        #expect(table.longestWindow?.seconds == 7 * 86_400)
        let bad = try JSONValue.parse(#"""
            {"quotas": [{"account": "alice"}, {"account": "user:alice", "sessions": 1}, {"account": "group:/a", "sessions": 1.5, "window": "P900D", "coreHours": -1},
                        {"account": "group:/b"}, {"account": "group:/c", "sessions": 1}, {"account": "group:/c", "sessions": 2}, {"offeredCores": 1}], "extra": 1}
            """#)
        guard case .failure(let failure) = QuotaTable.parse(bad) else { Issue.record("accepted"); return }
        #expect(Set(failure.errors.map(\.field)) == [
            "extra", "quotas[0].account", "quotas[1].account", "quotas[2].sessions", "quotas[2].window", "quotas[2].coreHours", "quotas[3]",
            "quotas[5].account", "quotas[6].account",
        ], "\(failure.errors)")
    }

    @Test func theDefaultUserQuotaAppliesOnlyToThoseWithoutTheirOwn() {
        let table = QuotaTable([.everyUser: QuotaLimits(sessions: 1), .user("i#a"): QuotaLimits(sessions: 5), .group("/g"): QuotaLimits(offeredCores: 4)])
        #expect(table.applying(to: [.user("i#a"), .group("/g")]).map(\.1) == [QuotaLimits(sessions: 5), QuotaLimits(offeredCores: 4)])
        #expect(table.applying(to: [.user("i#b"), .group("/h")]).map(\.0) == [.user("i#b")])
    }

    @Test func theTightestQuotaCapsAnOffer() {
        let quotas: [(Account, QuotaLimits)] = [
            (.user("i#a"), QuotaLimits(offeredCores: 16, coreHours: 10)), (.group("/g"), QuotaLimits(offeredCores: 12)),
        ]
        let usage: [Account: AccountUsage] = [.user("i#a"): AccountUsage(offeredCores: 2, coreSeconds: 6 * 3600), .group("/g"): AccountUsage(offeredCores: 8)]
        var allowance = Allowance(quotas: quotas, usage: usage, groups: ["/g"])
        #expect(allowance.blocked == nil)
        // The group leaves 4 cores; 4 core-hours leave 4 cores for one hour, 2 for two.
        #expect(allowance.cap(lower: 1, seconds: 3600) == .success(4))
        #expect(allowance.cap(lower: 1, seconds: 7200) == .success(2))
        guard case .failure(let hours) = allowance.cap(lower: 3, seconds: 7200) else { Issue.record("allowed"); return }
        #expect(hours.limit == .coreHours && hours.description.contains("your quota of core-hours: limit 10, used or booked 6, this request needs at least 6"))
        allowance.spend(cores: 4)
        guard case .failure(let cores) = allowance.cap(lower: 1, seconds: 60) else { Issue.record("allowed"); return }
        #expect(cores.description == "quota-exceeded: group /g's quota of cores held by outstanding offers: limit 12, held 12, this request needs at least 1")
        // Core-hours booked ahead by accepted sessions count as spent.
        let booked = Allowance(
            quotas: [(.user("i#a"), QuotaLimits(coreHours: 10))], usage: [.user("i#a"): AccountUsage(coreSeconds: 3600, bookedCoreSeconds: 8 * 3600)], groups: [])
        #expect(booked.cap(lower: 1, seconds: 3600) == .success(1))
        // Sessions at their limit, or core-hours spent, block every offer.
        let full = Allowance(quotas: [(.user("i#a"), QuotaLimits(sessions: 2))], usage: [.user("i#a"): AccountUsage(sessions: 2)], groups: [])
        #expect(full.blocked?.limit == .sessions)
        let spent = Allowance(quotas: [(.user("i#a"), QuotaLimits(coreHours: 1))], usage: [.user("i#a"): AccountUsage(coreSeconds: 3600)], groups: [])
        #expect(spent.blocked?.limit == .coreHours)
    }

    static let shares = [FacilityShare(group: "/ska", fraction: 0.6), FacilityShare(group: "/esc", fraction: 0.4)]
    static func room(_ share: String?, held: [String: Int], total: Int? = nil, lower: Int = 1) -> Result<Int, ShareRule.Breach> {
        ShareRule.room(facility: FacilityID("f"), capacity: 10, shares: shares, share: share, held: held, total: total ?? held.values.reduce(0, +), lower: lower)
    }

    @Test func aShareUnusedByItsGroupIsLentAndOneInUseIsKept() {
        // ESCAPE holds nothing: SKAO may borrow all of it.
        #expect(Self.room("/ska", held: [:]) == .success(10))
        #expect(Self.room("/ska", held: ["/ska": 6]) == .success(4))
        // ESCAPE holds 1: the rest of its 4 is kept for it.
        #expect(Self.room("/ska", held: ["/ska": 6, "/esc": 1], lower: 1) == .failure(ShareRule.Breach(facility: FacilityID("f"), share: "/ska", allowed: 6, used: 6, needs: 1)))
        #expect(Self.room("/ska", held: ["/ska": 2, "/esc": 1]) == .success(4))
        // ESCAPE inside its share gets it even when SKAO borrowed (the calendar then says whether it is free).
        #expect(Self.room("/esc", held: ["/ska": 8, "/esc": 1]) == .success(3))
        // Someone in no share group has the common part (none here) and unused shares.
        #expect(Self.room(nil, held: [:]) == .success(10))
        guard case .failure(let breach) = Self.room(nil, held: ["/esc": 1, "/ska": 1], lower: 9) else { Issue.record("allowed"); return }
        #expect(breach.share == nil && breach.allowed == 0 && breach.description.contains("the part no group has a share of"))
        #expect(ShareRule.charged(["/x", "/esc", "/ska"], Self.shares) == "/ska")
    }

    @Test func thePlannerKeepsToQuotasAndShares() {
        var f = F.facility("f", limits: FacilityLimits(cores: 8, memory: 64, duration: ISODuration(seconds: 86_400)), capacity: FacilityCapacity(cores: 10, memory: 256))
        f.access = FacilityAccess(shares: Self.shares)
        let candidates = [MatchCandidate(facility: f, score: MatchScore(colocation: 0, headroom: 0))]
        let request = F.request(cores: ResourceRange(min: 2, max: 8), duration: ISODuration(seconds: 3600))
        var calendars = FacilityCalendars()
        calendars.tally.facilityCores["f"] = 1
        calendars.tally.shareCores["f"] = ["/esc": 1]
        // ESCAPE uses 1 of its 4: SKAO's offers stop at its 6 (round after round, on the same facility).
        let planner = OfferPlanner()
        let ska = planner.plan(request, candidates: candidates, calendars: calendars, now: Self.now, allowance: Allowance(groups: ["/ska"]))
        #expect(ska.offers.map(\.cores) == [6] && ska.offers.allSatisfy { $0.share == "/ska" }, "\(ska)")
        // ESCAPE may borrow the unused SKAO share, but a quota of 5 offered cores gives one offer of 5.
        let quota = Allowance(quotas: [(.user("i#a"), QuotaLimits(offeredCores: 5))], usage: [:], groups: ["/esc"])
        let capped = planner.plan(request, candidates: candidates, calendars: calendars, now: Self.now, allowance: quota)
        #expect(capped.offers.map(\.cores) == [5], "\(capped)")
        // Blocked: a note and nothing else.
        let blocked = Allowance(quotas: [(.user("i#a"), QuotaLimits(sessions: 0))], usage: [:], groups: [])
        let none = planner.plan(request, candidates: candidates, calendars: calendars, now: Self.now, allowance: blocked)
        #expect(none.offers.isEmpty && none.notes.map(\.code) == [.quotaExceeded])
    }

    @Test func usageStartsWhenRunningAndEndsWhenFinal() {
        var s = SessionRecord(
            id: UUID(), offerSet: UUID(), facility: FacilityID("f"), facilityName: "f", phase: .accepted, created: Self.now, expires: Self.now,
            cores: 2, memory: 1, start: Self.now, duration: ISODuration(seconds: 3600), rank: 0, executable: ExecutableRequest(kind: .dockerContainer))
        #expect(!UsageAccounting.stamp(&s) && s.started == nil)
        s.phase = .running
        s.modified = Self.now.addingTimeInterval(10)
        #expect(UsageAccounting.stamp(&s) && s.started == Self.now.addingTimeInterval(10))
        #expect(!UsageAccounting.stamp(&s))
        s.phase = .cancelled
        s.modified = Self.now.addingTimeInterval(70)
        #expect(UsageAccounting.stamp(&s) && s.finished == Self.now.addingTimeInterval(70))
        #expect(UsageAccounting.coreSeconds(cores: 2, started: s.started!, finished: s.finished, from: Self.now.addingTimeInterval(40), now: Self.now.addingTimeInterval(1000)) == 60)
        // Seen COMPLETED without ever being seen running: counted from its acceptance.
        var quick = s
        (quick.started, quick.finished, quick.phase, quick.accepted, quick.modified) = (nil, nil, .completed, Self.now, Self.now.addingTimeInterval(90))
        #expect(UsageAccounting.stamp(&quick) && quick.started == Self.now && quick.finished == Self.now.addingTimeInterval(90))
        // Cancelled before it ran: no usage.
        var never = s
        (never.started, never.finished, never.phase) = (nil, nil, .cancelled)
        #expect(!UsageAccounting.stamp(&never))
    }

    @Test func theLedgerTallyIsTheSameRebuiltAsReplayed() {
        var ledger = CapacityLedger()
        let b = Booking(facility: FacilityID("f"), cores: 3, memory: 1, start: Self.now, end: Self.now.addingTimeInterval(3600))
        let ids = (0..<4).map { _ in UUID() }
        ledger.book(ids[0], b, expires: Self.now.addingTimeInterval(300), accounts: ["user:a", "group:g"], share: "/g")
        ledger.book(ids[1], b, expires: Self.now.addingTimeInterval(300), accounts: ["user:a"])
        ledger.book(ids[2], b, expires: Self.now.addingTimeInterval(600), accounts: ["user:b"], share: "/g")
        ledger.accept(ids[0])
        ledger.release(ids[2])
        ledger.book(ids[3], b, expires: Self.now.addingTimeInterval(100), accounts: ["group:g"])
        let rebuilt = CapacityLedger(holds: ledger.holds.map { ($0.key, $0.value) })
        var a = ledger, c = rebuilt
        #expect(a.usage(of: ["user:a", "group:g", "user:b"], now: Self.now) == c.usage(of: ["user:a", "group:g", "user:b"], now: Self.now))
        let tally = a.usage(of: ["user:a", "group:g"], now: Self.now)
        #expect(tally.offeredCores == ["user:a": 3, "group:g": 3] && tally.sessions == ["user:a": 1, "group:g": 1])
        // The accepted session is booked ahead for its whole hour, less what has passed of it.
        #expect(tally.accepted["user:a"]?.count == 1 && a.usage(of: ["user:a"], now: Self.now).bookedAhead("user:a", now: Self.now.addingTimeInterval(600)) == 3 * 3000)
        // Expiry takes offers out of the tally.
        #expect(a.usage(of: ["group:g"], now: Self.now.addingTimeInterval(200)).offeredCores.isEmpty)
        #expect(a.calendars(for: [FacilityID("f")], now: Self.now.addingTimeInterval(200)).tally.shareCores["f"] == ["/g": 3])
    }
}

import Foundation
import SkyportCore
import SkyportStore
import SkyportTestSupport
import Testing

/// Usage, quotas and the audit record: the same answers from every store.
@Suite struct AccountStoreContractTests {
    static let alice = "user:https://iam.example.org/#alice"
    static let group = "group:/skao"
    let now = TestDates.epoch

    /// An offer set of `count` offers of `cores` each, counted for Alice and her group, charged to a share.
    func offers(_ store: any BrokerStore, count: Int, cores: Int, at now: Date) async throws -> [SessionRecord] {
        let plan = offerSetPlan("f", count: count, cores: cores, start: now, now: now)
        guard case .created(_, let offers) = try await store.createOfferSet(
            idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("f")], now: now, stored: [], accounts: [Self.alice],
            plan: { calendars in
                var (set, sessions) = try plan(calendars)
                for i in sessions.indices { sessions[i].accounts = [Self.alice, Self.group]; sessions[i].share = "/skao" }
                return (set, sessions)
            })
        else { throw StoreError.notFound("set") }
        return offers
    }

    @Test(arguments: StoreKind.allCases)
    func whatAccountsHoldFollowsOffersAcceptancesAndTheirEnd(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let one = try await offers(store, count: 2, cores: 3, at: now)
        let two = try await offers(store, count: 1, cores: 5, at: now)
        var held = try await store.held(accounts: [Self.alice, Self.group, "user:other#x"], now: now)
        #expect(held.offeredCores == [Self.alice: 11, Self.group: 11] && held.sessions.isEmpty)
        // The booking write sees the facility's share holdings too.
        _ = try await store.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("f")], now: now, stored: [], accounts: [Self.alice]) { c in
            #expect(c.tally.shareCores["f"] == ["/skao": 11] && c.tally.facilityCores["f"] == 11 && c.tally.offeredCores[Self.alice] == 11)
            return try offerSetPlan("f", count: 0, cores: 1, start: self.now, now: self.now)(c)
        }

        // Accepting: the admit judge sees what is held, and can refuse.
        _ = try await store.changePhase(of: one[0].id, to: .accepted, now: now) { session, held in
            #expect(session.id == one[0].id && held.sessions[Self.alice] == nil && held.offeredCores[Self.alice] == 11)
        }
        held = try await store.held(accounts: [Self.alice], now: now)
        #expect(held.sessions == [Self.alice: 1] && held.offeredCores == [Self.alice: 5])
        await #expect(throws: QuotaBreach.self) {
            _ = try await store.changePhase(of: two[0].id, to: .accepted, now: self.now) { _, held in
                throw QuotaBreach(account: .user("x#y"), limit: .sessions, allowed: 1, used: Double(held.sessions[Self.alice] ?? 0))
            }
        }
        #expect(try await store.session(two[0].id)?.phase == .offered)

        // Offers stop holding at their expiry, without any write.
        held = try await store.held(accounts: [Self.alice], now: now.addingTimeInterval(301))
        #expect(held.offeredCores.isEmpty && held.sessions == [Self.alice: 1])
    }

    @Test(arguments: StoreKind.allCases)
    func usageCountsFromTheRealStartToTheEndInsideTheWindow(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let s = try await offers(store, count: 1, cores: 4, at: now)[0]
        _ = try await store.changePhase(of: s.id, to: .accepted, now: now)
        _ = try await store.claimWork(worker: "w", now: now, until: now.addingTimeInterval(60), limit: 10)
        // Accepted is not started: nothing used yet.
        #expect(try await store.coreSeconds(accounts: [Self.alice], from: now, now: now.addingTimeInterval(600)).isEmpty)
        let started = now.addingTimeInterval(100)
        let running = try await store.updateClaimed(s.id, worker: "w", now: started) { $0.phase = .running }
        #expect(running?.started == started)
        // Still running: counted up to now.
        var used = try await store.coreSeconds(accounts: [Self.alice, Self.group], from: now, now: started.addingTimeInterval(50))
        #expect(used == [Self.alice: 200, Self.group: 200])
        let ended = started.addingTimeInterval(900)
        _ = try await store.updateClaimed(s.id, worker: "w", now: ended) { $0.phase = .completed }
        #expect(try await store.session(s.id)?.finished == ended)
        used = try await store.coreSeconds(accounts: [Self.alice], from: now, now: ended.addingTimeInterval(10_000))
        #expect(used == [Self.alice: 3_600])
        // Only what falls inside the window counts.
        used = try await store.coreSeconds(accounts: [Self.alice], from: ended.addingTimeInterval(-300), now: ended.addingTimeInterval(10_000))
        #expect(used == [Self.alice: 1_200])

        // Usage outlives the session's retention, and goes with its own.
        let policy = RetentionPolicy(offers: 0, sessions: 0, usage: 86_400)
        _ = try await store.purgeOfferSets(now: ended.addingTimeInterval(10), policy: policy)
        #expect(try await store.session(s.id) == nil)
        #expect(try await store.coreSeconds(accounts: [Self.alice], from: now, now: ended).values.first == 3_600)
        #expect(try await store.purgeAccounting(now: ended.addingTimeInterval(86_401), policy: policy) == 2)
        #expect(try await store.coreSeconds(accounts: [Self.alice], from: now, now: ended).isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func quotasSetThroughTheAPIAreKeptAndRemoved(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let account = Account.group("/skao")
        #expect(try await store.setQuota(account, QuotaLimits(offeredCores: 8), by: "ada", now: now) == false)
        #expect(try await store.setQuota(account, QuotaLimits(sessions: 2, coreHours: 10, window: ISODuration("P7D")), by: "bea", now: now) == true)
        let kept = try await store.quotaOverrides()
        #expect(kept == [QuotaOverride(account: account, limits: QuotaLimits(sessions: 2, coreHours: 10, window: ISODuration("P7D")), modified: now, by: "bea")])
        #expect(try await store.setQuota(account, nil, by: "ada", now: now) == true)
        #expect(try await store.quotaOverrides().isEmpty)
        #expect(try await store.setQuota(account, nil, by: "ada", now: now) == false)
    }

    @Test(arguments: StoreKind.allCases)
    func theAuditRecordIsNumberedFilteredAndKeptForItsRetention(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        try await store.appendAudit([
            AuditEvent(time: now, actor: "a#1", action: .ask, target: "offerset:1"),
            AuditEvent(time: now.addingTimeInterval(10), actor: "a#1", action: .accept, target: "session:1"),
            AuditEvent(time: now.addingTimeInterval(20), actor: "operator:o", action: .facilityCreate, target: "facility:f", detail: "x"),
        ])
        let all = try await store.audit(AuditQuery())
        #expect(all.map(\.action) == [.facilityCreate, .accept, .ask])
        #expect(all.map(\.seq) == [3, 2, 1] && all[0].detail == "x")
        #expect(try await store.audit(AuditQuery(actor: "a#1")).map(\.action) == [.accept, .ask])
        #expect(try await store.audit(AuditQuery(action: .ask)).map(\.target) == ["offerset:1"])
        #expect(try await store.audit(AuditQuery(target: "facility:f")).count == 1)
        #expect(try await store.audit(AuditQuery(since: now.addingTimeInterval(5))).count == 2)
        #expect(try await store.audit(AuditQuery(before: 3, limit: 1)).map(\.seq) == [2])
        let policy = RetentionPolicy(audit: 86_400)
        #expect(try await store.purgeAccounting(now: now.addingTimeInterval(86_405), policy: policy) == 1)
        #expect(try await store.audit(AuditQuery()).map(\.seq) == [3, 2])
        try await store.appendAudit([AuditEvent(time: now, actor: "b", action: .cancel, target: "session:2")])
        #expect(try await store.audit(AuditQuery(limit: 1)).first?.seq == 4)
    }

    @Test func aReopenedFileKnowsWhatEachAccountHolds() async throws {
        let path = TemporaryFile.path("accounts.sqlite")
        do {
            let store = try SQLiteStore(path: path)
            let offered = try await offers(store, count: 2, cores: 3, at: now)
            _ = try await store.changePhase(of: offered[0].id, to: .accepted, now: now)
            _ = try await offers(store, count: 1, cores: 2, at: now)
        }
        let reopened = try SQLiteStore(path: path)
        let held = try await reopened.held(accounts: [Self.alice, Self.group], now: now)
        #expect(held.sessions == [Self.alice: 1, Self.group: 1] && held.offeredCores == [Self.alice: 2, Self.group: 2])
        var ledger = reopened.capacityLedger()
        let calendars = ledger.calendars(for: [FacilityID("f")], now: now)
        #expect(calendars.tally.shareCores["f"] == ["/skao": 5])
    }
}

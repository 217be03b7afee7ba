import Foundation
import SkyportCore
import SkyportStore
import SkyportTestSupport
import Synchronization
import Testing

/// Several stores on one PostgreSQL schema, as replicas are: they share all state and all work, correctly.
@Suite(.enabled(if: TestPeers.run(TestPostgres.url != nil)))
struct PostgresReplicaTests {
    let now = TestDates.epoch

    /// Three replicas on one schema.
    func replicas(_ n: Int = 3) async throws -> [PostgresStore] {
        let url = try TestPostgres.freshURL()
        // Started together: each runs the migrations under the advisory lock; one applies them, the others find them done.
        return try await withThrowingTaskGroup(of: PostgresStore.self) { group in
            for i in 0..<n { group.addTask { try await TestPostgres.store(url, replica: "r\(i)") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test func replicasStartingTogetherMigrateOnce() async throws {
        let stores = try await replicas()
        for store in stores {
            #expect(try await store.appliedMigrations() == PostgresStore.migrationNames)
        }
    }

    /// Requests for one small facility at different replicas at once: never more booked than its capacity at any instant.
    @Test func bookingsAtDifferentReplicasNeverOverbook() async throws {
        let stores = try await replicas()
        let offers = try await SmallFacility.bookAtOnce(120, on: stores, now: now)
        #expect(offers.count >= 4)
        #expect(peakBooked(offers).cores <= 8)
        // Each replica's ledger, brought up to date by its next booking, holds what all of them booked.
        for store in stores {
            _ = try await store.createOfferSet(
                idempotencyKey: nil, requestDigest: nil, facilities: [SmallFacility.facility.id], now: now, plan: offerSetPlan("other", count: 0, cores: 1, start: now, now: now))
            #expect(Set(store.capacityLedger().holds.keys) == Set(offers.map(\.id)))
        }
    }

    /// Accepts of every offer of one set, sent to different replicas at once: exactly one wins, the rest are REJECTED.
    @Test func parallelAcceptsAcrossReplicasHaveOneWinner() async throws {
        let stores = try await replicas()
        guard case .created(_, let offers) = try await stores[0].createOfferSet(
            idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: now, plan: offerSetPlan("a", count: 6, cores: 1, start: now, now: now))
        else { throw StoreError.notFound("set") }
        let now = self.now
        let results = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<60 {
                let store = stores[i % stores.count], offer = offers[i % offers.count]
                group.addTask { (try? await store.changePhase(of: offer.id, to: .accepted, now: now)) != nil }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        // The winner's own acceptance repeated is idempotent (SessionLifecycle), so count the phases stored.
        let (_, stored) = try #require(try await stores[2].offerSet(offers[0].offerSet))
        #expect(stored.filter { $0.phase == .accepted }.count == 1)
        #expect(stored.filter { $0.phase == .rejected }.count == offers.count - 1)
        #expect(results.contains(true))
    }

    /// Forwarding work claimed by several replicas at once: each session is leased to exactly one.
    @Test func workIsClaimedByOneReplicaAtATime() async throws {
        let stores = try await replicas()
        var accepted: [UUID] = []
        for i in 0..<30 {
            guard case .created(_, let offers) = try await stores[i % 3].createOfferSet(
                idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: now, plan: offerSetPlan("a", count: 1, cores: 1, start: now, now: now))
            else { continue }
            accepted.append(try await stores[i % 3].changePhase(of: offers[0].id, to: .accepted, now: now).id)
        }
        let now = self.now
        let claims = try await withThrowingTaskGroup(of: [UUID].self) { group in
            for (i, store) in stores.enumerated() {
                group.addTask { try await store.claimWork(worker: "w\(i)", now: now, until: now.addingTimeInterval(60), limit: 7).map(\.id) }
                group.addTask { try await store.claimWork(worker: "v\(i)", now: now, until: now.addingTimeInterval(60), limit: 7).map(\.id) }
            }
            return try await group.reduce(into: [UUID]()) { $0 += $1 }
        }
        #expect(claims.count == Set(claims).count)   // no session leased twice
        #expect(Set(claims).isSubset(of: Set(accepted)))
        // The rest, and after the leases run out, everything again (a dead replica's sessions are taken over).
        let rest = try await stores[0].claimWork(worker: "late", now: now, until: now.addingTimeInterval(60), limit: 100)
        #expect(Set(rest.map(\.id)).union(claims) == Set(accepted))
        let later = now.addingTimeInterval(61)
        let again = try await stores[1].claimWork(worker: "heir", now: later, until: later.addingTimeInterval(60), limit: 100)
        #expect(Set(again.map(\.id)) == Set(accepted))
    }

    /// A write at one replica wakes the long polls, the forwarding worker and the harvester at the others, and their
    /// facility lists follow.
    @Test func writesAtOneReplicaReachTheOthers() async throws {
        let stores = try await replicas(2)
        let (a, b) = (stores[0], stores[1])
        let work = WorkSignal(), harvests = WorkSignal()
        b.wakeups.connect(.work, to: work)
        b.wakeups.connect(.registrySources, to: harvests)
        guard case .created(_, let offers) = try await a.createOfferSet(
            idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: now, plan: offerSetPlan("a", count: 2, cores: 1, start: now, now: now))
        else { throw StoreError.notFound("set") }
        // A long poll at b on the session, then the acceptance at a.
        let poll = b.changes.observe([ChangeFeed.key(session: offers[0].id)])
        _ = try await a.changePhase(of: offers[0].id, to: .accepted, now: now)
        #expect(await poll.wait(upTo: .seconds(30)))
        await work.wait(upTo: .seconds(30))
        #expect(try await b.session(offers[0].id)?.phase == .accepted)
        // A registry source added at a rings b's harvester.
        try await a.upsertRegistrySource(RegistrySource(url: "http://127.0.0.1:9/oai", addedBy: "test", added: now))
        await harvests.wait(upTo: .seconds(30))
        // A facility registered at a is in b's facility list once b is told (b read its list before).
        #expect(try await b.facilities(FacilityQuery()).isEmpty)
        try await a.insertFacility(sampleFacility("ivo://example.org/new"))
        var seen = false
        for _ in 0..<300 where !seen {
            seen = try await b.facility(FacilityID("ivo://example.org/new")) != nil
            if !seen { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(seen)
    }

    /// A periodic task's turn goes to one replica per period.
    @Test func aTurnGoesToOneReplicaPerPeriod() async throws {
        let stores = try await replicas()
        let now = self.now
        func round(_ at: Date) async throws -> Int {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for (i, store) in stores.enumerated() {
                    group.addTask { try await store.claimTurn("retention", every: .seconds(60), owner: "r\(i)", now: at) }
                }
                return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
        }
        #expect(try await round(now) == 1)
        #expect(try await round(now.addingTimeInterval(30)) == 0)
        #expect(try await round(now.addingTimeInterval(60)) == 1)
        #expect(try await stores[0].claimTurn("harvest http://a", every: .seconds(60), owner: "r0", now: now.addingTimeInterval(60)))
    }
}

/// `skyport db copy`: an embedded broker's data moved into PostgreSQL comes back the same through every store read.
@Suite(.enabled(if: TestPeers.run(TestPostgres.url != nil)))
struct PostgresCopyTests {
    @Test func aSQLiteBrokersDataIsCopiedWhole() async throws {
        let now = TestDates.epoch
        let sqlite = try SQLiteStore(path: TemporaryFile.path("copy.sqlite"))
        try await sqlite.insertFacility(sampleFacility("ivo://example.org/tap"))
        try await sqlite.insertOperator(OperatorRecord(name: "alice", created: now), tokenHash: "hash-a")
        try await sqlite.upsertRegistrySource(RegistrySource(url: "http://127.0.0.1:9/oai", addedBy: "alice", added: now))
        guard case .created(let set, let offers) = try await sqlite.createOfferSet(
            idempotencyKey: "key-1", requestDigest: "d1", facilities: [FacilityID("a")], now: now,
            plan: { calendars in
                var (set, offers) = try offerSetPlan("a", count: 3, cores: 2, start: now, now: now)(calendars)
                for i in offers.indices { offers[i].accounts = ["user:bob"] }   // what usage is kept for
                return (set, offers)
            })
        else { throw StoreError.notFound("set") }
        _ = try await sqlite.changePhase(of: offers[1].id, to: .accepted, now: now)
        let claimed = try await sqlite.claimWork(worker: "w", now: now, until: now.addingTimeInterval(60), limit: 10)
        _ = try await sqlite.updateClaimed(claimed[0].id, worker: "w", now: now) { $0.phase = .running }
        var job = UWSJobRecord(id: "job-1", owner: "bob", type: "execute", parameters: [], created: now, destruction: now.addingTimeInterval(86_400))
        (job.session, job.offerSet) = (offers[1].id, set.id)
        try await sqlite.insertUWSJob(job)
        _ = try await sqlite.setQuota(Account.group("/skao"), QuotaLimits(offeredCores: 8), by: "alice", now: now)
        try await sqlite.appendAudit([AuditEvent(time: now, actor: "alice", action: .accept, target: "session:\(offers[1].id)", detail: "x")])

        let postgres = try await TestPostgres.store()
        let counts = try await postgres.copy(from: sqlite)
        #expect(counts["session"] == 3 && counts["facility"] == 1 && counts["audit"] == 1 && counts["usage"] == 1, "\(counts)")
        #expect(try await postgres.facilities(FacilityQuery()) == (try await sqlite.facilities(FacilityQuery())))
        #expect(try await postgres.operatorName(forTokenHash: "hash-a") == "alice")
        #expect(try await postgres.registrySources() == (try await sqlite.registrySources()))
        let (copiedSet, copiedSessions) = try #require(try await postgres.offerSet(set.id))
        let (originalSet, originalSessions) = try #require(try await sqlite.offerSet(set.id))
        #expect(copiedSet == originalSet && copiedSessions == originalSessions)
        #expect(try await postgres.offerSet(idempotencyKey: "key-1")?.id == set.id)
        #expect(try await postgres.uwsJob("job-1") == (try await sqlite.uwsJob("job-1")))
        #expect(try await postgres.quotaOverrides() == (try await sqlite.quotaOverrides()))
        #expect(try await postgres.audit(AuditQuery()) == (try await sqlite.audit(AuditQuery())))
        let used = try await sqlite.coreSeconds(accounts: ["user:bob"], from: now, now: now.addingTimeInterval(60))
        #expect(try await postgres.coreSeconds(accounts: ["user:bob"], from: now, now: now.addingTimeInterval(60)) == used)
        #expect(used["user:bob"] == 120)
        #expect(holdShapes(postgres.capacityLedger()) == holdShapes(sqlite.capacityLedger()))
        // The running session's lease came along: nobody else claims it before it runs out.
        #expect(try await postgres.claimWork(worker: "other", now: now, until: now.addingTimeInterval(60), limit: 10).isEmpty)
        // Copying again into a schema that has data is refused, and changes nothing.
        await #expect(throws: StoreError.self) { _ = try await postgres.copy(from: sqlite) }
        #expect(try await postgres.statistics(now: now).rows["session"] == 3)
    }
}

extension PostgresReplicaTests {
    /// A turn nobody takes for a day (its facility or registry source is gone) is deleted by retention.
    @Test func turnsOfWhatIsGoneAreDeletedByRetention() async throws {
        let store = try await TestPostgres.store()
        #expect(try await store.claimTurn("health ivo://gone", every: .seconds(60), owner: "r0", now: now))
        #expect(try await store.claimTurn("retention", every: .seconds(60), owner: "r0", now: now.addingTimeInterval(86_000)))
        let deleted = try await store.purgeAccounting(now: now.addingTimeInterval(86_500), policy: RetentionPolicy())
        #expect(deleted == 1)
        // The deleted turn is free again; the other still holds.
        #expect(try await store.claimTurn("health ivo://gone", every: .seconds(60), owner: "r1", now: now.addingTimeInterval(86_500)))
        #expect(try await !store.claimTurn("retention", every: .seconds(60), owner: "r1", now: now.addingTimeInterval(86_010)))
    }
}

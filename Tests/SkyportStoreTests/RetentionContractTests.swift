import Foundation
import SkyportCore
import SkyportStore
import SkyportTestSupport
import Testing

/// What retention deletes, and what it must never delete, the same in every store (`RetentionPolicy`).
@Suite struct RetentionContractTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)
    /// Offers kept 100 s after they ended, jobs 1,000 s, UWS jobs 10 s after their destruction.
    let policy = RetentionPolicy(offers: 100, sessions: 1_000, uwsGrace: 10, batch: 500)

    func create(_ store: any BrokerStore, count: Int, lifetime: TimeInterval = 10, at: Date? = nil) async throws -> (OfferSetRecord, [SessionRecord]) {
        let at = at ?? now
        guard case .created(let set, let offers) = try await store.createOfferSet(
            idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: at,
            plan: offerSetPlan("a", count: count, cores: 1, start: at, now: at, lifetime: lifetime))
        else { throw StoreError.conflict("not created") }
        return (set, offers)
    }

    func exists(_ store: any BrokerStore, _ set: OfferSetRecord) async throws -> Bool { try await store.offerSet(set.id) != nil }

    @Test(arguments: StoreKind.allCases)
    func offersThatNeverBecameAJobGoAfterTheOfferRetention(kind: StoreKind) async throws {
        let store = try await kind.make()
        // Given an untouched set (its offers expire at +10 s), a NO set, and a set whose offers were cancelled and
        // rejected while OFFERED (at +5 s)
        let (untouched, untouchedOffers) = try await create(store, count: 2)
        let (no, _) = try await create(store, count: 0)
        let (turnedDown, offers) = try await create(store, count: 2)
        _ = try await store.changePhase(of: offers[0].id, to: .cancelled, now: now.addingTimeInterval(5))
        _ = try await store.changePhase(of: offers[1].id, to: .rejected, now: now.addingTimeInterval(5))

        // Then nothing goes before the last offer ended 100 s ago
        #expect(try await store.purgeOfferSets(now: now.addingTimeInterval(109), policy: policy).isEmpty)
        for set in [untouched, no, turnedDown] { #expect(try await exists(store, set)) }

        // And all three go once it did, with their sessions (the expiry sweep need not have run)
        let deleted = try await store.purgeOfferSets(now: now.addingTimeInterval(110), policy: policy)
        #expect(deleted.offerSets == 3 && deleted.sessions == 4)
        for set in [untouched, no, turnedDown] { #expect(try await !exists(store, set)) }
        #expect(try await store.session(untouchedOffers[0].id) == nil)
        #expect(try await store.session(offers[1].id) == nil)
        #expect(try await store.purgeOfferSets(now: now.addingTimeInterval(10_000), policy: policy).isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func anOfferSetGoesOnlyWhenItsLastOfferHasGone(kind: StoreKind) async throws {
        let store = try await kind.make()
        // Given a set whose sweep recorded EXPIRED at +50 s: it ended then, not at its expiry
        let (swept, _) = try await create(store, count: 1)
        #expect(try await store.expireOffers(now: now.addingTimeInterval(50)) == 1)
        #expect(try await store.purgeOfferSets(now: now.addingTimeInterval(149), policy: policy).isEmpty)
        #expect(try await exists(store, swept))
        #expect(try await store.purgeOfferSets(now: now.addingTimeInterval(150), policy: policy).offerSets == 1)
        // And an offer still open is never deleted, whatever the retention
        let (open, _) = try await create(store, count: 1, lifetime: 1_000_000)
        #expect(try await store.purgeOfferSets(now: now.addingTimeInterval(500_000), policy: RetentionPolicy(offers: 0, sessions: 0)).isEmpty)
        #expect(try await exists(store, open))
    }

    @Test(arguments: StoreKind.allCases)
    func jobsAreKeptForTheSessionRetentionAndLiveOnesNever(kind: StoreKind) async throws {
        let store = try await kind.make()
        // Given an accepted job that is still live, and one accepted then cancelled at +2 s
        let (live, liveOffers) = try await create(store, count: 2)
        _ = try await store.changePhase(of: liveOffers[0].id, to: .accepted, now: now.addingTimeInterval(1))
        let (cancelled, cancelledOffers) = try await create(store, count: 2)
        _ = try await store.changePhase(of: cancelledOffers[1].id, to: .accepted, now: now.addingTimeInterval(1))
        _ = try await store.changePhase(of: cancelledOffers[1].id, to: .cancelled, now: now.addingTimeInterval(2))

        // Then past the offer retention both stay: they became jobs
        #expect(try await store.purgeOfferSets(now: now.addingTimeInterval(500), policy: policy).isEmpty)
        // And the cancelled job goes 1,000 s after it ended; the live one stays, however long
        #expect(try await store.purgeOfferSets(now: now.addingTimeInterval(1_001), policy: policy).isEmpty)
        let deleted = try await store.purgeOfferSets(now: now.addingTimeInterval(1_002), policy: policy)
        #expect(deleted.offerSets == 1 && deleted.sessions == 2)
        #expect(try await !exists(store, cancelled))
        #expect(try await exists(store, live))
        #expect(try await store.purgeOfferSets(now: now.addingTimeInterval(100_000_000), policy: RetentionPolicy(offers: 0, sessions: 0)).isEmpty)
        #expect(try await store.session(liveOffers[0].id)?.phase == .accepted)
    }

    @Test(arguments: StoreKind.allCases)
    func aJobStillForwardedOrLeasedIsNeverDeleted(kind: StoreKind) async throws {
        let store = try await kind.make()
        let zero = RetentionPolicy(offers: 0, sessions: 0)
        // Given a job that ran and completed while a worker holds its lease until +60 s
        let (ran, offers) = try await create(store, count: 1)
        _ = try await store.changePhase(of: offers[0].id, to: .accepted, now: now)
        let claimed = try await store.claimWork(worker: "w", now: now, until: now.addingTimeInterval(60), limit: 10)
        #expect(claimed.map(\.id) == [offers[0].id])
        // While it runs it is never deleted
        _ = try await store.updateClaimed(offers[0].id, worker: "w", now: now.addingTimeInterval(1)) { $0.phase = .running }
        #expect(try await store.purgeOfferSets(now: now.addingTimeInterval(30), policy: zero).isEmpty)
        _ = try await store.updateClaimed(offers[0].id, worker: "w", now: now.addingTimeInterval(2)) { $0.phase = .completed }
        // Then completed but still leased: kept until the lease ends
        #expect(try await store.purgeOfferSets(now: now.addingTimeInterval(30), policy: zero).isEmpty)
        #expect(try await store.purgeOfferSets(now: now.addingTimeInterval(60), policy: zero).offerSets == 1)
        #expect(try await !exists(store, ran))

        // A cancelled job whose callback has not been told is kept until it is (the worker still has work for it)
        let (told, toldOffers) = try await create(store, count: 1)
        _ = try await store.changePhase(of: toldOffers[0].id, to: .accepted, now: now)
        _ = try await store.claimWork(worker: "w", now: now.addingTimeInterval(61), until: now.addingTimeInterval(62), limit: 10)
        _ = try await store.updateClaimed(toldOffers[0].id, worker: "w", now: now.addingTimeInterval(61)) {
            $0.callback = "http://callback.example/"
            $0.remote = RemoteJob(endpoint: Endpoint(kind: .uws, url: "http://uws.example/jobs"), stage: .created(url: "http://uws.example/jobs/1"))
            $0.phase = .completed
        }
        try await store.release(toldOffers[0].id, worker: "w", until: nil)
        #expect(try await store.purgeOfferSets(now: now.addingTimeInterval(1_000), policy: zero).isEmpty)
        _ = try await store.claimWork(worker: "w", now: now.addingTimeInterval(1_000), until: now.addingTimeInterval(1_001), limit: 10)
        _ = try await store.updateClaimed(toldOffers[0].id, worker: "w", now: now.addingTimeInterval(1_000)) { $0.notified = true }
        try await store.release(toldOffers[0].id, worker: "w", until: nil)
        #expect(try await store.purgeOfferSets(now: now.addingTimeInterval(1_000), policy: zero).offerSets == 1)
        #expect(try await !exists(store, told))
    }

    @Test(arguments: StoreKind.allCases)
    func uwsJobsGoAfterTheirDestructionAndKeepWhatTheyLinkUntilThen(kind: StoreKind) async throws {
        let store = try await kind.make()
        // Given a NO set linked by a UWS job, and an expired offer linked as a job's session, both destroyed at +50 s
        let (no, _) = try await create(store, count: 0)
        let (offered, offers) = try await create(store, count: 1)
        var a = UWSJobRecord(id: "a", owner: "o", type: "execute", parameters: [], created: now, destruction: now.addingTimeInterval(50))
        a.offerSet = no.id
        var b = UWSJobRecord(id: "b", owner: "o", type: "execute", parameters: [], created: now, destruction: now.addingTimeInterval(50))
        try await store.insertUWSJob(a)
        try await store.insertUWSJob(b)
        b = try await store.updateUWSJob("b") { $0.session = offers[0].id; $0.offerSet = offered.id }
        let c = UWSJobRecord(id: "c", owner: "o", type: "execute", parameters: [], created: now, destruction: now.addingTimeInterval(500))
        try await store.insertUWSJob(c)
        a.offerSet = no.id

        // Then the sets outlive the offer retention while their jobs exist
        let at = now.addingTimeInterval(200)
        #expect(try await store.purgeOfferSets(now: at, policy: policy).isEmpty)
        #expect(try await store.purgeUWSJobs(now: now.addingTimeInterval(59), policy: policy).isEmpty)
        // And the jobs go 10 s after their destruction, the later one only when its time comes
        #expect(try await store.purgeUWSJobs(now: at, policy: policy).uwsJobs == 2)
        #expect(try await store.uwsJob("a") == nil)
        #expect(try await store.uwsJob("b") == nil)
        #expect(try await store.uwsJob("c") != nil)
        // Then the sets go too
        #expect(try await store.purgeOfferSets(now: at, policy: policy).offerSets == 2)
        #expect(try await store.purgeUWSJobs(now: now.addingTimeInterval(510), policy: policy).uwsJobs == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func aBacklogGoesInBatches(kind: StoreKind) async throws {
        let store = try await kind.make()
        for _ in 0..<7 { _ = try await create(store, count: 1) }
        let small = RetentionPolicy(offers: 100, sessions: 1_000, uwsGrace: 10, batch: 3)
        let at = now.addingTimeInterval(1_000)
        #expect(try await store.purgeOfferSets(now: at, policy: small) == RetentionSweep(offerSets: 3, sessions: 3, batches: 1))
        #expect(try await store.purgeOfferSets(now: at, policy: small).offerSets == 3)
        #expect(try await store.purgeOfferSets(now: at, policy: small).offerSets == 1)
        #expect(try await store.purgeOfferSets(now: at, policy: small).isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func aDeletedSetsIdempotencyKeyIsFree(kind: StoreKind) async throws {
        let store = try await kind.make()
        _ = try await store.createOfferSet(idempotencyKey: "k", requestDigest: "d", facilities: [FacilityID("a")], now: now,
                                           plan: offerSetPlan("a", count: 1, cores: 1, start: now, now: now, lifetime: 10))
        #expect(try await store.offerSet(idempotencyKey: "k") != nil)
        #expect(try await store.purgeOfferSets(now: now.addingTimeInterval(1_000), policy: policy).offerSets == 1)
        #expect(try await store.offerSet(idempotencyKey: "k") == nil)
    }
}

/// Retention on a file an older version wrote: the v7 migration fills the retention columns from the documents.
@Suite struct StoredRetentionTests {
    @Test func theMigratedFixtureLosesExactlyWhatIsOver() async throws {
        let store = try StoredSessionsTests.store()
        let far = Date(timeIntervalSince1970: 4_102_444_800)  // 2100
        // Offers that never became a job go first (the offered ones, past their expiry)
        let offers = try await store.purgeOfferSets(now: far, policy: RetentionPolicy(offers: 0, sessions: 100 * 365 * 86_400))
        #expect(offers.offerSets == 2)
        for n in [9, 21] { #expect(try await store.session(StoredSessionsTests.id(n)) == nil, "session \(n)") }
        // Then every ended job no worker has work for
        let jobs = try await store.purgeOfferSets(now: far, policy: RetentionPolicy(offers: 0, sessions: 0))
        #expect(jobs.offerSets == 6)
        for n in [13, 15, 17, 18, 19, 20] { #expect(try await store.session(StoredSessionsTests.id(n)) == nil, "session \(n)") }
        // Live jobs, and ended ones with a remote job to abort, an offer to reject there or a callback to tell, stay
        for n in [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 14, 16, 22] {
            #expect(try await store.session(StoredSessionsTests.id(n)) != nil, "session \(n)")
        }
    }

    @Test func aNewFileGivesFreedPagesBack() async throws {
        let path = TemporaryFile.path("vacuum.sqlite")
        let store = try SQLiteStore(path: path)
        #expect(try await store.autoVacuum() == "incremental")
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        for _ in 0..<300 {
            _ = try await store.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: now,
                                               plan: offerSetPlan("a", count: 4, cores: 1, start: now, now: now, lifetime: 10))
        }
        var sweep = RetentionSweep()
        repeat {
            sweep = try await store.purgeOfferSets(now: now.addingTimeInterval(1_000), policy: RetentionPolicy(offers: 0, sessions: 0, batch: 100))
        } while sweep.offerSets == 100
        var reclaimed = 0
        while case let n = try await store.reclaimSpace(pages: 50), n > 0 { reclaimed += n }
        #expect(reclaimed > 0)
        // An older file (the fixture) has no incremental vacuum until `skyport migrate --vacuum` rebuilds it.
        let old = try StoredSessionsTests.store()
        #expect(try await old.autoVacuum() == "none")
        #expect(try await old.reclaimSpace(pages: 50) == 0)
        try await old.enableIncrementalVacuum()
        #expect(try await old.autoVacuum() == "incremental")
        // The rebuild's copy went to a file; the writer keeps its journals in memory again.
        #expect(try old.tempStore().writer == 2)
        #expect(try await old.session(StoredSessionsTests.id(1)) != nil)
    }
}

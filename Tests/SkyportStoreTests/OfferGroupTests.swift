import Dispatch
import Foundation
import SkyportCore
@testable import SkyportStore
import SkyportTestSupport
import Synchronization
import Testing

/// Group commit of offer sets (SQLite): requests that wait while the writer is busy are written as one transaction,
/// each in a savepoint of its own.
@Suite struct OfferGroupTests {
    let now = TestDates.epoch

    struct Refused: Error, Equatable { let n: Int }
    struct Failed: Error { let error: any Error }

    /// Eleven requests, ten of them arriving while the first holds the writer: two transactions. In the second, the
    /// two whose plans throw and the one whose sessions cannot be written (after its offer set was) get their own
    /// errors and store nothing; a replayed idempotency key finds the set made just before it in the same
    /// transaction; the others plan against the holds of those before them (no overbooking), and the ledger equals
    /// the one read back from the file.
    @Test func requestsWaitingForTheWriterAreWrittenTogether() async throws {
        let path = TemporaryFile.path("groups.sqlite")
        let store = try SQLiteStore(path: path)
        let (facility, request, now) = (SmallFacility.facility, SmallFacility.request, self.now)
        let held = await HeldWriter.start(store, now: now)

        let others = (0..<10).map { n in
            Task { () -> Result<OfferSetCreation, Failed> in
                let key: String? = n == 2 || n == 5 ? "same-key" : nil
                do {
                    return .success(try await store.createOfferSet(
                        idempotencyKey: key, requestDigest: key.map { _ in "digest" }, facilities: [facility.id], now: now
                    ) { calendars in
                        if n == 3 || n == 7 { throw Refused(n: n) }
                        let (set, sessions) = try plannedOffers(facility, request, now: now)(calendars)
                        guard n == 8 else { return (set, sessions) }
                        // A session of no stored set: its insert fails (foreign key) after the set and its offers were written.
                        let stray = SessionRecord(
                            id: UUID(), offerSet: UUID(), facility: facility.id, facilityName: facility.name, phase: .offered, created: now,
                            expires: now.addingTimeInterval(300), cores: 1, memory: 1, start: now, duration: ISODuration(seconds: 60), rank: 9,
                            executable: request.executable)
                        return (set, sessions + [stray])
                    })
                } catch {
                    return .failure(Failed(error: error))
                }
            }
        }
        guard try await held.release(whenWaiting: 10, in: store) else { return }
        guard case .created(_, var offers) = try await held.first.value else { Issue.record("the first was not created"); return }
        var created: [UUID] = [], replayed: [UUID] = []
        for (n, task) in others.enumerated() {
            switch await task.value {
            case .failure(let failed) where n == 3 || n == 7: #expect(failed.error as? Refused == Refused(n: n))
            case .failure(let failed): #expect(n == 8, "request \(n) failed: \(failed.error)")
            case .success(.created(let set, let sessions)):
                created.append(set.id)
                offers += sessions
            case .success(.replayed(let id)): replayed.append(id)
            }
        }
        let counts = store.writeGroupCounts()
        #expect(counts.groups == 2 && counts.writes == 11 && counts.waiting == 0)
        #expect(created.count == 6)
        // Which of the two with the key ran first depends on the order they reached the queue; the other replays it.
        #expect(replayed.count == 1 && created.contains(replayed[0]))
        let rows = try await store.writer.read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM offer_set") ?? -1, try Int.fetchOne(db, sql: "SELECT count(*) FROM session") ?? -1)
        }
        #expect(rows.0 == 7 && rows.1 == offers.count)
        let peak = peakBooked(offers)
        #expect(offers.count >= 4 && peak.cores <= 8 && peak.memory <= 8)
        #expect(store.capacityLedger().holds.count == offers.count)
        #expect(try SQLiteStore(path: path).capacityLedger().holds == store.capacityLedger().holds)
    }

    /// How a request can make its whole group fail: its writes break a foreign key that is checked only at the commit
    /// (the commit fails), or its error comes after SQLite ended the transaction (nothing after it may commit alone).
    enum Breaking: String, CaseIterable { case commit, transaction }

    /// A group that cannot commit fails as a whole: every request in it gets the error, the file holds none of their
    /// writes, and the ledger none of their holds (they are undone), as the file read again says.
    @Test(arguments: Breaking.allCases)
    func aGroupThatCannotCommitFailsAsAWhole(_ breaking: Breaking) async throws {
        let path = TemporaryFile.path("group-fails-\(breaking.rawValue).sqlite")
        let store = try SQLiteStore(path: path)
        let (facility, request, now) = (SmallFacility.facility, SmallFacility.request, self.now)
        let held = await HeldWriter.start(store, now: now)
        let booking = Task {
            try await store.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [facility.id], now: now, plan: plannedOffers(facility, request, now: now))
        }
        // Waits behind the booking request, so that the group holds a request with holds before this one breaks it.
        while store.writeGroupCounts().waiting < 1 { try await Task.sleep(for: .milliseconds(1)) }
        let breaker = Task {
            try await store.groupedWrite { db in
                switch breaking {
                case .commit:
                    try db.execute(sql: "PRAGMA defer_foreign_keys = ON")
                    try db.execute(sql: "INSERT INTO session (id, offer_set_id, facility_key, phase, expires, start, \"end\", rank, document, needs_work, cores, memory, job, created) VALUES ('s', 'no-such-set', 'c', 'OFFERED', 0, 0, 0, 0, '{}', 0, 1, 1, 0, 0)")
                    return (OfferSetCreation.replayed(UUID()), [])
                case .transaction:
                    try db.execute(sql: "ROLLBACK")
                    throw Refused(n: 0)
                }
            }
        }
        guard try await held.release(whenWaiting: 2, in: store) else { return }
        guard case .created(_, let offers) = try await held.first.value else { Issue.record("the first was not created"); return }
        await #expect(throws: (any Error).self) { try await booking.value }
        await #expect(throws: (any Error).self) { try await breaker.value }
        let counts = store.writeGroupCounts()
        #expect(counts.groups == 2 && counts.writes == 3)
        let rows = try await store.writer.read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM offer_set") ?? -1, try Int.fetchOne(db, sql: "SELECT count(*) FROM session") ?? -1)
        }
        #expect(rows.0 == 1 && rows.1 == offers.count)
        #expect(!offers.isEmpty && store.capacityLedger().holds.count == offers.count)
        #expect(try SQLiteStore(path: path).capacityLedger().holds == store.capacityLedger().holds)
        // The writer works on afterwards.
        guard case .created = try await store.createOfferSet(
            idempotencyKey: nil, requestDigest: nil, facilities: [facility.id], now: now, plan: plannedOffers(facility, request, now: now))
        else { Issue.record("no set after the failed group"); return }
    }

    /// A first request that holds the writer (a GRDB queue thread, not the cooperative pool) from inside its plan until
    /// it is released, so that the requests after it wait and are written together.
    struct HeldWriter {
        let first: Task<OfferSetCreation, any Error>
        let release: DispatchSemaphore

        static func start(_ store: SQLiteStore, now: Date) async -> HeldWriter {
            let (facility, request) = (SmallFacility.facility, SmallFacility.request)
            let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
            let first = Task {
                try await store.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [facility.id], now: now) { calendars in
                    entered.signal()
                    release.wait()
                    return try plannedOffers(facility, request, now: now)(calendars)
                }
            }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in DispatchQueue.global().async { entered.wait(); c.resume() } }
            return HeldWriter(first: first, release: release)
        }

        /// Lets the first request go on once `count` requests wait for the writer; false (recorded) when they never
        /// all did within 2 minutes (a guard against hanging, not a measure).
        func release(whenWaiting count: Int, in store: SQLiteStore) async throws -> Bool {
            defer { release.signal() }
            let deadline = ContinuousClock.now + .seconds(120)
            while store.writeGroupCounts().waiting < count {
                guard ContinuousClock.now < deadline else {
                    Issue.record("\(count) requests never all waited for the writer")
                    return false
                }
                try await Task.sleep(for: .milliseconds(1))
            }
            return true
        }
    }

    /// Writes of every kind that wait for the writer are written together, in the order they came, each with its own
    /// result: a client's acceptance, a forwarding claim that finds the session accepted before it in the same
    /// transaction, and an offer request.
    @Test func writesOfEveryKindWaitingForTheWriterShareAGroup() async throws {
        let store = try SQLiteStore(path: ":memory:")
        let (facility, request, now) = (SmallFacility.facility, SmallFacility.request, self.now)
        guard let offer = try await firstOffer(in: store) else { return }
        let held = await HeldWriter.start(store, now: now)
        let accept = Task { try await store.changePhase(of: offer.id, to: .accepted, now: now, admit: nil) }
        while store.writeGroupCounts().waiting < 1 { try await Task.sleep(for: .milliseconds(1)) }
        let claim = Task { try await store.claimWork(worker: "w", now: now, until: now.addingTimeInterval(60), limit: 10) }
        while store.writeGroupCounts().waiting < 2 { try await Task.sleep(for: .milliseconds(1)) }
        let book = Task {
            try await store.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [facility.id], now: now, plan: plannedOffers(facility, request, now: now))
        }
        guard try await held.release(whenWaiting: 3, in: store) else { return }
        _ = try await held.first.value
        #expect(try await accept.value.phase == .accepted)
        #expect(try await claim.value.map(\.id) == [offer.id])
        guard case .created = try await book.value else { Issue.record("the offer request was not written"); return }
        let counts = store.writeGroupCounts()
        #expect(counts.groups == 3 && counts.writes == 5 && counts.waiting == 0)
        #expect(try await store.session(offer.id)?.phase == .accepted)
    }

    /// The offer-expiry sweep marks offers in batches of `expiryBatch`, each one write in the queue of grouped writes:
    /// 250 offers are 3 writes there. Written apart from that queue, one after another, its batches took half the writer
    /// while requests waited for the rest.
    @Test func theExpirySweepWritesItsBatchesInTheQueueOfGroupedWrites() async throws {
        let store = try SQLiteStore(path: ":memory:")
        _ = try await store.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: now,
                                           plan: offerSetPlan("a", count: 250, cores: 1, start: now, now: now, lifetime: 10))
        let before = store.writeGroupCounts().writes
        #expect(SQLiteStore.expiryBatch == 100)
        #expect(try await store.expireOffers(now: now.addingTimeInterval(11)) == 250)
        #expect(store.writeGroupCounts().writes - before == 3)
        let phases = try await store.writer.read { db in try String.fetchAll(db, sql: "SELECT DISTINCT phase FROM session") }
        #expect(phases == ["EXPIRED"])
    }

    /// A write once asked for is written even when the task that asked is cancelled (it may lead its group, and
    /// others may wait on that group).
    @Test func aWriteIsCarriedOutWhenItsTaskIsCancelled() async throws {
        let store = try SQLiteStore(path: ":memory:")
        guard let offer = try await firstOffer(in: store) else { return }
        let accept = Task { [now] in try await store.changePhase(of: offer.id, to: .accepted, now: now, admit: nil) }
        accept.cancel()
        #expect(try await accept.value.phase == .accepted)
        #expect(try await store.session(offer.id)?.phase == .accepted)
    }

    /// The first offer of a set booked at once on the small facility (recorded as an issue when there is none).
    func firstOffer(in store: SQLiteStore) async throws -> SessionRecord? {
        let (facility, request) = (SmallFacility.facility, SmallFacility.request)
        guard case .created(_, let offers) = try await store.createOfferSet(
            idempotencyKey: nil, requestDigest: nil, facilities: [facility.id], now: now, plan: plannedOffers(facility, request, now: now)),
            let offer = offers.first
        else { Issue.record("no offer to accept"); return nil }
        return offer
    }

    /// A lone request is written at once, in a transaction of its own.
    @Test func aLoneRequestIsItsOwnGroup() async throws {
        let store = try SQLiteStore(path: ":memory:")
        for _ in 0..<3 { _ = try await SmallFacility.bookAtOnce(1, on: [store], now: now) }
        let counts = store.writeGroupCounts()
        #expect(counts.groups == 3 && counts.writes == 3)
    }
}

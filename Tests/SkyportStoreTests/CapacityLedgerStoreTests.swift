import Foundation
import SkyportCore
import SkyportStore
import SkyportTestSupport
import Synchronization
import Testing

/// The store's capacity ledger as it stands.
func ledger(of store: any BrokerStore) async -> CapacityLedger {
    if let sqlite = store as? SQLiteStore { return sqlite.capacityLedger() }
    if let postgres = store as? PostgresStore { return postgres.capacityLedger() }
    if let memory = store as? InMemoryStore { return await memory.capacityLedger() }
    Issue.record("a store without a ledger")
    return CapacityLedger()
}

/// The holds of a ledger without their session ids (two stores given the same writes make different ids), sorted.
func holdShapes(_ ledger: CapacityLedger) -> [String] {
    ledger.holds.values.map { h in
        "\(h.booking.facility.key) \(h.booking.cores)/\(h.booking.memory) \(h.booking.start.timeIntervalSince1970)-\(h.booking.end.timeIntervalSince1970) \(h.expires.map { "\($0.timeIntervalSince1970)" } ?? "-")"
    }.sorted()
}

/// A small facility (8 cores and 8 GiB, at most 4 cores a job) and a request for 3 to 4 cores of it: what the
/// overbooking tests book.
enum SmallFacility {
    static let facility = Facility.sample("c", limits: FacilityLimits(cores: 4, memory: 4), capacity: FacilityCapacity(cores: 8, memory: 8))
    static let request = NormalisedRequest(
        executable: ExecutableRequest(kind: .dockerContainer), cores: ResourceRange(min: 3, max: 4), memory: ResourceRange(min: 1, max: 2),
        duration: ISODuration(seconds: 3_600))

    /// `count` requests for it at once, sent to `stores` in turn; every offer they made.
    static func bookAtOnce(_ count: Int, on stores: [any BrokerStore], now: Date) async throws -> [SessionRecord] {
        try await withThrowingTaskGroup(of: [SessionRecord].self) { group in
            for i in 0..<count {
                let store = stores[i % stores.count]
                group.addTask {
                    guard case .created(_, let offers) = try await store.createOfferSet(
                        idempotencyKey: nil, requestDigest: nil, facilities: [facility.id], now: now, plan: plannedOffers(facility, request, now: now))
                    else { return [] }
                    return offers
                }
            }
            return try await group.reduce(into: [SessionRecord]()) { $0 += $1 }
        }
    }
}

/// The most cores and memory the offers hold at any one instant (a sweep over their intervals; an offer ending when
/// another starts does not overlap it).
func peakBooked(_ offers: [SessionRecord]) -> (cores: Int, memory: Int) {
    var edges: [(Date, Int, Int)] = []
    for o in offers { edges += [(o.start, o.cores, o.memory), (o.end, -o.cores, -o.memory)] }
    var cores = 0, memory = 0, peak = (cores: 0, memory: 0)
    for (_, c, m) in edges.sorted(by: { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }) {
        cores += c
        memory += m
        peak = (max(peak.cores, cores), max(peak.memory, memory))
    }
    return peak
}

/// A plan made by the real planner against the store's calendars: offers on `facility` for `request`.
func plannedOffers(_ facility: Facility, _ request: NormalisedRequest, now: Date) -> @Sendable (FacilityCalendars) throws -> (OfferSetRecord, [SessionRecord]) {
    { calendars in
        let plan = OfferPlanner().plan(
            request, candidates: [MatchCandidate(facility: facility, score: MatchScore(colocation: 0, headroom: 0))], calendars: calendars, now: now)
        let set = OfferSetRecord(id: UUID(), created: now, expires: now.addingTimeInterval(300), request: request)
        let sessions = plan.offers.enumerated().map { i, o in
            SessionRecord(
                id: UUID(), offerSet: set.id, facility: o.facility, facilityName: facility.name, phase: .offered, created: now, expires: o.expires,
                cores: o.cores, memory: o.memory, start: o.start, duration: o.duration, rank: i, executable: request.executable)
        }
        return (set, sessions)
    }
}

@Suite struct CapacityLedgerStoreTests {
    let now = TestDates.epoch

    /// Many requests booking one facility at once: the offers made never hold more than its capacity at any instant.
    @Test(arguments: StoreKind.allCases, [24, 200])
    func concurrentBookingsNeverOverbook(kind: StoreKind, parallel: Int) async throws {
        let store = try await kind.make()
        let offers = try await SmallFacility.bookAtOnce(parallel, on: [store], now: now)
        #expect(offers.count >= 4)
        let peak = peakBooked(offers)
        #expect(peak.cores <= 8 && peak.memory <= 8)
        let held = await ledger(of: store)
        #expect(held.holds.count == offers.count)
        #expect((held.calendar(SmallFacility.facility.id)?.peakBooked(from: now, to: now.addingTimeInterval(86_400)).cores ?? 0) <= 8)
    }

    /// An offer past its expiry stops holding for the next plan though nothing recorded the expiry; an accepted one holds on.
    @Test(arguments: StoreKind.allCases)
    func expiredOffersStopHoldingWithoutAnyWrite(kind: StoreKind) async throws {
        let store = try await kind.make()
        let offers = try await madeOffers(store, "a", count: 3, cores: 2, start: now, now: now, lifetime: 10)
        try #require(offers.count == 3)
        _ = try await store.changePhase(of: offers[0].id, to: .accepted, now: now.addingTimeInterval(5))
        let seen = Mutex<FacilityCalendars>([])
        let later = now.addingTimeInterval(11)
        _ = try await store.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: later) { calendars in
            seen.withLock { $0 = calendars }
            return try offerSetPlan("a", count: 0, cores: 1, start: later, now: later)(calendars)
        }
        #expect(seen.withLock { $0 }[FacilityID("a")]?.count == 1)
        #expect(await ledger(of: store).holds.keys.map { $0 } == [offers[0].id])
        // Recording the expiry later changes nothing more.
        #expect(try await store.expireOffers(now: later) == 0)  // the siblings were rejected by the acceptance
        #expect(await ledger(of: store).holds.count == 1)
    }

    /// Every kind of write (offers made, accepted with siblings rejected, rejected, cancelled, a worker's changes, other
    /// brokers' offers, retention) leaves the same holds in every store.
    @Test func everyStoreKeepsTheSameLedger() async throws {
        var shapes: [[String]] = []
        for kind in StoreKind.allCases {
            let store = try await kind.make()
            shapes.append(try await runScenario(store, now: now))
        }
        #expect(shapes.allSatisfy { $0 == shapes[0] })
        #expect(!shapes[0].isEmpty)
    }

    /// A store opened again on the same file rebuilds the ledger it had: the same holds and the same calendars.
    @Test func reopeningTheFileRebuildsTheSameLedger() async throws {
        let path = TemporaryFile.path("ledger.sqlite")
        let before: CapacityLedger
        do {
            let store = try SQLiteStore(path: path)
            _ = try await runScenario(store, now: now)
            before = store.capacityLedger()
        }
        let after = try SQLiteStore(path: path).capacityLedger()
        #expect(after.holds == before.holds)
        for f in ["a", "b", "broker"] { #expect(after.calendar(FacilityID(f)) == before.calendar(FacilityID(f))) }
        #expect(before.holds.count > 0)
    }

    /// Another process writing the same file: its offers count in the next plan here (the ledger is read again when
    /// the file's data version moved).
    @Test func offersBookedByAnotherConnectionToTheFileCount() async throws {
        let path = TemporaryFile.path("two.sqlite")
        let here = try SQLiteStore(path: path), there = try SQLiteStore(path: path)
        _ = try await there.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: now,
                                           plan: offerSetPlan("a", count: 2, cores: 3, start: now, now: now))
        let seen = Mutex<FacilityCalendars>([])
        let now = self.now
        _ = try await here.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: now) { calendars in
            seen.withLock { $0 = calendars }
            return try offerSetPlan("a", count: 0, cores: 1, start: now, now: now)(calendars)
        }
        #expect(seen.withLock { $0 }[FacilityID("a")]?.count == 2)
        #expect(here.capacityLedger().holds == there.capacityLedger().holds)
    }

    /// A facility's page lists the offers another process on the file booked, though this one has written nothing
    /// since (its ledger is read again first).
    @Test func aFacilitysHoldingsIncludeOffersBookedByAnotherConnectionToTheFile() async throws {
        let path = TemporaryFile.path("two-pages.sqlite")
        let here = try SQLiteStore(path: path), there = try SQLiteStore(path: path)
        guard case .created(_, let offers) = try await there.createOfferSet(
            idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: now, plan: offerSetPlan("a", count: 2, cores: 3, start: now, now: now))
        else { throw StoreError.notFound("set") }
        let held = try await here.holdings(of: FacilityID("a"), from: now, to: now.addingTimeInterval(86_400), limit: 10)
        #expect(Set(held.map(\.session)) == Set(offers.map(\.id)))
        #expect(held.allSatisfy { $0.phase == .offered })
    }

    /// Writes of every kind; returns the ledger's holds without ids.
    func runScenario(_ store: any BrokerStore, now: Date) async throws -> [String] {
        var sets: [[SessionRecord]] = []
        for (i, f) in ["a", "a", "a", "b", "b"].enumerated() {
            guard case .created(_, let offers) = try await store.createOfferSet(
                idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID(f)], now: now,
                plan: offerSetPlan(f, count: 3, cores: i + 1, start: now.addingTimeInterval(Double(i) * 60), now: now))
            else { throw StoreError.notFound("set") }
            sets.append(offers)
        }
        _ = try await store.changePhase(of: sets[0][1].id, to: .accepted, now: now)   // its siblings are rejected
        _ = try await store.changePhase(of: sets[1][0].id, to: .rejected, now: now)
        _ = try await store.changePhase(of: sets[2][2].id, to: .cancelled, now: now)
        _ = try await store.changePhase(of: sets[3][0].id, to: .accepted, now: now)
        _ = try await store.changePhase(of: sets[3][0].id, to: .cancelled, now: now)   // an accepted job cancelled
        // A forwarding worker moves an accepted session on, then ends one.
        _ = try await store.changePhase(of: sets[4][2].id, to: .accepted, now: now)
        let claimed = try await store.claimWork(worker: "w", now: now, until: now.addingTimeInterval(60), limit: 10)
        #expect(claimed.contains { $0.id == sets[4][2].id })
        _ = try await store.updateClaimed(sets[0][1].id, worker: "w", now: now) { $0.phase = .running }
        _ = try await store.updateClaimed(sets[4][2].id, worker: "w", now: now) { $0.phase = .completed }
        // Another broker's offers, stored while a set is assembled.
        let (shell, remote) = try offerSetPlan("broker", count: 2, cores: 1, start: now, now: now)([])
        try await store.insertOffers(remote, of: shell)
        return holdShapes(await ledger(of: store))
    }
}

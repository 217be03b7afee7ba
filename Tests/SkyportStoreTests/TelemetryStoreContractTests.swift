import Foundation
import SkyportCore
import SkyportStore
import Testing

/// What every store reports to telemetry, and the statistics it reads for `/metrics`.
@Suite struct TelemetryStoreContractTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var events: [TelemetryEvent] = []
        func append(_ e: TelemetryEvent) { lock.withLock { events.append(e) } }
        var all: [TelemetryEvent] { lock.withLock { events } }
        var takenOver: Int { all.reduce(0) { if case .forwardingClaimed(_, let t) = $1 { $0 + t } else { $0 } } }
        func take() -> [TelemetryEvent] { lock.withLock { defer { events = [] }; return events } }
    }

    func accepted(_ store: any BrokerStore) async throws -> UUID {
        guard case .created(_, let offers) = try await store.createOfferSet(
            idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: now,
            plan: offerSetPlan("a", count: 3, cores: 1, start: now, now: now))
        else { throw StoreError.notFound("set") }
        return try await store.changePhase(of: offers[0].id, to: .accepted, now: now).id
    }

    /// A store of `kind` reporting to a recorder, with one offer of a set of three accepted.
    func watched(_ kind: StoreKind) async throws -> (store: any BrokerStore, events: Recorder, accepted: UUID) {
        let store = try await kind.make()
        let events = Recorder()
        store.telemetry.connect(Telemetry { events.append($0) })
        return (store, events, try await accepted(store))
    }

    @Test(arguments: StoreKind.allCases)
    func everyPhaseChangeIsReportedOnceWhoeverWritesIt(kind: StoreKind) async throws {
        let (store, events, id) = try await watched(kind)
        // The acceptance, and the two siblings it rejected in the same write.
        #expect(Set(events.take()) == [
            .phaseChanged(from: .offered, to: .accepted, count: 1), .offersEnded(.accepted, count: 1),
            .phaseChanged(from: .offered, to: .rejected, count: 1), .offersEnded(.rejected, count: 1),
        ])
        // A worker's change; one that leaves the phase as it was is no change.
        _ = try await store.claimWork(worker: "w", now: now, until: now.addingTimeInterval(60), limit: 10)
        _ = try await store.updateClaimed(id, worker: "w", now: now) { $0.phase = .running }
        _ = try await store.updateClaimed(id, worker: "w", now: now) { $0.message = "still running" }
        #expect(events.take() == [.forwardingClaimed(sessions: 1, takenOver: 0), .phaseChanged(from: .accepted, to: .running, count: 1)])
        // Expiry, in bulk.
        _ = try await store.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: now,
                                           plan: offerSetPlan("a", count: 2, cores: 1, start: now, now: now))
        _ = try await store.expireOffers(now: now.addingTimeInterval(3600))
        let expired = events.take().filter { if case .phaseChanged(.offered, .expired, _) = $0 { true } else { false } }
        #expect(expired.reduce(0) { if case .phaseChanged(_, _, let n) = $1 { $0 + n } else { $0 } } == 2)
    }

    @Test(arguments: StoreKind.allCases)
    func onlyALeaseThatRanOutAtAnotherWorkerIsATakeover(kind: StoreKind) async throws {
        let (store, events, id) = try await watched(kind)
        // Held by a worker that died: its lease runs out, and another takes the session over.
        _ = try await store.claimWork(worker: "dead", now: now, until: now.addingTimeInterval(60), limit: 10)
        _ = try await store.claimWork(worker: "w", now: now.addingTimeInterval(61), until: now.addingTimeInterval(121), limit: 10)
        #expect(events.takenOver == 1)
        // Released with a hold-off after a failure: whoever claims it afterwards takes nothing over.
        try await store.release(id, worker: "w", until: now.addingTimeInterval(130))
        #expect(try await store.claimWork(worker: "other", now: now.addingTimeInterval(125), until: now.addingTimeInterval(185), limit: 10).isEmpty)
        _ = try await store.claimWork(worker: "other", now: now.addingTimeInterval(131), until: now.addingTimeInterval(191), limit: 10)
        #expect(events.takenOver == 1)
        // A worker's own job-list watch that lapsed is not taken over from anyone.
        try await store.watch(id, worker: "other", watcher: ForwardingMachine.watcher(of: "other"), until: now.addingTimeInterval(200))
        _ = try await store.claimWork(worker: "other", now: now.addingTimeInterval(201), until: now.addingTimeInterval(261), limit: 10)
        #expect(events.takenOver == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func statisticsCountSessionsByPhaseAndTheForwardingQueue(kind: StoreKind) async throws {
        let store = try await kind.make()
        let id = try await accepted(store)
        var stats = try await store.statistics(now: now)
        #expect(stats.sessions == [.accepted: 1, .rejected: 2])
        #expect(stats.queued == 1 && stats.leased == 0)
        #expect(stats.rows["session"] == 3 && stats.rows["offer_set"] == 1)
        _ = try await store.claimWork(worker: "w", now: now, until: now.addingTimeInterval(60), limit: 10)
        stats = try await store.statistics(now: now)
        #expect(stats.queued == 0 && stats.leased == 1)
        // Once the lease has run out the session is queued again.
        stats = try await store.statistics(now: now.addingTimeInterval(61))
        #expect(stats.queued == 1 && stats.leased == 0)
        _ = id
        if kind != .memory { #expect((stats.bytes ?? 0) > 0) }
    }
}

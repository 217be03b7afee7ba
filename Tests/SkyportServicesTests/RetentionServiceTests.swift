import Foundation
import Logging
import SkyportCore
import SkyportServices
import SkyportStore
import SkyportTestSupport
import Synchronization
import Testing

/// The retention service on an injected clock: it deletes at the time the policy says, never before, and pauses for
/// its interval between passes (on a virtual clock: no wall-clock time is asserted or waited for).
@Suite struct RetentionServiceTests {
    final class Dates: Sendable {
        let date = Mutex(Date(timeIntervalSince1970: 1_790_000_000))
        var now: Date { date.withLock { $0 } }
        func advance(_ seconds: TimeInterval) { date.withLock { $0 += seconds } }
    }

    /// How many passes ran and what they deleted in all (counters: a pass on a virtual clock follows the last at once).
    final class Passes: Sendable {
        let done = Mutex<(count: Int, deleted: RetentionSweep)>((0, RetentionSweep()))
        func record(_ sweep: RetentionSweep) { done.withLock { $0 = ($0.count + 1, $0.deleted + sweep) } }
        var count: Int { done.withLock { $0.count } }
        var deleted: RetentionSweep { done.withLock { $0.deleted } }
    }

    static func noSet(_ store: any BrokerStore, at now: Date) async throws -> UUID {
        guard case .created(let set, _) = try await store.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [], now: now, plan: { _ in
            (OfferSetRecord(id: UUID(), created: now, expires: now.addingTimeInterval(10), request: NormalisedRequest(executable: ExecutableRequest(kind: .tapQuery))), [])
        }) else { throw StoreError.conflict("not created") }
        return set.id
    }

    @Test(arguments: [false, true])
    func deletesWhenThePolicySaysAndSleepsItsIntervalBetweenPasses(sqlite: Bool) async throws {
        let store: any BrokerStore = sqlite ? try SQLiteStore(path: ":memory:") : InMemoryStore()
        let (dates, passes, clock) = (Dates(), Passes(), TestClock())
        let set = try await Self.noSet(store, at: dates.now)
        var logger = Logger(label: "retention-test")
        logger.logLevel = .critical
        let service = RetentionService(
            store: store, policy: RetentionPolicy(offers: 60, sessions: 600, uwsGrace: 0), interval: .seconds(30), logger: logger,
            now: { dates.now }, clock: clock, onPass: { passes.record($0) })
        let running = Task { try await service.run() }

        // Given passes at the start: the set (its offers end at +10 s) stays
        #expect(await eventually { passes.count >= 3 })
        #expect(try await store.offerSet(set) != nil)
        #expect(passes.deleted.isEmpty)
        // When time reaches +70 s, the next pass deletes it
        dates.advance(70)
        #expect(await eventually { passes.deleted.offerSets == 1 })
        #expect(try await store.offerSet(set) == nil)
        running.cancel()
        _ = await running.result
        // Every pause was the interval
        let sleeps = clock.sleeps
        #expect(!sleeps.isEmpty && sleeps.allSatisfy { $0 == .seconds(30) })
    }

    @Test func onePassWorksOffABacklogInBatches() async throws {
        let store = InMemoryStore()
        let dates = Dates()
        for _ in 0..<25 { _ = try await Self.noSet(store, at: dates.now) }
        var logger = Logger(label: "retention-test")
        logger.logLevel = .critical
        let service = RetentionService(
            store: store, policy: RetentionPolicy(offers: 0, sessions: 0, uwsGrace: 0, batch: 10), interval: .seconds(30), logger: logger,
            now: { dates.now.addingTimeInterval(20) })
        let sweep = try await service.pass()
        #expect(sweep.offerSets == 25 && sweep.batches == 4)  // one of UWS jobs, three of offer sets
        #expect(try await service.pass().offerSets == 0)
    }

    @Test(arguments: [false, true])
    func aPassDeletesAuditEventsAndUsagePastTheirRetentionInBatches(sqlite: Bool) async throws {
        let store: any BrokerStore = sqlite ? try SQLiteStore(path: ":memory:") : InMemoryStore()
        let dates = Dates()
        try await store.appendAudit((0..<25).map { i in
            AuditEvent(time: dates.now.addingTimeInterval(Double(i)), actor: "a#b", action: .ask, target: "offerset:\(i)")
        })
        var logger = Logger(label: "retention-test")
        logger.logLevel = .critical
        // Kept a day; at a day and 10.5 s the first 11 (numbered from 0 s to 10 s) are over, deleted 4 at a time.
        let service = RetentionService(
            store: store, policy: RetentionPolicy(batch: 4, audit: 86_400), interval: .seconds(30), logger: logger,
            now: { dates.now.addingTimeInterval(86_410.5) })
        #expect(try await service.pass().accounting == 11)
        #expect(try await store.audit(AuditQuery(limit: 1_000)).count == 14)
        #expect(try await service.pass().accounting == 0)
    }
}

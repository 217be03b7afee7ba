import Foundation
import SkyportCore
import SkyportStore
import Testing

/// The UWS job store's contract, run against every kind of store.
@Suite struct UWSJobStoreContractTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func job(_ id: String, owner: String = "alice", minutesAgo: Double = 0, runId: String? = nil) -> UWSJobRecord {
        UWSJobRecord(
            id: id, owner: owner, type: "execute", parameters: [UWSParameter(id: "request", value: "{\"executable\": {}}")],
            runId: runId, created: now.addingTimeInterval(-minutesAgo * 60), executionDuration: 60,
            destruction: now.addingTimeInterval(86_400))
    }

    @Test(arguments: StoreKind.allCases)
    func storedJobComesBackWholeAndIdsAreUnique(kind: StoreKind) async throws {
        let store = try await kind.make()
        var stored = job("j1", runId: "run-1")
        stored.quote = now.addingTimeInterval(3_600)
        stored.errorDetail = "line one\nline two"
        try await store.insertUWSJob(stored)
        #expect(try await store.uwsJob("j1") == stored)
        #expect(try await store.uwsJob("missing") == nil)
        await #expect(throws: StoreError.duplicate("UWS job j1")) { try await store.insertUWSJob(self.job("j1", owner: "bob")) }
        #expect(try await store.uwsJob("j1")?.owner == "alice")
    }

    @Test(arguments: StoreKind.allCases)
    func listsOnlyTheOwnersJobsNewestFirstWithFilters(kind: StoreKind) async throws {
        let store = try await kind.make()
        try await store.insertUWSJob(job("old", minutesAgo: 30))
        try await store.insertUWSJob(job("mid", minutesAgo: 20))
        try await store.insertUWSJob(job("new", minutesAgo: 10))
        try await store.insertUWSJob(job("bobs", owner: "bob", minutesAgo: 5))
        _ = try await store.updateUWSJob("mid") { $0.phase = .error }

        func ids(_ q: UWSJobQuery) async throws -> [String] { try await store.uwsJobs(q).map(\.job.id) }
        #expect(try await ids(UWSJobQuery(owner: "alice", now: now)) == ["new", "mid", "old"])
        #expect(try await ids(UWSJobQuery(owner: "bob", now: now)) == ["bobs"])
        #expect(try await ids(UWSJobQuery(owner: "carol", now: now)).isEmpty)
        #expect(try await ids(UWSJobQuery(owner: "alice", last: 2, now: now)) == ["new", "mid"])
        #expect(try await ids(UWSJobQuery(owner: "alice", after: now.addingTimeInterval(-25 * 60), now: now)) == ["new", "mid"])
        #expect(try await ids(UWSJobQuery(owner: "alice", phases: [.error], now: now)) == ["mid"])
        #expect(try await ids(UWSJobQuery(owner: "alice", phases: [.error, .pending], now: now)) == ["new", "mid", "old"])
        // Filters combine: LAST counts only the jobs the other filters let through.
        #expect(try await ids(UWSJobQuery(owner: "alice", phases: [.pending], last: 1, now: now)) == ["new"])
        #expect(try await store.uwsJobs(UWSJobQuery(owner: "alice", phases: [.error], now: now)).map(\.phase) == [.error])
        // A destroyed job is gone from every listing.
        #expect(try await ids(UWSJobQuery(owner: "alice", now: now.addingTimeInterval(86_401))).isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func phaseIsReadFromTheLinkedSession(kind: StoreKind) async throws {
        let store = try await kind.make()
        guard case .created(let set, let offers) = try await store.createOfferSet(
            idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: now,
            plan: offerSetPlan("a", count: 2, cores: 1, start: now, now: now))
        else { Issue.record("not created"); return }
        try await store.insertUWSJob(job("linked"))
        _ = try await store.updateUWSJob("linked") { j in (j.phase, j.session, j.offerSet) = (.queued, offers[0].id, set.id) }
        func listed() async throws -> UWSPhase? { try await store.uwsJobs(UWSJobQuery(owner: "alice", now: now)).first?.phase }

        _ = try await store.changePhase(of: offers[0].id, to: .accepted, now: now)
        #expect(try await listed() == .queued)
        #expect(try await store.uwsJobs(UWSJobQuery(owner: "alice", phases: [.queued], now: now)).count == 1)
        _ = try await store.changePhase(of: offers[0].id, to: .cancelled, now: now)
        #expect(try await listed() == .aborted)
        #expect(try await store.uwsJobs(UWSJobQuery(owner: "alice", phases: [.queued], now: now)).isEmpty)
        #expect(try await store.uwsJobs(UWSJobQuery(owner: "alice", phases: [.aborted], now: now)).map(\.job.id) == ["linked"])
    }

    @Test(arguments: StoreKind.allCases)
    func updateIsAllOrNothingAndDeleteIsOnce(kind: StoreKind) async throws {
        let store = try await kind.make()
        try await store.insertUWSJob(job("j"))
        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            try await store.updateUWSJob("j") { j in j.executionDuration = 999; throw Refused() }
        }
        #expect(try await store.uwsJob("j")?.executionDuration == 60)
        let updated = try await store.updateUWSJob("j") { $0.executionDuration = 120 }
        #expect(updated.executionDuration == 120)
        #expect(try await store.uwsJob("j")?.executionDuration == 120)
        await #expect(throws: StoreError.notFound("UWS job nope")) { try await store.updateUWSJob("nope") { _ in } }
        #expect(try await store.deleteUWSJob("j"))
        #expect(try await !store.deleteUWSJob("j"))
        #expect(try await store.uwsJob("j") == nil)
    }

    @Test func sessionPhasesMapToUWSPhases() {
        let expected: [SessionPhase: UWSPhase] = [
            .accepted: .queued, .waiting: .queued, .preparing: .queued, .available: .executing, .running: .executing,
            .completed: .completed, .failed: .error, .cancelled: .aborted,
        ]
        for (session, uws) in expected { #expect(UWSJobRecord.uwsPhase(for: session) == uws, "\(session)") }
        let pending = UWSJobRecord(id: "p", owner: "o", type: "execute", parameters: [], created: now)
        #expect(pending.phase(session: nil) == .pending)
        var linked = pending
        linked.session = UUID()
        #expect(linked.phase(session: .running) == .executing)
        #expect(linked.phase(session: nil) == .unknown)
    }
}

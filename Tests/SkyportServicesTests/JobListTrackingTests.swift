import Foundation
import Logging
import SkyportCore
@testable import SkyportServices
import SkyportStore
import SkyportTestSupport
import Synchronization
import Testing

/// A UWS service whose job list can be read by phase: jobs are created PENDING, run to EXECUTING, and move on only
/// when the test says so. Its list honours `PHASE`, ignores it, or shows only the most recent jobs (a truncated list).
final class ListedUWSFacility: FacilityExecutor, JobListing {
    enum Listing { case honoursFilter, ignoresFilter, lastOnly(Int) }
    struct Counts { var lists = 0, reads = 0, waits = 0, aborts = 0 }
    struct State {
        /// Job id → phase, and the ids in creation order. One job of someone else ended long ago.
        var jobs: [String: UWSPhase] = ["old": .completed]
        var order: [String] = ["old"]
        var counts = Counts()
        /// Reads of single jobs wait while this is set (they are counted as they begin); so do reads of the list
        /// while `listsHeld` is (`listsWaiting` of them now).
        var readsHeld = false
        var listsHeld = false
        var listsWaiting = 0
    }
    let state = Mutex(State())
    let listing: Listing
    static let list = "http://127.0.0.1:1/tap/async"

    /// The phase a job enters when it is started.
    let startsAs: UWSPhase

    init(_ listing: Listing = .honoursFilter, startsAs: UWSPhase = .executing) {
        self.listing = listing
        self.startsAs = startsAs
    }

    static func id(_ url: String?) -> String { String((url ?? "").split(separator: "/").last ?? "") }

    func status(_ phase: UWSPhase) -> RemoteStatus {
        RemoteStatus(
            phase: RemoteStatus.sessionPhase(for: phase), remotePhase: .uws(phase),
            results: phase == .completed ? [UWSResult(id: "result", href: "http://127.0.0.1:1/result.xml")] : [])
    }

    /// Moves every job of the test to `phase`.
    func finishAll(_ phase: UWSPhase = .completed) {
        state.withLock { s in for id in s.order where id != "old" { s.jobs[id] = phase } }
    }

    /// Moves the test's `n`-th job (from 0, in creation order) to `phase`.
    func finish(_ n: Int, _ phase: UWSPhase = .completed) {
        state.withLock { s in s.jobs[s.order.filter { $0 != "old" }[n]] = phase }
    }

    func holdReads(_ held: Bool) { state.withLock { $0.readsHeld = held } }
    func holdLists(_ held: Bool) { state.withLock { $0.listsHeld = held } }
    var listsWaiting: Int { state.withLock { $0.listsWaiting } }

    var counts: Counts { state.withLock { $0.counts } }

    func submit(_ session: SessionRecord, to endpoint: Endpoint) async throws -> String {
        state.withLock { s in
            let id = "j\(s.order.count)"
            s.jobs[id] = .pending
            s.order.append(id)
            return "\(Self.list)/\(id)"
        }
    }

    func find(_ session: SessionRecord, at endpoint: Endpoint) async throws -> String? { nil }

    func start(_ job: RemoteJob, for session: SessionRecord) async throws -> RemoteStatus {
        state.withLock { s in
            s.jobs[Self.id(job.url)] = startsAs
            return status(startsAs)
        }
    }

    /// One blocking wait: returns when the phase differs from the one recorded, or after `wait` seconds.
    func status(_ job: RemoteJob, for session: SessionRecord, wait: Int) async throws -> RemoteStatus {
        state.withLock { $0.counts.waits += 1 }
        let deadline = ContinuousClock.now + .seconds(wait)
        while true {
            let phase = state.withLock { $0.jobs[Self.id(job.url)] ?? .unknown }
            if .uws(phase) != job.phase || ContinuousClock.now >= deadline { return status(phase) }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    func abort(_ job: RemoteJob, for session: SessionRecord) async throws -> RemoteStatus {
        state.withLock { s in
            s.counts.aborts += 1
            s.jobs[Self.id(job.url)] = .aborted
            return RemoteStatus(phase: .cancelled, remotePhase: .uws(.aborted))
        }
    }

    func listsJobs(at endpoint: Endpoint) -> Bool { endpoint.kind == .uws }

    func jobs(at endpoint: Endpoint, in phases: [UWSPhase]) async throws -> [UWSJobRef] {
        if state.withLock({ $0.listsHeld }) {
            state.withLock { $0.listsWaiting += 1 }
            while state.withLock({ $0.listsHeld }) { try await Task.sleep(for: .milliseconds(5)) }
            state.withLock { $0.listsWaiting -= 1 }
        }
        return state.withLock { s in
            s.counts.lists += 1
            let all = s.order.map { UWSJobRef(id: $0, phase: s.jobs[$0]!) }
            switch listing {
            case .honoursFilter: return all.filter { phases.contains($0.phase) }
            case .ignoresFilter: return all
            case .lastOnly(let n): return Array(all.filter { phases.contains($0.phase) }.suffix(n))
            }
        }
    }

    func read(_ job: RemoteJob) async throws -> RemoteStatus {
        state.withLock { $0.counts.reads += 1 }
        while state.withLock({ $0.readsHeld }) { try await Task.sleep(for: .milliseconds(5)) }
        return state.withLock { status($0.jobs[Self.id(job.url)] ?? .unknown) }
    }
}

/// What the tracker reported, as the composition root would turn it into metrics.
final class TrackingObserved: Sendable {
    let state = Mutex((reads: 0, left: 0, watching: 0))
    var left: Int { state.withLock { $0.left } }
    var watching: Int { state.withLock { $0.watching } }

    func install(in settings: inout ForwardingService.Settings) {
        settings.listRead = { _ in self.state.withLock { $0.reads += 1 } }
        settings.listLeft = { self.state.withLock { $0.left += 1 } }
        settings.watching = { n in self.state.withLock { $0.watching = n } }
    }
}

@Suite struct JobListTrackingTests {
    /// Settings where every job goes to its list (minimum 1) and a blocking wait would hold its slot for long.
    static func settings(_ observed: TrackingObserved, minimum: Int = 1) -> ForwardingService.Settings {
        var s = ForwardingService.Settings.fast
        s.wait = 20
        s.concurrency = 2
        s.listMinimum = minimum
        s.listInterval = .milliseconds(20)
        observed.install(in: &s)
        return s
    }

    /// Runs a worker over `facility` while `body` runs.
    static func withWorker(
        _ h: ForwardingHarness, _ facility: ListedUWSFacility, _ settings: ForwardingService.Settings, worker: String = "w1",
        _ body: () async throws -> Void
    ) async throws {
        try await withService(h, facility, settings, worker: worker) { _ in try await body() }
    }

    /// Runs a worker over `facility` while `body` runs with its service.
    static func withService(
        _ h: ForwardingHarness, _ facility: ListedUWSFacility, _ settings: ForwardingService.Settings, worker: String = "w1",
        _ body: (ForwardingService) async throws -> Void
    ) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let service = ForwardingService(store: h.store, executors: [.uws: facility], settings: settings, worker: worker, logger: logger)
        let task = Task { try await service.run() }
        defer { task.cancel() }
        try await body(service)
        task.cancel()
        _ = await task.result
    }

    /// Whether every session reaches `phase` (and `also` holds) within the generous `eventually` time.
    static func eventuallyAll(
        _ h: ForwardingHarness, _ ids: [UUID], _ phase: SessionPhase, also: @escaping () -> Bool = { true }
    ) async throws -> Bool {
        try await eventually {
            var all = true
            for id in ids where try await h.store.session(id)?.phase != phase { all = false }
            return all && also()
        }
    }

    @Test(arguments: ServiceStoreKind.allCases)
    func manyJobsAreFollowedByReadingTheirListWithoutAWaitOrASlotEach(kind: ServiceStoreKind) async throws {
        let h = try ForwardingHarness(kind)
        let ids = try await h.acceptedSessions(6)
        let facility = ListedUWSFacility()
        let observed = TrackingObserved()
        try await Self.withWorker(h, facility, Self.settings(observed)) { () async throws in
            // Six jobs run with two worker slots: the watched ones hold none.
            #expect(try await Self.eventuallyAll(h, ids, .running) { observed.watching == 6 })
            facility.finishAll()
            #expect(try await Self.eventuallyAll(h, ids, .completed))
        }
        let sessions = try await ids.asyncMap { try #require(try await h.store.session($0)) }
        #expect(sessions.allSatisfy { $0.remote?.results.map(\.id) == ["result"] && $0.message == "completed at TAP" })
        let counts = facility.counts
        #expect(counts.waits == 0)
        #expect(counts.reads == 6)  // each job read once, when its list showed it had moved
        #expect(counts.lists >= 1)
        #expect(observed.left == 0)
    }

    /// The list goes on being read while the jobs it showed to have moved are read (a slow read does not hold up
    /// seeing the next change), and a job being read is not read again when the next list still leaves it out.
    @Test func theListIsReadOnWhileMovedJobsAreReadAndNoJobIsReadTwice() async throws {
        let h = try ForwardingHarness(.sqlite)
        let ids = try await h.acceptedSessions(3)
        let facility = ListedUWSFacility()
        let observed = TrackingObserved()
        try await Self.withWorker(h, facility, Self.settings(observed)) { () async throws in
            #expect(try await Self.eventuallyAll(h, ids, .running) { observed.watching == 3 })
            facility.holdReads(true)
            facility.finish(0)
            #expect(await eventually { facility.counts.reads == 1 })
            let lists = facility.counts.lists
            #expect(await eventually { facility.counts.lists >= lists + 3 })  // read on, and each read leaves job 0 out
            facility.finish(1)
            #expect(await eventually { facility.counts.reads == 2 })  // seen while the first read still waits
            facility.holdReads(false)
            let store = h.store
            func phases() async throws -> [SessionPhase] { try await ids.asyncMap { try await store.session($0)?.phase ?? .failed } }
            #expect(try await eventually { try await phases().filter { $0 == .completed }.count == 2 })
            #expect(try await phases().filter { $0 == .running }.count == 1)  // the third job still runs
        }
        #expect(facility.counts.reads == 2)  // each moved job read once
        #expect(observed.left == 0)
    }

    /// A list read whose watches were taken before a session was given back, and that ends after the session is
    /// followed again in its new phase, says nothing about the new watch: the list is not taken to be truncated.
    @Test func aListReadFromBeforeASessionWasFollowedAgainDoesNotJudgeItsNewWatch() async throws {
        let h = try ForwardingHarness(.sqlite)
        let ids = try await h.acceptedSessions(3)
        let facility = ListedUWSFacility(startsAs: .queued)
        let observed = TrackingObserved()
        try await Self.withService(h, facility, Self.settings(observed)) { service in
            let tracker = try #require(service.tracker)
            #expect(await eventually { tracker.watching == 3 })  // watched in QUEUED
            facility.holdReads(true)
            facility.finish(0, .executing)
            #expect(await eventually { facility.counts.reads == 1 })  // the list showed it gone from QUEUED
            facility.holdLists(true)
            #expect(await eventually { facility.listsWaiting == 1 })  // a list read that took the old watch waits
            facility.holdReads(false)
            // The worker records EXECUTING from what was read, and follows the job again, in EXECUTING.
            let store = h.store
            #expect(try await eventually {
                var executing = 0
                for id in ids where try await store.session(id)?.remote?.phase == .uws(.executing) { executing += 1 }
                return executing == 1 && tracker.watching == 3
            })
            let lists = facility.counts.lists
            facility.holdLists(false)  // it ends without the job in QUEUED, where the old watch had it
            #expect(await eventually { facility.counts.lists >= lists + 2 })
            facility.finishAll()
            #expect(try await Self.eventuallyAll(h, ids, .completed))
        }
        #expect(observed.left == 0)
        #expect(facility.counts.reads == 4)  // the moved job when it moved, then each job once at its end
    }

    @Test func aListThatIgnoresPhaseIsLeftAndItsJobsAreFollowedOneByOne() async throws {
        let h = try ForwardingHarness(.sqlite)
        let ids = try await h.acceptedSessions(3)
        let facility = ListedUWSFacility(.ignoresFilter)
        let observed = TrackingObserved()
        var settings = Self.settings(observed)
        settings.wait = 1
        settings.concurrency = 8
        try await Self.withWorker(h, facility, settings) { () async throws in
            #expect(await eventually { observed.left == 1 && facility.counts.waits >= 3 })
            facility.finishAll()
            let ok = try await Self.eventuallyAll(h, ids, .completed)
            let stored = try await ids.asyncMap { try await h.store.session($0) }
            #expect(ok, "\(stored)  \(facility.counts)")
        }
        #expect(facility.counts.lists == 1)  // and not again for `retry`
    }

    @Test func aListThatLeavesOutActiveJobsIsLeft() async throws {
        let h = try ForwardingHarness(.sqlite)
        let ids = try await h.acceptedSessions(4)
        let facility = ListedUWSFacility(.lastOnly(2))
        let observed = TrackingObserved()
        var settings = Self.settings(observed)
        settings.wait = 1
        settings.concurrency = 8
        try await Self.withWorker(h, facility, settings) { () async throws in
            #expect(await eventually { observed.left == 1 })
            #expect(try await Self.eventuallyAll(h, ids, .running))  // nothing was taken for an end
            facility.finishAll(.error)
            #expect(try await Self.eventuallyAll(h, ids, .failed))
        }
    }

    @Test func fewJobsAreFollowedOneByOne() async throws {
        let h = try ForwardingHarness(.sqlite)
        let ids = try await h.acceptedSessions(2)
        let facility = ListedUWSFacility()
        let observed = TrackingObserved()
        var settings = Self.settings(observed, minimum: 8)
        settings.wait = 1
        try await Self.withWorker(h, facility, settings) { () async throws in
            #expect(await eventually { facility.counts.waits >= 2 })
            facility.finishAll()
            #expect(try await Self.eventuallyAll(h, ids, .completed))
        }
        #expect(facility.counts.lists == 0)
    }

    @Test(arguments: ServiceStoreKind.allCases)
    func aCancelledWatchedSessionIsAbortedWithoutWaitingForTheWatchToEnd(kind: ServiceStoreKind) async throws {
        let h = try ForwardingHarness(kind)
        let ids = try await h.acceptedSessions(1)
        let facility = ListedUWSFacility()
        let observed = TrackingObserved()
        var settings = Self.settings(observed)
        settings.lease = .seconds(3600)  // a watch that only the cancel can end within the test
        try await Self.withWorker(h, facility, settings) { () async throws in
            #expect(await eventually { observed.watching == 1 })
            _ = try await h.store.changePhase(of: ids[0], to: .cancelled, now: Date())
            let store = h.store, id = ids[0]
            #expect(try await eventually { try await store.session(id)?.remote?.phase == .uws(.aborted) })
        }
        #expect(facility.counts.aborts == 1)
        #expect(try await h.store.session(ids[0])?.phase == .cancelled)
    }

    @Test(arguments: ServiceStoreKind.allCases)
    func watchedSessionsAreGivenBackWhenTheWorkerStops(kind: ServiceStoreKind) async throws {
        let h = try ForwardingHarness(kind)
        let ids = try await h.acceptedSessions(3)
        let facility = ListedUWSFacility()
        let observed = TrackingObserved()
        try await Self.withWorker(h, facility, Self.settings(observed)) { () async throws in
            #expect(await eventually { observed.watching == 3 })
        }
        let now = Date()
        let claimed = try await h.store.claimWork(worker: "next", now: now, until: now.addingTimeInterval(60), limit: 10)
        #expect(Set(claimed.map(\.id)) == Set(ids))
    }

    /// The stores' side: a watch keeps workers off a session until it is given back, renewed or lapsed, and a client's
    /// change frees a watched session at once, but never cuts a worker's claim short.
    @Test(arguments: ServiceStoreKind.allCases)
    func aWatchHoldsASessionUntilGivenBackCancelledOrLapsed(kind: ServiceStoreKind) async throws {
        let h = try ForwardingHarness(kind)
        let ids = try await h.acceptedSessions(3)
        let t = Date()
        let store = h.store
        _ = try await store.claimWork(worker: "w", now: t, until: t.addingTimeInterval(60), limit: 10)
        for (i, id) in ids.enumerated() {
            _ = try await store.updateClaimed(id, worker: "w", now: t) {
                $0.phase = .running
                $0.remote = RemoteJob(
                    endpoint: Endpoint(kind: .uws, url: ListedUWSFacility.list), stage: .created(url: "\(ListedUWSFacility.list)/j\(i)"),
                    phase: .uws(.executing))
            }
        }
        let watcher = ForwardingMachine.watcher(of: "w")
        for id in ids { try await store.watch(id, worker: "w", watcher: watcher, until: t.addingTimeInterval(60)) }
        try await store.watch(ids[0], worker: "other", watcher: ForwardingMachine.watcher(of: "other"), until: t.addingTimeInterval(6000))
        func claim(_ worker: String, at seconds: TimeInterval) async throws -> [UUID] {
            try await store.claimWork(worker: worker, now: t.addingTimeInterval(seconds), until: t.addingTimeInterval(seconds + 60), limit: 10).map(\.id)
        }
        #expect(try await claim("w2", at: 30).isEmpty)
        try await store.renewWatch(ids, watcher: watcher, until: t.addingTimeInterval(120))
        #expect(try await claim("w2", at: 90).isEmpty)
        try await store.unwatch([ids[0]], watcher: watcher)
        #expect(try await claim("w2", at: 90) == [ids[0]])
        // The client cancels a watched session: it is free at once (its job must be aborted now).
        _ = try await store.changePhase(of: ids[1], to: .cancelled, now: t.addingTimeInterval(91))
        #expect(try await claim("w3", at: 91) == [ids[1]])
        // A worker's claim is not cut short by the client: w2 may be talking to the facility about it.
        _ = try await store.changePhase(of: ids[0], to: .cancelled, now: t.addingTimeInterval(92))
        #expect(try await claim("w4", at: 92).isEmpty)
        // The watch lapses when it is not renewed.
        #expect(try await claim("w5", at: 121) == [ids[2]])
    }
}

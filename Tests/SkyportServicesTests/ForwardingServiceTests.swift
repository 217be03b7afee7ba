import Foundation
import Logging
import SkyportCore
import SkyportServices
import SkyportStore
import Synchronization
import Testing

/// A facility that behaves like a UWS service: jobs go QUEUED → EXECUTING → COMPLETED (or ERROR) as they are polled.
final class FakeUWSFacility: FacilityExecutor {
    struct Job {
        var runId: String
        var phase: UWSPhase
        var polls = 0
    }
    let state = Mutex<(jobs: [String: Job], submits: Int, aborts: Int, calls: Int, concurrent: Int, maxConcurrent: Int)>(([:], 0, 0, 0, 0, 0))
    let pollsToFinish: Int
    let finalPhase: UWSPhase
    let unreachable: Bool
    let callDelay: Duration

    init(pollsToFinish: Int = 2, finalPhase: UWSPhase = .completed, unreachable: Bool = false, callDelay: Duration = .zero) {
        self.pollsToFinish = pollsToFinish
        self.finalPhase = finalPhase
        self.unreachable = unreachable
        self.callDelay = callDelay
    }

    struct Unreachable: Error {}

    private func call<T>(_ body: () throws -> T) async throws -> T {
        state.withLock { $0.calls += 1; $0.concurrent += 1; $0.maxConcurrent = max($0.maxConcurrent, $0.concurrent) }
        defer { state.withLock { $0.concurrent -= 1 } }
        if callDelay > .zero { try await Task.sleep(for: callDelay) }
        if unreachable { throw Unreachable() }
        return try body()
    }

    func status(of job: Job) -> RemoteStatus {
        RemoteStatus(
            phase: RemoteStatus.sessionPhase(for: job.phase), remotePhase: .uws(job.phase),
            results: job.phase == .completed ? [UWSResult(id: "result", href: "http://fake/\(job.runId)/result.xml")] : [],
            error: job.phase == .error ? "query failed: no such table" : nil)
    }

    func submit(_ session: SessionRecord, to endpoint: Endpoint) async throws -> String {
        try await call {
            state.withLock { s in
                s.submits += 1
                let url = "http://fake/jobs/\(s.submits)"
                s.jobs[url] = Job(runId: session.id.uuidString, phase: .pending)
                return url
            }
        }
    }

    func find(_ session: SessionRecord, at endpoint: Endpoint) async throws -> String? {
        try await call { state.withLock { s in s.jobs.first { $0.value.runId == session.id.uuidString }?.key } }
    }

    func start(_ remote: RemoteJob, for session: SessionRecord) async throws -> RemoteStatus {
        let url = remote.url ?? ""
        return try await call {
            state.withLock { s in
                s.jobs[url]?.phase = .queued
                return status(of: s.jobs[url] ?? Job(runId: "", phase: .unknown))
            }
        }
    }

    func status(_ remote: RemoteJob, for session: SessionRecord, wait: Int) async throws -> RemoteStatus {
        let url = remote.url ?? ""
        return try await call {
            state.withLock { s in
                guard var job = s.jobs[url] else { return RemoteStatus(phase: .failed, remotePhase: .uws(.unknown), error: "no such job") }
                if !job.phase.isFinal {
                    job.polls += 1
                    job.phase = job.polls >= pollsToFinish ? finalPhase : .executing
                }
                s.jobs[url] = job
                return status(of: job)
            }
        }
    }

    func abort(_ remote: RemoteJob, for session: SessionRecord) async throws -> RemoteStatus {
        let url = remote.url ?? ""
        return try await call {
            state.withLock { s in
                s.aborts += 1
                s.jobs[url]?.phase = .aborted
                return RemoteStatus(phase: .cancelled, remotePhase: .uws(.aborted))
            }
        }
    }
}

enum ServiceStoreKind: String, CaseIterable { case memory, sqlite }

struct ForwardingHarness {
    let store: any BrokerStore
    let path: String

    init(_ kind: ServiceStoreKind, path: String? = nil) throws {
        let path = path ?? FileManager.default.temporaryDirectory.appendingPathComponent("fwd-\(UUID().uuidString).sqlite").path
        self.path = path
        store = kind == .memory ? InMemoryStore() : try SQLiteStore(path: path)
    }

    /// A registered UWS facility and `count` accepted sessions on it.
    func acceptedSessions(_ count: Int, callback: String? = nil) async throws -> [UUID] {
        let t = Date()
        if try await store.facility(FacilityID("tap")) == nil {
            try await store.insertFacility(Facility(
                id: FacilityID("tap"), name: "TAP", endpoints: [Endpoint(kind: .uws, url: "http://127.0.0.1:1/tap/async")],
                accepts: [.tapQuery], owner: "op", created: t, modified: t))
        }
        var ids: [UUID] = []
        for _ in 0..<count {
            guard case .created(_, let offers) = try await store.createOfferSet(
                idempotencyKey: nil, requestDigest: nil, facilities: [], now: t,
                plan: { _ in
                    let set = OfferSetRecord(id: UUID(), created: t, expires: t.addingTimeInterval(300), request: NormalisedRequest(executable: ExecutableRequest(kind: .tapQuery)))
                    var session = SessionRecord(
                        id: UUID(), offerSet: set.id, facility: FacilityID("tap"), facilityName: "TAP", phase: .offered, created: t,
                        expires: t.addingTimeInterval(300), cores: 1, memory: 1, start: t, duration: ISODuration(seconds: 600), rank: 0,
                        executable: ExecutableRequest(kind: .tapQuery, parameters: ["QUERY": "SELECT 1"]))
                    session.callback = callback
                    return (set, [session])
                })
            else { throw StoreError.conflict("no offer") }
            _ = try await store.changePhase(of: offers[0].id, to: .accepted, now: t)
            ids.append(offers[0].id)
        }
        return ids
    }

    /// Runs a forwarding worker until `done` holds for the stored sessions (or `seconds` pass: a guard against hanging,
    /// long because the suites share 2 cores, where a 60 s guard once ran out for work that takes 1 s alone).
    func runWorker(
        _ executor: FakeUWSFacility, notifier: (any Notifier)? = nil, settings: ForwardingService.Settings = .fast, worker: String = "w1", seconds: Double = 300,
        until done: @escaping @Sendable ([SessionRecord]) -> Bool, ids: [UUID]
    ) async throws -> [SessionRecord] {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let service = ForwardingService(
            store: store, executors: [.uws: executor], notifier: notifier, settings: settings, worker: worker, logger: logger)
        let task = Task { try await service.run() }
        defer { task.cancel() }
        let deadline = ContinuousClock.now + .seconds(seconds)
        var sessions: [SessionRecord] = []
        while ContinuousClock.now < deadline {
            sessions = try await ids.asyncMap { try #require(try await store.session($0)) }
            if done(sessions) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        task.cancel()
        _ = await task.result
        return sessions
    }
}

extension ForwardingService.Settings {
    static var fast: Self {
        var s = Self()
        s.idle = .milliseconds(10)
        s.lease = .seconds(30)  // never lapses while one worker drives a session, however loaded the machine
        s.wait = 1
        s.maxFailures = 3
        return s
    }
}

extension Array {
    func asyncMap<T>(_ f: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await f(e)) }
        return out
    }
}

/// Records the notices it is given; fails every time when asked to.
final class RecordingNotifier: Notifier {
    let notices = Mutex<[(String, SessionNotice)]>([])
    let failing: Bool
    init(failing: Bool = false) { self.failing = failing }
    struct Down: Error {}
    func notify(_ url: String, _ notice: SessionNotice) async throws {
        notices.withLock { $0.append((url, notice)) }
        if failing { throw Down() }
    }
}

@Suite struct ForwardingServiceTests {
    @Test(arguments: ServiceStoreKind.allCases)
    func anEndedSessionNotifiesItsCallbackOnce(kind: ServiceStoreKind) async throws {
        let h = try ForwardingHarness(kind)
        let ids = try await h.acceptedSessions(1, callback: "http://127.0.0.1:9/hook")
        let notifier = RecordingNotifier()
        let sessions = try await h.runWorker(
            FakeUWSFacility(pollsToFinish: 1), notifier: notifier, until: { $0.allSatisfy { $0.notified == true } }, ids: ids)
        #expect(sessions.first?.phase == .completed)
        let notices = notifier.notices.withLock { $0 }
        #expect(notices.count == 1)
        #expect(notices.first?.0 == "http://127.0.0.1:9/hook")
        #expect(notices.first?.1.phase == .completed)
        #expect(notices.first?.1.results.count == 1)
    }

    @Test func aCallbackThatFailsIsGivenUpNotRetriedForever() async throws {
        let h = try ForwardingHarness(.sqlite)
        let ids = try await h.acceptedSessions(1, callback: "http://127.0.0.1:9/hook")
        let notifier = RecordingNotifier(failing: true)
        let sessions = try await h.runWorker(
            FakeUWSFacility(pollsToFinish: 1, finalPhase: .error), notifier: notifier, until: { $0.allSatisfy { $0.notified == true } }, ids: ids)
        #expect(sessions.first?.phase == .failed)
        #expect(sessions.first?.notified == true)
        #expect(notifier.notices.withLock { $0.count } == 1)
        #expect(try await h.store.claimWork(worker: "x", now: Date().addingTimeInterval(3600), until: Date().addingTimeInterval(3700), limit: 5).isEmpty)
    }

    /// SQLite claims sessions never leased (or given back) first, then those whose lease ran out, oldest first, each
    /// only as far as the limit asks; sessions still leased wait.
    @Test func sqliteClaimsFreeSessionsFirstThenTheOldestLapsedLeases() async throws {
        let h = try ForwardingHarness(.sqlite)
        let ids = try await h.acceptedSessions(4)
        let t = Date()
        #expect(try await h.store.claimWork(worker: "w", now: t, until: t.addingTimeInterval(30), limit: 10).count == 4)
        try await h.store.release(ids[0], worker: "w", until: t.addingTimeInterval(20))
        try await h.store.release(ids[1], worker: "w", until: t.addingTimeInterval(10))
        try await h.store.release(ids[2], worker: "w", until: nil)
        // ids[3] keeps its lease to t + 30.
        func claim(_ limit: Int) async throws -> [UUID] {
            try await h.store.claimWork(worker: "x", now: t.addingTimeInterval(25), until: t.addingTimeInterval(100), limit: limit).map(\.id)
        }
        #expect(try await claim(1) == [ids[2]])
        #expect(try await claim(1) == [ids[1]])
        #expect(try await claim(5) == [ids[0]])
        #expect(try await claim(5).isEmpty)
    }

    @Test(arguments: ServiceStoreKind.allCases)
    func acceptedSessionIsForwardedOnceAndTrackedToCompletion(kind: ServiceStoreKind) async throws {
        let h = try ForwardingHarness(kind)
        let ids = try await h.acceptedSessions(1)
        let fake = FakeUWSFacility(pollsToFinish: 3)
        let sessions = try await h.runWorker(fake, until: { $0.allSatisfy { $0.phase == .completed } }, ids: ids)
        let s = try #require(sessions.first)
        #expect(s.phase == .completed)
        #expect(s.remote?.url == "http://fake/jobs/1")
        #expect(s.remote?.results.map(\.href) == ["http://fake/\(s.id.uuidString)/result.xml"])
        #expect(fake.state.withLock { $0.submits } == 1)
        // Nothing more to do for it.
        #expect(try await h.store.claimWork(worker: "other", now: Date().addingTimeInterval(3600), until: Date().addingTimeInterval(3700), limit: 10).isEmpty)
    }

    @Test func failingJobCarriesTheFacilitysErrorSummary() async throws {
        let h = try ForwardingHarness(.sqlite)
        let ids = try await h.acceptedSessions(1)
        let sessions = try await h.runWorker(FakeUWSFacility(pollsToFinish: 1, finalPhase: .error), until: { $0.allSatisfy { $0.phase == .failed } }, ids: ids)
        #expect(sessions.first?.phase == .failed)
        #expect(sessions.first?.message == "query failed: no such table")
    }

    @Test func aCrashAfterCreationAdoptsTheJobInsteadOfCreatingASecond() async throws {
        let h = try ForwardingHarness(.sqlite)
        let ids = try await h.acceptedSessions(1)
        let fake = FakeUWSFacility(pollsToFinish: 2)
        // The crashed worker had marked the session as submitting and the facility had created the job,
        // but the URL never reached the store.
        let session = try #require(try await h.store.session(ids[0]))
        _ = try await fake.submit(session, to: Endpoint(kind: .uws, url: "http://127.0.0.1:1/tap/async"))
        _ = try await h.store.claimWork(worker: "crashed", now: Date(), until: Date().addingTimeInterval(-1), limit: 1)
        _ = try await h.store.updateClaimed(ids[0], worker: "crashed", now: Date()) {
            $0.remote = RemoteJob(endpoint: Endpoint(kind: .uws, url: "http://127.0.0.1:1/tap/async"), stage: .submitting)
            $0.phase = .preparing
        }
        let sessions = try await h.runWorker(fake, worker: "restarted", until: { $0.allSatisfy { $0.phase == .completed } }, ids: ids)
        #expect(sessions.first?.phase == .completed)
        #expect(sessions.first?.remote?.url == "http://fake/jobs/1")
        #expect(fake.state.withLock { $0.submits } == 1)
    }

    @Test func aWorkerStoppedMidJobIsResumedByAnotherOnTheSameFile() async throws {
        let h = try ForwardingHarness(.sqlite)
        let ids = try await h.acceptedSessions(1)
        let fake = FakeUWSFacility(pollsToFinish: 1_000)
        let running = try await h.runWorker(fake, worker: "first", until: { $0.allSatisfy { $0.phase == .running } }, ids: ids)
        #expect(running.first?.phase == .running)
        let url = try #require(running.first?.remote?.url)
        // A new process opens the same database; the first worker's lease lapses and the job finishes.
        let reopened = try ForwardingHarness(.sqlite, path: h.path)
        let finishing = FakeUWSFacility(pollsToFinish: 1)
        finishing.state.withLock { $0.jobs = fake.state.withLock { $0.jobs }; $0.submits = fake.state.withLock { $0.submits } }
        let done = try await reopened.runWorker(finishing, worker: "second", until: { $0.allSatisfy { $0.phase == .completed } }, ids: ids)
        #expect(done.first?.phase == .completed)
        #expect(done.first?.remote?.url == url)
        #expect(finishing.state.withLock { $0.submits } == 1)
    }

    @Test(arguments: ServiceStoreKind.allCases)
    func cancellingASessionAbortsItsRemoteJob(kind: ServiceStoreKind) async throws {
        let h = try ForwardingHarness(kind)
        let ids = try await h.acceptedSessions(1)
        let fake = FakeUWSFacility(pollsToFinish: 1_000)
        _ = try await h.runWorker(fake, until: { $0.allSatisfy { $0.phase == .running } }, ids: ids)
        _ = try await h.store.changePhase(of: ids[0], to: .cancelled, now: Date())
        let sessions = try await h.runWorker(fake, until: { $0.allSatisfy { $0.remote?.remotePhase == "ABORTED" } }, ids: ids)
        #expect(sessions.first?.phase == .cancelled)
        #expect(sessions.first?.remote?.remotePhase == "ABORTED")
        #expect(fake.state.withLock { $0.aborts } == 1)
    }

    @Test func anUnreachableFacilityFailsTheSessionAfterBoundedRetries() async throws {
        let h = try ForwardingHarness(.memory)
        let ids = try await h.acceptedSessions(1)
        var settings = ForwardingService.Settings.fast
        settings.maxFailures = 2
        let sessions = try await h.runWorker(
            FakeUWSFacility(unreachable: true), settings: settings, until: { $0.allSatisfy { $0.phase == .failed } }, ids: ids)
        #expect(sessions.first?.phase == .failed)
        #expect(sessions.first?.message?.contains("could not be reached") == true)
    }

    @Test func concurrencyIsBounded() async throws {
        let h = try ForwardingHarness(.memory)
        let ids = try await h.acceptedSessions(40)
        var settings = ForwardingService.Settings.fast
        settings.concurrency = 5
        let fake = FakeUWSFacility(pollsToFinish: 1, callDelay: .milliseconds(20))
        let sessions = try await h.runWorker(fake, settings: settings, until: { $0.allSatisfy { $0.phase == .completed } }, ids: ids)
        #expect(sessions.allSatisfy { $0.phase == .completed })
        #expect(fake.state.withLock { $0.maxConcurrent } <= 5)
        #expect(fake.state.withLock { $0.submits } == 40)
    }
}

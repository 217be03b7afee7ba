import Foundation
import SkyportCore
import SkyportRemotes
import SkyportTestSupport
import Testing

/// Against the real ASTRON django-uws started by `scripts/peers.sh start django-uws` (toy workers `echo`, `sleep`, `fail`
/// selected by the `type` parameter). Fails (or, with SKYPORT_TEST_ALLOW_MISSING_PEERS=1, is not run) when SKYPORT_TEST_DJANGO_UWS_URL is unset.
@Suite(.enabled(if: TestPeers.run(Peers.djangoUWS != nil), "django-uws not started: run scripts/peers.sh start django-uws and export SKYPORT_TEST_DJANGO_UWS_URL"))
struct DjangoUWSClientIntegrationTests {
    let jobList: URL

    init() throws { jobList = try Peers.requireDjangoUWS() }

    private func withClient<T: Sendable>(
        clock: any Clock<Duration> = ContinuousClock(), _ body: (DjangoUWSClient, RemoteHTTP) async throws -> T
    ) async throws -> T {
        try await withRemoteHTTP(auth: Peers.djangoAuth, timeout: .seconds(30), clock: clock) { http in try await body(DjangoUWSClient(http: http), http) }
    }

    @Test func anEchoJobRunsToCompletionWithItsResults() async throws {
        try await withClient { client, _ in
            let job = try await client.create(jobList: jobList, runId: "skyport-test-\(UUID())", parameters: [("type", "echo"), ("foo", "bar")])
            let created = try await client.job(job)
            #expect(created.phase == .pending && created.runId?.hasPrefix("skyport-test-") == true)
            #expect(created.parameters.contains(UWSParameter(id: "foo", value: "bar")))
            #expect(created.creationTime != nil)
            _ = try await client.run(job: job)
            let done = try await waitUntilFinal(client, job: job, timeout: .seconds(30))
            #expect(done.phase == .completed)
            #expect(done.results.contains { $0.id == "foo" && $0.href == "bar" })
            #expect(try await client.find(jobList: jobList, runId: created.runId ?? "") == job)
            #expect(try await client.find(jobList: jobList, runId: "never-used-\(UUID())") == nil)
        }
    }

    @Test func aFailingWorkerEndsInErrorWithTheTraceback() async throws {
        try await withClient { client, _ in
            let job = try await client.create(jobList: jobList, parameters: [("type", "fail")])
            _ = try await client.run(job: job)
            let done = try await waitUntilFinal(client, job: job, timeout: .seconds(30))
            #expect(done.phase == .error)
            #expect(done.errorMessage?.contains("deliberate failure") == true)
        }
    }

    @Test func runAfterAbortIsRefusedBeforeItCanWedgeTheJob() async throws {
        try await withClient { client, http in
            let job = try await client.create(jobList: jobList, parameters: [("type", "echo")])
            #expect(try await client.abort(job: job).phase == .aborted)
            // django-uws would answer this RUN with a 500 and leave the job QUEUED for ever; the client refuses to send it.
            let refused = await #expect(throws: RemoteError.self) { try await client.run(job: job) }
            #expect(refused?.kind == .refusedTransition)
            #expect(try await client.job(job).phase == .aborted)
            // The facility's own failure, sent by hand, comes back as a structured error, not a crash.
            let raw = await #expect(throws: RemoteError.self) {
                try await http.postForm(job.appending(path: "phase/"), [("PHASE", "RUN")])
            }
            #expect(raw?.status == 500 && raw?.isTransient == false)
        }
    }

    @Test func deleteReportsTheFacilitysServerError() async throws {
        try await withClient { client, _ in
            let job = try await client.create(jobList: jobList, parameters: [("type", "echo")])
            let error = await #expect(throws: RemoteError.self) { try await client.delete(job: job) }
            #expect(error?.status == 500 && error?.kind == .status)
            #expect((error?.snippet?.count ?? 0) <= 300)
        }
    }

    /// On a virtual clock: the 2 s wait is reads with pauses of 0.25 s, 0.5 s, 1 s and the last 0.25 s between them.
    @Test func waitPollsBecauseThereIsNoWAIT() async throws {
        let clock = TestClock()
        try await withClient(clock: clock) { client, _ in
            let job = try await client.create(jobList: jobList, parameters: [("type", "echo")])
            let still = try await client.wait(job: job, timeout: .seconds(2), knownPhase: .pending)
            #expect(still.phase == .pending)
            #expect(clock.sleeps == [.milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(250)])
            #expect(try await client.wait(job: job, timeout: .seconds(5), knownPhase: .queued).phase == .pending)
        }
    }

    @Test func wrongCredentialsAreAPermanentError() async throws {
        try await withRemoteHTTP(auth: .basic(username: "uws", password: "wrong")) { http in
            let error = await #expect(throws: RemoteError.self) {
                try await DjangoUWSClient(http: http).create(jobList: jobList, parameters: [("type", "echo")])
            }
            #expect([401, 403].contains(error?.status ?? 0) && error?.isTransient == false)
        }
    }
}

import Foundation
import SkyportCore
import SkyportRemotes
import SkyportTestSupport
import Testing

/// Against the real GAVO DaCHS started by `scripts/peers.sh start dachs` (its TAP async endpoint is a UWS 1.1 job list).
/// Fails (or, with SKYPORT_TEST_ALLOW_MISSING_PEERS=1, is not run) when SKYPORT_TEST_DACHS_URL is unset because the peer is not started.
@Suite(.enabled(if: TestPeers.run(Peers.dachs != nil), "DaCHS not started: run scripts/peers.sh start dachs and export SKYPORT_TEST_DACHS_URL"))
struct UWSClientIntegrationTests {
    let jobList: URL

    init() throws { jobList = try Peers.requireDaCHS() }

    private func query(_ adql: String) -> [(String, String)] {
        [("REQUEST", "doQuery"), ("LANG", "ADQL"), ("QUERY", adql), ("FORMAT", "votable")]
    }

    @Test func aTAPQueryRunsToCompletionAndItsResultIsAVOTable() async throws {
        try await withRemoteHTTP { http in
            let client = UWSClient(http: http)
            let job = try await client.create(jobList: jobList, parameters: query("SELECT TOP 3 table_name FROM tap_schema.tables"))
            #expect(job.host == jobList.host && job.path.contains("/async/"))  // DaCHS's absolute Location, not under the list URL
            #expect(try await client.job(job).phase == .pending)
            let running = try await client.run(job: job)
            #expect([.queued, .executing, .completed].contains(running.phase))
            let done = try await waitUntilFinal(client, job: job)
            #expect(done.phase == .completed)
            let href = try #require(done.results.first?.href)
            let result = try await http.get(try #require(URL(string: href, relativeTo: job)?.absoluteURL))
            #expect(String(decoding: result.body, as: UTF8.self).contains("<VOTABLE"))
            try await client.delete(job: job)
            let gone = await #expect(throws: RemoteError.self) { try await client.job(job) }
            #expect(gone?.status == 404)
        }
    }

    @Test func aFailingQueryEndsInErrorWithItsSummary() async throws {
        try await withRemoteHTTP { http in
            let client = UWSClient(http: http)
            let job = try await client.create(jobList: jobList, parameters: query("SELECT FROM nowhere"))
            _ = try await client.run(job: job)
            let done = try await waitUntilFinal(client, job: job)
            #expect(done.phase == .error)
            #expect(done.errorMessage?.isEmpty == false, "errorSummary carried: \(done.errorMessage ?? "nil")")
            try await client.delete(job: job)
        }
    }

    @Test func anIllegalTransitionIsDetectedByReReading() async throws {
        try await withRemoteHTTP { http in
            let client = UWSClient(http: http)
            let job = try await client.create(jobList: jobList, parameters: query("SELECT TOP 1 table_name FROM tap_schema.tables"))
            _ = try await client.run(job: job)
            #expect(try await waitUntilFinal(client, job: job).phase == .completed)
            // DaCHS answers 303 to RUN and ABORT on a finished job; only the re-read shows nothing happened.
            let refused = await #expect(throws: RemoteError.self) { try await client.run(job: job) }
            #expect(refused?.kind == .refusedTransition)
            #expect(try await client.abort(job: job).phase == .completed)
            try await client.delete(job: job)
        }
    }

    /// DaCHS holds a blocking read for the WAIT asked (whole seconds: WAIT=1 for what is left of a 2 s wait), so the
    /// client pauses for at most the second that is left after it; a server ignoring WAIT would make it pause for
    /// (nearly) all of the 2 s. The clock records the pauses, so nothing here depends on how fast the machine is.
    @Test func blockingWaitHonoursWAITAndReturnsAtTheTimeout() async throws {
        let clock = RecordingClock()
        try await withRemoteHTTP(clock: clock) { http in
            let client = UWSClient(http: http)
            let job = try await client.create(jobList: jobList, parameters: query("SELECT TOP 1 table_name FROM tap_schema.tables"))
            let pending = try await client.wait(job: job, timeout: .seconds(2), knownPhase: .pending)
            #expect(pending.phase == .pending)
            let paused = clock.sleeps.reduce(Duration.zero, +)
            #expect(paused <= .seconds(1), "the client paused \(clock.sleeps): DaCHS did not hold the read for its WAIT")
            // A stale knownPhase returns the current phase after one read (WAIT=n&PHASE=X race guard), without pausing.
            let pauses = clock.sleeps.count
            #expect(try await client.wait(job: job, timeout: .seconds(10), knownPhase: .executing).phase == .pending)
            #expect(clock.sleeps.count == pauses)
            try await client.delete(job: job)
        }
    }

    @Test func executionDurationDestructionAndListFilters() async throws {
        try await withRemoteHTTP { http in
            let client = UWSClient(http: http)
            let job = try await client.create(jobList: jobList, parameters: query("SELECT TOP 1 table_name FROM tap_schema.tables"))
            let withDuration = try await client.setExecutionDuration(job: job, seconds: 120)
            #expect(withDuration.executionDuration == 120)
            let when = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 86400).rounded(.down))
            let withDestruction = try await client.setDestruction(job: job, at: when)
            #expect(withDestruction.destruction.map { abs($0.timeIntervalSince(when)) < 2 } == true)
            let pending = try await client.jobs(in: jobList, phases: [.pending])
            #expect(pending.contains { $0.id == withDuration.jobId } && pending.allSatisfy { $0.phase == .pending })
            #expect(try await client.jobs(in: jobList, phases: [.completed]).contains { $0.id == withDuration.jobId } == false)
            let aborted = try await client.abort(job: job)
            #expect(aborted.phase == .aborted)
            // DaCHS drops RUNID, so a job cannot be found again by its run id (measured; the forwarder must know).
            #expect(try await client.find(jobList: jobList, runId: "skyport-\(UUID())") == nil)
            try await client.delete(job: job)
            try await client.delete(job: job)  // already gone: still fine
        }
    }

    /// DaCHS filters its job list by phase (UWS 1.1), and names its jobs there as their URLs do: what the forwarding
    /// service's job-list tracker relies on to follow many jobs with one read.
    @Test func aJobIsFollowedOnTheJobListByPhase() async throws {
        try await withRemoteHTTP { http in
            let client = UWSClient(http: http)
            let executor = UWSExecutor { _ in client }
            let endpoint = Endpoint(kind: .uws, url: jobList.absoluteString)
            #expect(executor.listsJobs(at: endpoint))
            #expect(!executor.listsJobs(at: Endpoint(kind: .djangoUWS, url: jobList.absoluteString)))
            let job = try await client.create(jobList: jobList, parameters: query("SELECT TOP 1 table_name FROM tap_schema.tables"))
            let id = try #require(JobListSweep.jobID(url: job.absoluteString))
            let watched = [JobListSweep.Watched(session: UUID(), job: id, phase: .pending, since: Date(timeIntervalSince1970: 0))]
            let asked = Date(timeIntervalSince1970: 1)  // after the watch began: the lists below judge it
            #expect(JobListSweep.phases(for: watched) == [.pending])
            let before = try await executor.jobs(at: endpoint, in: [.pending])
            #expect(before.contains { $0.id == id && $0.phase == .pending })
            #expect(JobListSweep.judge(before, phase: .pending, watched: watched, askedAt: asked) == .moved([]))
            // Measured: DaCHS honours only the last of several PHASE parameters (no union), hence one read per phase.
            let both = try await executor.jobs(at: endpoint, in: [.pending, .queued])
            #expect(!both.contains { $0.id == id })
            _ = try await client.abort(job: job)
            let after = try await executor.jobs(at: endpoint, in: [.pending])
            #expect(!after.contains { $0.id == id })
            #expect(JobListSweep.judge(after, phase: .pending, watched: watched, askedAt: asked) == .moved([watched[0].session]))
            let read = try await executor.read(RemoteJob(endpoint: endpoint, stage: .created(url: job.absoluteString), phase: .uws(.pending)))
            #expect(read.remotePhase == .uws(.aborted))
            try await client.delete(job: job)
        }
    }
}

import Foundation
import SkyportCore
import Testing

@Suite struct JobListSweepTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let a = UUID(), b = UUID(), c = UUID()

    func watched(_ id: UUID, _ job: String, _ phase: UWSPhase, since: TimeInterval = 0) -> JobListSweep.Watched {
        .init(session: id, job: job, phase: phase, since: t0.addingTimeInterval(since))
    }

    @Test func aJobListedInItsPhaseHasNotMovedAndOneMissingHas() {
        let list = [UWSJobRef(id: "j1", phase: .executing), UWSJobRef(id: "other", phase: .executing)]
        let verdict = JobListSweep.judge(
            list, phase: .executing,
            watched: [watched(a, "j1", .executing), watched(b, "j2", .queued), watched(c, "j3", .executing)], askedAt: t0.addingTimeInterval(1))
        #expect(verdict == .moved([c]))  // j2 is judged by the QUEUED list
    }

    @Test func aJobFollowedAfterTheListWasAskedForIsNotJudgedByIt() {
        let verdict = JobListSweep.judge([], phase: .executing, watched: [watched(a, "j1", .executing, since: 2)], askedAt: t0.addingTimeInterval(1))
        #expect(verdict == .moved([]))
    }

    @Test func aListWithJobsInAPhaseNotAskedForIgnoresTheFilter() {
        let list = [UWSJobRef(id: "j1", phase: .executing), UWSJobRef(id: "old", phase: .completed)]
        #expect(JobListSweep.judge(list, phase: .executing, watched: [watched(a, "j1", .executing)], askedAt: t0) == .filterIgnored)
    }

    @Test func oneReadPerPhaseTheWatchedJobsAreIn() {
        #expect(JobListSweep.phases(for: [watched(a, "j", .executing), watched(b, "k", .queued), watched(c, "l", .executing)]) == [.executing, .queued])
        #expect(JobListSweep.phases(for: []).isEmpty)
    }

    @Test(arguments: [
        ("http://tap.example/tap/async/abc123", "abc123"), ("http://tap.example/tap/async/abc123/", "abc123"),
        ("https://uws.example/jobs/a%20b", "a b"), ("http://uws.example", nil),
    ] as [(String, String?)])
    func aJobsIDIsTheLastSegmentOfItsURL(url: String, id: String?) {
        #expect(JobListSweep.jobID(url: url) == id)
    }

    @Test func fewJobsAreFollowedOneByOne() {
        #expect(!JobListSweep.followsList(following: 7, minimum: 8))
        #expect(JobListSweep.followsList(following: 8, minimum: 8))
    }
}

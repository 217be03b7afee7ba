import Foundation
import SkyportCore
import Testing

@Suite struct JobListSweepTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let a = UUID(), b = UUID(), c = UUID()

    func watched(_ id: UUID, _ job: String, _ phase: UWSPhase, since: TimeInterval = 0) -> JobListSweep.Watched {
        .init(session: id, job: job, phase: phase, since: t0.addingTimeInterval(since))
    }

    @Test func aJobListedInItsPhaseHasNotMovedAndOneListedElsewhereOrMissingHas() {
        let list = [UWSJobRef(id: "j1", phase: .executing), UWSJobRef(id: "j2", phase: .executing), UWSJobRef(id: "other", phase: .queued)]
        let verdict = JobListSweep.judge(
            list, asked: JobListSweep.activePhases,
            watched: [watched(a, "j1", .executing), watched(b, "j2", .queued), watched(c, "j3", .executing)], askedAt: t0.addingTimeInterval(1))
        #expect(verdict == .moved([b, c]))
    }

    @Test func aJobFollowedAfterTheListWasAskedForIsNotJudgedByIt() {
        let verdict = JobListSweep.judge(
            [], asked: JobListSweep.activePhases, watched: [watched(a, "j1", .executing, since: 2)], askedAt: t0.addingTimeInterval(1))
        #expect(verdict == .moved([]))
    }

    @Test func aListWithJobsInPhasesNotAskedForIgnoresTheFilter() {
        let list = [UWSJobRef(id: "j1", phase: .executing), UWSJobRef(id: "old", phase: .completed)]
        let verdict = JobListSweep.judge(list, asked: JobListSweep.activePhases, watched: [watched(a, "j1", .executing)], askedAt: t0)
        #expect(verdict == .filterIgnored)
    }

    @Test func thePhasesAskedForAreTheActiveOnesAndAnyOtherAWatchedJobIsIn() {
        #expect(JobListSweep.phases(for: [watched(a, "j", .executing)]) == [.pending, .queued, .held, .executing, .suspended])
        #expect(JobListSweep.phases(for: [watched(a, "j", .unknown)]).last == .unknown)
        let list = [UWSJobRef(id: "j", phase: .unknown)]
        let phases = JobListSweep.phases(for: [watched(a, "j", .unknown)])
        #expect(JobListSweep.judge(list, asked: phases, watched: [watched(a, "j", .unknown)], askedAt: t0) == .moved([]))
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

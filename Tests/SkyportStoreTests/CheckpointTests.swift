import Foundation
import GRDB
import SkyportCore
import Testing
@testable import SkyportStore

@Suite struct CheckpointTests {
    @Test func aCheckpointAtTheThresholdThenOnlyAfterMoreFramesUntilTheLogStartsAgain() {
        var schedule = CheckpointSchedule(threshold: 100, retryAfter: 20)
        // Up to the threshold; then the log does not start again (a reader held an older snapshot): not after every
        // commit, 20 frames on; then it starts again, and the threshold counts from there.
        let frames = [99, 100, 110, 119, 120, 130, 5, 99, 104]
        let due = frames.map { schedule.due(frames: $0) }
        #expect(due == [false, true, false, false, true, false, false, false, true])
    }

    @Test func theLogIsCopiedAheadEveryFewFramesButNeverTwiceAtOnce() {
        var schedule = CheckpointSchedule(threshold: 100, retryAfter: 20, aheadAfter: 10)
        // 12 frames, then 12 at once; while a copy is under way frames add up for the next (3 + 9), which follows the
        // first commit after it ends.
        let commits: [(appended: Int, copying: Bool)] = [(4, false), (4, false), (4, false), (12, false), (3, true), (9, true), (1, false), (2, false)]
        let due = commits.map { schedule.ahead(appended: $0.appended, log: 50, copying: $0.copying) }
        #expect(due == [false, false, true, true, false, false, true, false])
        // Once the log is at the threshold it is the writer's turn: the frames wait for the log to start again.
        let atThreshold = schedule.ahead(appended: 30, log: 100, copying: false)
        let afterRestart = schedule.ahead(appended: 1, log: 1, copying: false)
        #expect(!atThreshold && afterRestart)
        var never = CheckpointSchedule(threshold: 100, retryAfter: 20, aheadAfter: 0)
        let neverDue = never.ahead(appended: 1_000, log: 50, copying: false)
        #expect(!neverDue)
    }

    @Test func aWriterCheckpointThatFoundACopyAheadRunningIsTriedAgainAtTheNextCommit() {
        var schedule = CheckpointSchedule(threshold: 100, retryAfter: 20, aheadAfter: 10)
        let first = schedule.due(frames: 100)
        schedule.busy()  // a copy ahead held the checkpoint lock
        let next = schedule.due(frames: 101)
        // This one ran but stopped short (a reader): `retryAfter` frames on.
        let after = [102, 120, 121].map { schedule.due(frames: $0) }
        #expect(first && next)
        #expect(after == [false, false, true])
    }

    @Test func theLogIsCopiedAheadOfTheWritersCheckpointFromAConnectionOfItsOwn() async throws {
        let store = try SQLiteStore(
            path: TemporaryFile.path("ahead.sqlite"), checkpoints: CheckpointSchedule(threshold: 100_000, retryAfter: 10, aheadAfter: 4))
        for i in 0..<30 { try await store.insertFacility(sampleFacility("ivo://example.org/f\(i)")) }
        // The copies run after the commits that asked for them, on their own thread: wait for those asked for.
        try #require(store.checkpoints).waitForCopies()
        let log = try #require(try await store.statistics(now: Date()).log)
        #expect(log.ahead >= 1)
        #expect(log.aheadFailed == 0)
        // None was due in the writer.
        #expect(log.checkpoints == 0)
    }

    @Test func aCopyAheadThatReachesTheEndLetsTheLogStartAgainWithoutTheWritersCheckpoint() async throws {
        let store = try SQLiteStore(
            path: TemporaryFile.path("restart.sqlite"), checkpoints: CheckpointSchedule(threshold: 100_000, retryAfter: 10, aheadAfter: 0))
        for i in 0..<30 { try await store.insertFacility(sampleFacility("ivo://example.org/f\(i)")) }
        let before = try #require(try await store.statistics(now: Date()).log)
        #expect(before.ahead == 0 && before.restarts == 0)
        // Nobody reads or writes meanwhile: the copy reaches the end of the log, and the next commit starts it again.
        try #require(store.checkpoints).copyAheadNow()
        try await store.insertFacility(sampleFacility("ivo://example.org/last"))
        let after = try #require(try await store.statistics(now: Date()).log)
        #expect(after.ahead == 1 && after.aheadCompleted == 1)
        #expect(after.restarts == 1)
        #expect(after.frames < before.frames)
        #expect(after.checkpoints == 0)
    }

    @Test func whenTheWriterFallsQuietTheFramesSinceTheLastCopyAheadAreCopied() {
        var schedule = CheckpointSchedule(threshold: 100, retryAfter: 20, aheadAfter: 10, quietAfter: .seconds(2))
        let ahead = schedule.ahead(appended: 3, log: 3, copying: false)
        // The frames are copied once, and then there is nothing.
        let quiet = [schedule.quiet(), schedule.quiet()]
        #expect(!ahead && quiet == [true, false] && !schedule.wantsQuietCopy)
        // The frames a quiet copy took are not counted again towards the next copy ahead.
        let next = [schedule.ahead(appended: 9, log: 12, copying: false), schedule.ahead(appended: 1, log: 13, copying: false)]
        #expect(next == [false, true])
        var never = CheckpointSchedule(threshold: 100, retryAfter: 20, aheadAfter: 0)
        _ = never.ahead(appended: 5, log: 5, copying: false)
        let neverQuiet = never.quiet()
        #expect(!never.wantsQuietCopy && !neverQuiet)
    }

    @Test func aCopyThatFellShortIsTriedAgainWhenTheWriterIsQuietAfterLongerEachTime() {
        var schedule = CheckpointSchedule(threshold: 100, retryAfter: 20, aheadAfter: 10, quietAfter: .seconds(2))
        _ = schedule.ahead(appended: 4, log: 4, copying: false)
        let first = schedule.quiet()
        // A reader's older snapshot kept it from the end of the log: tried again, with no new frames, after twice the wait, four times...
        schedule.copied(complete: false)
        #expect(first && schedule.wantsQuietCopy && schedule.quietWait == schedule.quietAfter * 2)
        let again = schedule.quiet()
        #expect(again)
        schedule.copied(complete: false)
        #expect(schedule.quietWait == schedule.quietAfter * 4)
        for _ in 0..<20 { schedule.copied(complete: false) }
        #expect(schedule.quietWait == schedule.quietAfter * 128)
        // One that reaches the end leaves nothing, and the wait is the first again.
        _ = schedule.quiet()
        schedule.copied(complete: true)
        #expect(!schedule.wantsQuietCopy && schedule.quietWait == schedule.quietAfter)
        // The writer's own checkpoint reaching the end of the log leaves nothing for a quiet copy either.
        _ = schedule.ahead(appended: 4, log: 8, copying: false)
        schedule.copied(complete: false)
        schedule.caughtUp()
        #expect(!schedule.wantsQuietCopy && schedule.quietWait == schedule.quietAfter)
    }

    @Test func aQuietWritersLogIsCopiedIntoTheFileAndStartsAgainAtTheNextCommit() async throws {
        let store = try SQLiteStore(
            path: TemporaryFile.path("quiet.sqlite"),
            checkpoints: CheckpointSchedule(threshold: 100_000, retryAfter: 10, aheadAfter: 100_000, quietAfter: .milliseconds(20)))
        // One commit, far from both thresholds: only the writer falling quiet copies the log. Waits for that (not for a
        // time).
        try await store.insertFacility(sampleFacility("ivo://example.org/first"))
        var log = try #require(try await store.statistics(now: Date()).log)
        for _ in 0..<6_000 where log.ahead == 0 {
            try await Task.sleep(for: .milliseconds(10))
            log = try #require(try await store.statistics(now: Date()).log)
        }
        #expect(log.ahead == 1 && log.aheadCompleted == 1 && log.aheadFailed == 0)
        #expect(log.checkpoints == 0 && log.restarts == 0)
        try await store.insertFacility(sampleFacility("ivo://example.org/second"))
        let after = try #require(try await store.statistics(now: Date()).log)
        #expect(after.restarts == 1)
    }

    @Test func theLogsFileIsNotCutBackBelowTheSizeTheWriterCheckpointsAt() {
        // A log cut back below it grows past its file's end again in every round (4 KiB pages, 24-byte frame headers).
        let schedule = CheckpointSchedule()
        #expect(SQLiteStore.journalSizeLimit >= (schedule.threshold + schedule.retryAfter) * (4096 + 24))
    }

    @Test func theWriterCheckpointsOnItsScheduleAndTheLogStartsAgain() async throws {
        let store = try SQLiteStore(path: TemporaryFile.path("checkpoints.sqlite"), checkpoints: CheckpointSchedule(threshold: 40, retryAfter: 10, aheadAfter: 0))
        for i in 0..<60 { try await store.insertFacility(sampleFacility("ivo://example.org/f\(i)")) }
        let log = try #require(try await store.statistics(now: Date()).log)
        #expect(log.commits >= 60)
        #expect(log.written >= 60)
        // Nobody reads: every checkpoint reaches the end of the log, which then starts again.
        #expect(log.checkpoints >= 2)
        #expect(log.completed == log.checkpoints)
        #expect(log.restarts >= log.completed - 1)
        #expect(log.frames < 40 + 20)
    }

    @Test func whileAReaderHoldsAnOlderSnapshotTheWriterDoesNotCheckpointAfterEveryCommit() async throws {
        let path = TemporaryFile.path("held.sqlite")
        let store = try SQLiteStore(path: path, checkpoints: CheckpointSchedule(threshold: 20, retryAfter: 500, aheadAfter: 0))
        try await store.insertFacility(sampleFacility("ivo://example.org/first"))
        var readOnly = Configuration()
        readOnly.readonly = true
        readOnly.allowsUnsafeTransactions = true  // the read transaction stays open across `inDatabase` calls
        let reader = try DatabaseQueue(path: path, configuration: readOnly)
        try reader.inDatabase { db in
            try db.execute(sql: "BEGIN DEFERRED")
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM facility") == 1)
        }
        let held = try #require(try await store.statistics(now: Date()).log)
        for i in 0..<40 { try await store.insertFacility(sampleFacility("ivo://example.org/f\(i)")) }
        var log = try #require(try await store.statistics(now: Date()).log)
        #expect(log.frames >= 20 && log.frames < 20 + 500)
        // One checkpoint, which could not reach the end of the log; none after the commits that followed it.
        #expect(log.checkpoints == held.checkpoints + 1)
        #expect(log.completed == held.completed)
        // The reader lets go: the next checkpoint, 500 frames on, reaches the end, and the log starts again.
        try reader.inDatabase { db in try db.execute(sql: "COMMIT") }
        for i in 0..<1000 where log.completed == held.completed {
            try await store.insertFacility(sampleFacility("ivo://example.org/g\(i)"))
            log = try #require(try await store.statistics(now: Date()).log)
        }
        #expect(log.checkpoints == held.checkpoints + 2)
        #expect(log.completed == held.completed + 1)
        try await store.insertFacility(sampleFacility("ivo://example.org/last"))
        let after = try #require(try await store.statistics(now: Date()).log)
        #expect(after.restarts == log.restarts + 1)
        #expect(after.frames < 20)
    }
}

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

    @Test func theLogIsSyncedAheadEveryFewFramesButNeverTwiceAtOnce() {
        var schedule = CheckpointSchedule(threshold: 100, retryAfter: 20, writebackAfter: 10)
        // 12 frames, then 12 at once; while a sync is under way frames add up for the next (3 + 9), which follows the
        // first commit after it ends.
        let commits: [(appended: Int, syncing: Bool)] = [(4, false), (4, false), (4, false), (12, false), (3, true), (9, true), (1, false), (2, false)]
        let due = commits.map { schedule.writeback(appended: $0.appended, syncing: $0.syncing) }
        #expect(due == [false, false, true, true, false, false, true, false])
        var never = CheckpointSchedule(threshold: 100, retryAfter: 20, writebackAfter: 0)
        let neverDue = never.writeback(appended: 1_000, syncing: false)
        #expect(!neverDue)
    }

    @Test func theLogIsSyncedAheadOfTheCheckpointFromAThreadOfItsOwn() async throws {
        let store = try SQLiteStore(
            path: TemporaryFile.path("ahead.sqlite"), checkpoints: CheckpointSchedule(threshold: 100_000, retryAfter: 10, writebackAfter: 4))
        for i in 0..<30 { try await store.insertFacility(sampleFacility("ivo://example.org/f\(i)")) }
        // The syncs run after the commits that asked for them, on their own thread: wait for one to be counted.
        var log = try #require(try await store.statistics(now: Date()).log)
        for _ in 0..<3_000 where log.writebacks == 0 {
            try await Task.sleep(for: .milliseconds(10))
            log = try #require(try await store.statistics(now: Date()).log)
        }
        #expect(log.writebacks >= 1)
        #expect(log.writebacksFailed == 0)
        // No checkpoint was due: the log was synced ahead of one, not by one.
        #expect(log.checkpoints == 0)
        #expect(log.written >= 30)
    }

    @Test func theWriterCheckpointsOnItsScheduleAndTheLogStartsAgain() async throws {
        let store = try SQLiteStore(path: TemporaryFile.path("checkpoints.sqlite"), checkpoints: CheckpointSchedule(threshold: 40, retryAfter: 10))
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
        let store = try SQLiteStore(path: path, checkpoints: CheckpointSchedule(threshold: 20, retryAfter: 500))
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

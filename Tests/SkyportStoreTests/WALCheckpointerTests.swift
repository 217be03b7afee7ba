import Foundation
import GRDB
import SkyportCore
@testable import SkyportStore
import SkyportTestSupport
import Testing

/// The write-ahead log is checkpointed off the writer: commits leave it to the checkpointer (up to the backstop), and
/// the checkpointer copies all of it when no reader needs it.
@Suite struct WALCheckpointerTests {
    /// Writes `transactions` transactions of 50 pages each (rows of 4,000 random bytes).
    static func fill(_ store: SQLiteStore, transactions: Int) async throws {
        try await store.writer.write { db in try db.execute(sql: "CREATE TABLE IF NOT EXISTS filler (x BLOB)") }
        for _ in 0..<transactions {
            try await store.writer.write { db in
                for _ in 0..<50 { try db.execute(sql: "INSERT INTO filler (x) VALUES (randomblob(4000))") }
            }
        }
    }

    @Test func commitsLeaveCheckpointsToTheCheckpointer() async throws {
        // A period no test waits for: only the explicit checkpoint below runs.
        let store = try SQLiteStore(path: TemporaryFile.path("wal-backstop.sqlite"), checkpointPeriod: .seconds(3_600))
        #expect(try store.writerAutocheckpoint() == SQLiteStore.backstopPages)
        try await Self.fill(store, transactions: 30)
        let checkpointer = try #require(store.checkpointer)
        #expect(checkpointer.status.runs == 0)
        // 1,500 pages in 30 commits: with SQLite's automatic checkpoint (1,000 pages) a commit would have copied the
        // log and the next one started it again, leaving fewer than 1,000 frames.
        let run = try checkpointer.checkpoint()
        #expect(run.frames >= 1_500)
        #expect(run.checkpointed == run.frames)
        // The next commit starts the log again from its beginning.
        try await Self.fill(store, transactions: 1)
        #expect(try checkpointer.checkpoint().frames < 100)
    }

    @Test func theCheckpointerRunsOnItsOwn() async throws {
        let store = try SQLiteStore(path: TemporaryFile.path("wal-timer.sqlite"), checkpointPeriod: .milliseconds(20))
        try await Self.fill(store, transactions: 4)
        let checkpointer = try #require(store.checkpointer)
        let before = checkpointer.status.runs
        // Waits for the event (a whole run after the last write, that copied all of the log), not for a time.
        func done(_ s: (runs: Int, last: WALCheckpointer.Run?, failure: String?)) -> Bool {
            guard let last = s.last else { return false }
            return s.runs > before + 1 && last.frames > 0 && last.checkpointed == last.frames
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline, !done(checkpointer.status) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(done(checkpointer.status))
        #expect(checkpointer.status.failure == nil)
        // The data is in the file: another connection reads it, through the log or not.
        #expect(try await store.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM filler") } == 200)
    }

    @Test func inMemoryStoresHaveNone() throws {
        #expect(try SQLiteStore(path: ":memory:").checkpointer == nil)
    }
}

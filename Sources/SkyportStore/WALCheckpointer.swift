import Foundation
import GRDB
import SkyportCore
import Synchronization

/// Copies the write-ahead log back into the database file on a connection of its own, so that no writer ever
/// does it inside a commit. SQLite's own automatic checkpoint runs in the commit that fills the log past its
/// threshold: that one write (and every write queued behind it, all offer requests among them) waits while the
/// log's pages are copied and the file synced, and the bigger the file the longer (measured: p99 of offer
/// requests at 1,000/s grew from 27 ms after 90 s to 117 ms after 5 minutes; each checkpoint held the writer about
/// 10 ms, three fdatasyncs among it, 14 times a second). Here a passive checkpoint (it waits
/// for no reader and no writer) runs after every `every` commits, and at least once a minute while the store is
/// open; the writer's automatic checkpoint stays on at a far higher threshold only as a safety net.
final class WALCheckpointer: Sendable {
    /// Commits between two checkpoints.
    static let every = 128
    /// The writer's own automatic checkpoint, in pages (SQLite's default is 1,000): reached only if this
    /// checkpointer falls far behind.
    static let safetyNetPages = 16_000

    private let signal = WorkSignal()
    private let commits = Atomic<Int>(0)
    private let task = Mutex<Task<Void, Never>?>(nil)
    /// Checkpoints done, for tests and benchmarks.
    var runs: Int { counter.runs.load(ordering: .relaxed) }
    private let counter = Counter()

    private final class Counter: Sendable {
        let runs = Atomic<Int>(0)
    }

    init() {}

    /// Opens the checkpointer's connection (after the writer has put the file in WAL mode) and starts its loop.
    func start(path: String, configuration: Configuration) throws {
        let connection = try DatabaseQueue(path: path, configuration: configuration)
        let (signal, counter) = (self.signal, self.counter)
        task.withLock { t in
            t = Task.detached(priority: .utility) {
                while !Task.isCancelled {
                    await signal.wait(upTo: .seconds(60))
                    if Task.isCancelled { break }
                    // A failed one (the file busy past the timeout) is tried again at the next ring; the writer's own
                    // checkpoint is the safety net meanwhile.
                    if (try? await connection.writeWithoutTransaction({ db in try db.checkpoint(.passive) })) != nil {
                        counter.runs.add(1, ordering: .relaxed)
                    }
                }
            }
        }
    }

    /// Called by the writer after each commit.
    func committed() {
        if commits.add(1, ordering: .relaxed).newValue % Self.every == 0 { signal.ring() }
    }

    func stop() {
        task.withLock { $0?.cancel() }
        signal.ring()
    }
}

/// Tells the checkpointer of every commit on the writer connection (it observes no changes, only commits).
final class CommitCounter: TransactionObserver, Sendable {
    let checkpointer: WALCheckpointer

    init(_ checkpointer: WALCheckpointer) { self.checkpointer = checkpointer }

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseDidCommit(_ db: Database) { checkpointer.committed() }
    func databaseDidRollback(_ db: Database) {}
}

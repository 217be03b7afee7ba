import Dispatch
import GRDB
import Synchronization

/// Copies the write-ahead log into the database file from a connection and a thread of its own, every `period`, so
/// that no commit waits for it. SQLite otherwise checkpoints inside the commit that fills the log past 1,000 pages:
/// under 1,000 offer requests a second that was two or three times a second, each one writing 4 MiB and waiting for
/// two `fdatasync`s (2-5 ms each here, once 107 ms) while the writer, and every request queued behind it, waited.
/// A passive checkpoint never blocks the writer or a reader: it copies what no reader still needs, and the writer
/// starts the log again from its beginning once all of it is copied. The writer keeps its own automatic checkpoint
/// at `SQLiteStore.backstopPages` in case this one falls behind or stops.
final class WALCheckpointer: @unchecked Sendable {  // its state: immutable lets, a dispatch source and a mutex
    struct Run: Sendable, Equatable {
        /// Frames in the log, and how many of them are in the database file.
        var frames: Int
        var checkpointed: Int
    }

    private let connection: DatabaseQueue
    private let queue = DispatchQueue(label: "skyport.sqlite.checkpoint", qos: .utility)
    private let timer: any DispatchSourceTimer
    private let state = Mutex<(runs: Int, last: Run?, failure: String?)>((0, nil, nil))

    init(path: String, configuration: Configuration, period: Duration) throws {
        connection = try DatabaseQueue(path: path, configuration: configuration)
        timer = DispatchSource.makeTimerSource(queue: queue)
        let nanos = Int(period.components.seconds) * 1_000_000_000 + Int(period.components.attoseconds / 1_000_000_000)
        timer.schedule(deadline: .now() + .nanoseconds(nanos), repeating: .nanoseconds(nanos), leeway: .nanoseconds(nanos / 10))
        timer.setEventHandler { [weak self] in
            // `SQLITE_BUSY` (the writer's backstop checkpoint is running) and any other failure wait for the next tick.
            guard let self else { return }
            do {
                let run = try self.run()
                self.state.withLock { $0 = ($0.runs + 1, run, nil) }
            } catch {
                self.state.withLock { $0 = ($0.runs + 1, $0.last, "\(error)") }
            }
        }
        timer.resume()
    }

    /// How many times it ran, its last result, and the last failure since a success.
    var status: (runs: Int, last: Run?, failure: String?) { state.withLock { $0 } }

    /// Checkpoints now, on the caller's thread, after a run under way.
    func checkpoint() throws -> Run { try queue.sync { try run() } }

    /// A passive checkpoint on its own connection.
    private func run() throws -> Run {
        try connection.writeWithoutTransaction { db in
            let (frames, checkpointed) = try db.checkpoint(.passive)
            return Run(frames: frames, checkpointed: checkpointed)
        }
    }

    deinit { timer.cancel() }
}

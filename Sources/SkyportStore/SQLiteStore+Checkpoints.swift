import Foundation
import GRDB
import GRDBSQLite
import SkyportCore
import Synchronization

/// When the writer copies the write-ahead log back into the database file (a checkpoint), in place of SQLite's
/// automatic checkpoint. That one runs after every commit once the log holds 1,000 pages, until a checkpoint reaches
/// the end of the log and the log starts again from its beginning; while a reader holds an older snapshot none can, and
/// every commit paid for another one, each that copied anything syncing the log (`fdatasync`) while all other writes
/// waited. This one checkpoints at the same size, then, until the log starts again, only after `retryAfter` more
/// pages. It stays on the writer, after its commit: a checkpoint made elsewhere rarely reaches the end of a log that
/// keeps growing, and the log then never starts again. What it did is counted (`WriteAheadLogCounts`, `/metrics`).
///
/// A checkpoint first syncs the log (`fdatasync`), and that sync was the slow one: it writes out every page appended
/// since the last, about 4 MiB at the threshold, where the database file's sync after the copy has the few hundred
/// pages the copy changed. When this machine's disk was slow, those log syncs took up to 2 s, and every write waited.
/// So every `writebackAfter` frames the log is also synced from a thread of its own (`WriterCheckpoints`), which
/// waits for nobody and nobody waits for: the checkpoint's sync then has only the frames since.
struct CheckpointSchedule: Equatable, Sendable {
    /// The log size, in frames (pages), at which to checkpoint: SQLite's own (a larger one is measured in the README).
    let threshold: Int
    /// Frames to wait for after a checkpoint before the next, while the log has not started again.
    let retryAfter: Int
    /// Frames appended after which the log is synced ahead of the next checkpoint (a quarter of the threshold: about
    /// 1 MiB of 4 KiB pages); 0 never.
    let writebackAfter: Int
    /// The log's size at the last checkpoint since it started again.
    private(set) var last: Int?
    /// Frames appended since the log was last synced ahead.
    private(set) var pending = 0

    init(threshold: Int = 1000, retryAfter: Int = 250, writebackAfter: Int = 256) {
        self.threshold = threshold
        self.retryAfter = retryAfter
        self.writebackAfter = writebackAfter
    }

    /// Whether to sync the log ahead after a commit that appended `frames`; `syncing`: a sync ahead is still under
    /// way (the frames wait for the next).
    mutating func writeback(appended frames: Int, syncing: Bool) -> Bool {
        pending += frames
        guard writebackAfter > 0, pending >= writebackAfter, !syncing else { return false }
        pending = 0
        return true
    }

    /// Whether to checkpoint after a commit that left `frames` in the log.
    mutating func due(frames: Int) -> Bool {
        if let last, frames < last { self.last = nil }  // the log started again
        guard frames >= threshold, last.map({ frames >= $0 + retryAfter }) ?? true else { return false }
        last = frames
        return true
    }
}

/// The writer's log and its checkpoints, for `StoreStatistics.log`; the schedule they follow; the syncs of the log
/// ahead of them.
final class WriterCheckpoints: Sendable {
    private struct State {
        var schedule: CheckpointSchedule
        var log = WriteAheadLogCounts()
        var syncing = false
    }
    private let state: Mutex<State>
    /// The log's file (`-wal` beside the database), synced ahead on `syncs`: a thread that may block on the disk,
    /// never one of the concurrency pool's.
    private let logPath: String
    private let syncs = DispatchQueue(label: "skyport.sqlite.log-writeback", qos: .utility)

    init(_ schedule: CheckpointSchedule, database path: String) {
        state = Mutex(State(schedule: schedule))
        logPath = path + "-wal"
    }

    var counts: WriteAheadLogCounts { state.withLock { $0.log } }

    /// Installs the schedule on the writer's connection (which SQLite's automatic checkpoint then leaves alone).
    /// `self` must outlive the connection's commits: the store holds both.
    func install(on db: Database) {
        sqlite3_wal_hook(db.sqliteConnection, { context, connection, name, frames in
            guard let context else { return SQLITE_OK }
            let checkpoints = Unmanaged<WriterCheckpoints>.fromOpaque(context).takeUnretainedValue()
            return checkpoints.committed(frames: Int(frames), connection: connection, name: name)
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// After a commit that left `frames` in the log: counts it, and checkpoints when the schedule says so. Always
    /// `SQLITE_OK`, as SQLite's own hook: anything else would fail a statement whose transaction has committed. A
    /// restart is seen as a log shorter than after the commit before, so one followed at once by a commit larger than
    /// the log was is missed (and its frames are under-counted): the counts are close, not exact.
    private func committed(frames: Int, connection: OpaquePointer?, name: UnsafePointer<CChar>?) -> Int32 {
        let (due, writeback) = state.withLock { state in
            let restarted = frames < state.log.frames
            let appended = restarted ? frames : frames - state.log.frames
            state.log.commits += 1
            state.log.written += appended
            if restarted { state.log.restarts += 1 }
            state.log.frames = frames
            let writeback = state.schedule.writeback(appended: appended, syncing: state.syncing)
            if writeback { state.syncing = true }
            return (state.schedule.due(frames: frames), writeback)
        }
        if writeback { syncs.async { self.syncAhead() } }
        guard due else { return SQLITE_OK }
        var log: Int32 = -1, copied: Int32 = -1
        let code = sqlite3_wal_checkpoint_v2(connection, name, SQLITE_CHECKPOINT_PASSIVE, &log, &copied)
        state.withLock { state in
            state.log.checkpoints += 1
            switch code & 0xFF {  // extended result codes are on
            case SQLITE_OK where log >= 0 && copied == log: state.log.completed += 1
            case SQLITE_OK, SQLITE_BUSY, SQLITE_LOCKED: break  // another connection was checkpointing: tried again later
            default: state.log.failed += 1
            }
        }
        return SQLITE_OK
    }
}

extension WriterCheckpoints {
    /// Syncs the log as it is now (its own descriptor: opened each time, so a log SQLite has cut back or made again is
    /// the one synced). A failure is counted and changes nothing else: the checkpoint syncs the log itself.
    private func syncAhead() {
        let fd = open(logPath, O_RDONLY | O_CLOEXEC)
        let synced = fd >= 0 && fdatasync(fd) == 0
        if fd >= 0 { close(fd) }
        state.withLock { state in
            state.syncing = false
            if synced { state.log.writebacks += 1 } else { state.log.writebacksFailed += 1 }
        }
    }
}

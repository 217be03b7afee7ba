import Foundation
import GRDB
import GRDBSQLite
import SkyportCore
import Synchronization

/// When the write-ahead log is copied back into the database file (a checkpoint), in place of SQLite's automatic
/// checkpoint. That one runs in the writer after every commit once the log holds 1,000 pages, until a checkpoint
/// reaches the end of the log and the log starts again from its beginning; while a reader holds an older snapshot none
/// can, and every commit paid for another one. Each checkpoint that copies anything syncs the log first (`fdatasync`:
/// every page appended since the last sync), then the file; in the writer, every other write waits for both, and when
/// this machine's disk was slow one such sync took up to 2 s.
///
/// So most of the copying is done ahead, on a connection and a thread of their own (`WriterCheckpoints`): a passive
/// checkpoint every `aheadAfter` pages appended, which waits for nobody and nobody waits for. It rarely reaches the end
/// of a log that keeps growing, so the writer still checkpoints itself, after its commit, once the log holds
/// `threshold` pages (then, until the log starts again, only after `retryAfter` more; at the next commit if a copy
/// ahead held the checkpoint lock): by then most of it is copied and synced, and what is left is the pages since the
/// last copy ahead. When the writer falls quiet (no commit for `quietAfter`) with pages appended since the last copy
/// ahead, they are copied too: otherwise up to `aheadAfter` pages could wait in the log, and space that retention
/// freed stay out of the file, until the next burst of writes. What both did is counted (`WriteAheadLogCounts`,
/// `/metrics`).
struct CheckpointSchedule: Equatable, Sendable {
    /// The log size, in frames (pages), at which the writer checkpoints (16 MiB of 4 KiB pages).
    let threshold: Int
    /// Frames to wait for after a checkpoint before the next, while the log has not started again.
    let retryAfter: Int
    /// Frames appended after which the log is copied ahead (4 MiB: the log's syncs no more frequent than with the
    /// writer's checkpoints at 1,000 pages); 0 never.
    let aheadAfter: Int
    /// How long the writer is to have made no commit before the frames appended since the last copy ahead are copied.
    let quietAfter: Duration
    /// The log's size at the last checkpoint since it started again.
    private(set) var last: Int?
    /// Frames appended since the last copy ahead began.
    private(set) var pending = 0

    init(threshold: Int = 4000, retryAfter: Int = 500, aheadAfter: Int = 1000, quietAfter: Duration = .seconds(2)) {
        self.threshold = threshold
        self.retryAfter = retryAfter
        self.aheadAfter = aheadAfter
        self.quietAfter = quietAfter
    }

    /// Whether to copy the log ahead after a commit that appended `frames` and left `log` in it; `copying`: a copy
    /// ahead is still under way. Not once the log is at the threshold: that is the writer's turn, which a copy ahead
    /// holding the checkpoint lock would put off. The frames wait for the next copy.
    mutating func ahead(appended frames: Int, log: Int, copying: Bool) -> Bool {
        pending += frames
        guard aheadAfter > 0, pending >= aheadAfter, !copying, log < threshold else { return false }
        pending = 0
        return true
    }

    /// Whether to copy the log ahead now that the writer has made no commit for `quietAfter`: frames were appended
    /// since the last copy ahead began, and none is under way (that one is to end first: the writer asks again).
    mutating func quiet(copying: Bool) -> Bool {
        guard aheadAfter > 0, pending > 0, !copying else { return false }
        pending = 0
        return true
    }

    /// The writer's checkpoint found another connection checkpointing (a copy ahead): it tries again at the next
    /// commit, not `retryAfter` frames on (that wait is for a reader's older snapshot, which may last).
    mutating func busy() { last = nil }

    /// Whether the writer checkpoints after a commit that left `frames` in the log.
    mutating func due(frames: Int) -> Bool {
        if let last, frames < last { self.last = nil }  // the log started again
        guard frames >= threshold, last.map({ frames >= $0 + retryAfter }) ?? true else { return false }
        last = frames
        return true
    }
}

/// The writer's log and its checkpoints, for `StoreStatistics.log`; the schedule they follow; the copies ahead of them.
final class WriterCheckpoints: Sendable {
    private struct State {
        var schedule: CheckpointSchedule
        var log = WriteAheadLogCounts()
        var copying = false
        /// The commits counted when the look for a quiet writer was set up (nil: none is).
        var quietLook: Int?
    }
    private let state: Mutex<State>
    /// The connection that copies ahead, used on `copies`: a thread that may block on the disk, never one of the
    /// concurrency pool's.
    private let ahead: DatabaseQueue
    private let copies = DispatchQueue(label: "skyport.sqlite.checkpoint-ahead", qos: .utility)

    init(_ schedule: CheckpointSchedule, database path: String) throws {
        state = Mutex(State(schedule: schedule))
        var configuration = Configuration()
        configuration.label = "checkpoint-ahead"
        configuration.busyMode = .timeout(5)  // as the store's own connections, for the reads GRDB makes on opening
        // Its checkpoints sync the log before they copy and the file after, as the writer's do.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        ahead = try DatabaseQueue(path: path, configuration: configuration)
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
        var look = false
        let (due, copy) = state.withLock { state in
            let restarted = frames < state.log.frames
            let appended = restarted ? frames : frames - state.log.frames
            state.log.commits += 1
            state.log.written += appended
            if restarted { state.log.restarts += 1 }
            state.log.frames = frames
            let copy = state.schedule.ahead(appended: appended, log: frames, copying: state.copying)
            if copy { state.copying = true }
            if !copy, state.quietLook == nil, state.schedule.pending > 0, state.schedule.aheadAfter > 0 {
                state.quietLook = state.log.commits
                look = true
            }
            return (state.schedule.due(frames: frames), copy)
        }
        if copy { copies.async { self.copyAhead() } }
        if look { lookForQuiet() }
        guard due else { return SQLITE_OK }
        var log: Int32 = -1, copied: Int32 = -1
        let code = sqlite3_wal_checkpoint_v2(connection, name, SQLITE_CHECKPOINT_PASSIVE, &log, &copied)
        state.withLock { state in
            state.log.checkpoints += 1
            switch code & 0xFF {  // extended result codes are on
            case SQLITE_OK where log >= 0 && copied == log: state.log.completed += 1
            case SQLITE_OK: break  // a reader's older snapshot: tried again `retryAfter` frames on
            case SQLITE_BUSY, SQLITE_LOCKED: state.schedule.busy()
            default: state.log.failed += 1
            }
        }
        return SQLITE_OK
    }
}

extension WriterCheckpoints {
    /// Copies ahead now, after any copy under way; waits for the copies asked for so far. Both block the calling
    /// thread on the disk (for tests).
    func copyAheadNow() { copies.sync { copyAhead() } }
    func waitForCopies() { copies.sync {} }

    /// A passive checkpoint on its own connection: copies what no reader still needs, syncing the log and the file,
    /// without waiting for the writer or a reader. Complete when it copied every page the log held when it began
    /// (commits since may still keep the log from starting again); busy (the writer was checkpointing) counts as
    /// partial; a failure is counted and changes nothing else: the writer checkpoints anyway.
    /// In `quietAfter`, on the copies' thread: copies ahead if the writer made no commit since the look was set up, and
    /// looks again later if it did (or a copy ahead was still to run). Holds the store only weakly: a closed store's
    /// look does nothing.
    private func lookForQuiet() {
        let (seconds, attoseconds) = state.withLock { $0.schedule.quietAfter }.components
        let after = DispatchTimeInterval.nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        copies.asyncAfter(deadline: .now() + after) { [weak self] in
            guard let self else { return }
            let (copy, again) = state.withLock { state -> (Bool, Bool) in
                guard let commits = state.quietLook else { return (false, false) }
                if state.log.commits != commits || state.copying {
                    state.quietLook = state.log.commits
                    return (false, true)
                }
                state.quietLook = nil
                let copy = state.schedule.quiet(copying: false)
                if copy { state.copying = true }
                return (copy, false)
            }
            if again { lookForQuiet() }
            if copy { copyAhead() }
        }
    }

    private func copyAhead() {
        let outcome: Result<(Int, Int), any Error> = Result { try ahead.writeWithoutTransaction { db in try db.checkpoint(.passive) } }
        state.withLock { state in
            state.copying = false
            state.log.ahead += 1
            switch outcome {
            case .success(let (log, copied)) where log >= 0 && copied == log: state.log.aheadCompleted += 1
            case .success: break
            case .failure(let error as DatabaseError) where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED: break
            case .failure: state.log.aheadFailed += 1
            }
        }
    }
}

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
/// ahead or the writer's last complete checkpoint, they are copied too: otherwise up to `aheadAfter` pages could wait
/// in the log, and space that retention freed stay out of the file, until the next burst of writes. A copy that did
/// not reach the end of the log (a reader's older snapshot) is tried again when the writer is quiet, after twice the
/// wait each time it falls short. What all of them did is counted (`WriteAheadLogCounts`, `/metrics`).
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
    /// Frames appended since the last copy ahead began (at least 1 after one that fell short).
    private(set) var pending = 0
    /// Copies in a row that did not reach the end of the log.
    private(set) var short = 0

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

    /// Whether there are frames for a copy once the writer falls quiet.
    var wantsQuietCopy: Bool { aheadAfter > 0 && pending > 0 }

    /// How long the writer is to make no commit before that copy: `quietAfter`, doubled for every copy in a row that
    /// fell short (up to 128 times), so that a reader holding an older snapshot for long is not woken for every time.
    var quietWait: Duration { quietAfter * (1 << min(short, 7)) }

    /// Whether to copy the log ahead now that the writer has made no commit for `quietWait` (and no copy ahead is under
    /// way: that one is to end first).
    mutating func quiet() -> Bool {
        guard wantsQuietCopy else { return false }
        pending = 0
        return true
    }

    /// A copy ahead ended: one that did not reach the end of the log (or failed) leaves its frames for the next.
    mutating func copied(complete: Bool) {
        if complete {
            short = 0
        } else {
            short += 1
            pending = max(pending, 1)
        }
    }

    /// The writer's checkpoint reached the end of the log: nothing is left for a copy ahead.
    mutating func caughtUp() {
        pending = 0
        short = 0
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
        /// Whether a look for a quiet writer is set up, and when the writer last committed.
        var looking = false
        var lastCommit = DispatchTime.now()
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
        var look: DispatchTime?
        let (due, copy) = state.withLock { state in
            let restarted = frames < state.log.frames
            let appended = restarted ? frames : frames - state.log.frames
            state.log.commits += 1
            state.log.written += appended
            if restarted { state.log.restarts += 1 }
            state.log.frames = frames
            state.lastCommit = .now()
            let copy = state.schedule.ahead(appended: appended, log: frames, copying: state.copying)
            if copy { state.copying = true }
            if !copy { look = Self.setUpLook(&state) }
            return (state.schedule.due(frames: frames), copy)
        }
        if copy { copies.async { self.copyAhead() } }
        if let look { lookForQuiet(at: look) }
        guard due else { return SQLITE_OK }
        var log: Int32 = -1, copied: Int32 = -1
        let code = sqlite3_wal_checkpoint_v2(connection, name, SQLITE_CHECKPOINT_PASSIVE, &log, &copied)
        state.withLock { state in
            state.log.checkpoints += 1
            switch code & 0xFF {  // extended result codes are on
            case SQLITE_OK where log >= 0 && copied == log:
                state.log.completed += 1
                state.schedule.caughtUp()
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

    /// Sets up a look for a quiet writer, when there are frames for one and none is set up: when to look.
    private static func setUpLook(_ state: inout State) -> DispatchTime? {
        guard !state.looking, state.schedule.wantsQuietCopy else { return nil }
        state.looking = true
        return state.lastCommit + .nanoseconds(state.schedule.quietWait)
    }

    /// On the copies' thread at `deadline`: copies ahead if the writer has made no commit for `quietWait` since, and
    /// looks again at the end of that wait if it has (or later, while a copy ahead is still to run). Holds `self` only
    /// weakly: a closed store's look does nothing.
    private func lookForQuiet(at deadline: DispatchTime) {
        copies.asyncAfter(deadline: deadline) { [weak self] in
            guard let self else { return }
            let (copy, next) = state.withLock { state -> (Bool, DispatchTime?) in
                let wait = DispatchTimeInterval.nanoseconds(state.schedule.quietWait)
                if state.copying { return (false, .now() + wait) }
                if state.lastCommit + wait > .now() { return (false, state.lastCommit + wait) }
                state.looking = false
                let copy = state.schedule.quiet()
                if copy { state.copying = true }
                return (copy, nil)
            }
            if let next { lookForQuiet(at: next) }
            if copy { copyAhead() }
        }
    }

    /// A passive checkpoint on its own connection: copies what no reader still needs, syncing the log and the file,
    /// without waiting for the writer or a reader. Complete when it copied every page the log held when it began
    /// (commits since may still keep the log from starting again); busy (the writer was checkpointing) counts as
    /// partial; a failure is counted. One that was not complete leaves its frames for a copy when the writer is quiet.
    private func copyAhead() {
        let outcome: Result<(Int, Int), any Error> = Result { try ahead.writeWithoutTransaction { db in try db.checkpoint(.passive) } }
        let look = state.withLock { state -> DispatchTime? in
            state.copying = false
            state.log.ahead += 1
            var complete = false
            switch outcome {
            case .success(let (log, copied)) where log >= 0 && copied == log:
                state.log.aheadCompleted += 1
                complete = true
            case .success: break
            case .failure(let error as DatabaseError) where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED: break
            case .failure: state.log.aheadFailed += 1
            }
            state.schedule.copied(complete: complete)
            return Self.setUpLook(&state)
        }
        if let look { lookForQuiet(at: look) }
    }
}

extension DispatchTimeInterval {
    /// A `Duration` in nanoseconds (clamped to what an `Int` holds).
    static func nanoseconds(_ duration: Duration) -> DispatchTimeInterval {
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return .nanoseconds(overflow ? .max : Int(clamping: whole.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue))
    }
}

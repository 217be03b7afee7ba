import Foundation
import Logging
import Synchronization
import SkyportCore

/// Follows many forwarded jobs at one UWS job list by reading the list once per interval, filtered by `PHASE` (a read
/// per phase the jobs are in), instead of holding a blocking wait (and a worker slot) per job. `JobListSweep` judges
/// what it reads.
///
/// The forwarding service offers it a session whose job is to be tracked (`follow`). It takes the session when the
/// job's list can be read by phase and enough jobs are followed there (`JobListSweep.followsList`; below that, one wait
/// per job is cheaper and sees changes sooner). The session's lease then passes to the tracker's watcher name
/// (`ForwardingStore.watch`): nothing is in flight for it and no worker holds it; the tracker renews that lease in one
/// write for all its sessions. When the list shows a job moved, the tracker reads that job, keeps what it read, and
/// gives the session back (`unwatch`, claimable at once); the worker that claims it takes what was read (`claimed`)
/// instead of asking again. A client's cancel frees a watched session at once (the stores do that).
///
/// A list that cannot be read (three times in a row), that holds jobs in phases it was not asked for (the service
/// ignores `PHASE`), or that leaves out a job which is still active (a truncated list) is not used for `retry`; its
/// sessions are given back and tracked one by one meanwhile. Nothing is lost when the process stops: at a graceful
/// stop every watched session is given back, and after a crash the watch lapses like any lease.
final class JobListTracker: Sendable {
    /// What the tracker reports as it goes (the composition root makes them metrics).
    struct Observers: Sendable {
        /// A list was read (how many jobs it held).
        var listRead: @Sendable (Int) -> Void = { _ in }
        /// A list was found unusable and left for a while.
        var listLeft: @Sendable () -> Void = {}
        /// How many sessions are watched now (after each round of reads).
        var watching: @Sendable (Int) -> Void = { _ in }
    }

    struct Settings: Sendable {
        /// How often each list is read.
        var interval: Duration = .milliseconds(250)
        /// Jobs followed at one list from which the list is read instead of waiting on each.
        var minimum = 8
        /// How long a watch holds a session without renewal (renewed every third of it).
        var lease: Duration = .seconds(60)
        /// How long a list found unusable is left alone before it is tried again.
        var retry: Duration = .seconds(600)
        /// Jobs read at once after a list showed them moved.
        var reads = 8
        var observers = Observers()
    }

    /// What the tracker read for a session it gave back.
    enum Read: Sendable, Hashable {
        case status(RemoteStatus)
        /// The job could not be read (counted by the worker like any failure to reach the facility).
        case failure(String)

        func event(facility: String) -> ForwardingEvent {
            switch self {
            case .status(let status): return .status(status, facility: facility)
            case .failure(let text): return .unreachable(text)
            }
        }
    }

    private struct Entry {
        var watched: JobListSweep.Watched
        var remote: RemoteJob
        /// This watch's number (a session given back and followed again is a new watch): what a list read judged, a
        /// reader read and a give-back wakes is always the watch it was about, never a later one of the same session.
        var serial: UInt64
    }

    /// A watch named by its session and number (`Entry.serial`).
    private struct WatchID: Hashable {
        var session: UUID
        var serial: UInt64
    }

    private struct JobList {
        var endpoint: Endpoint
        var entries: [UUID: Entry] = [:]
        /// Jobs of this list tracked one by one right now (their waits count towards `minimum`).
        var waiting = 0
        /// A task reads this list now, once per interval, for as long as it has watched jobs.
        var polling = false
        /// Watches the list showed to have moved, from then until they are given back: a list read meanwhile does
        /// not take them again. `queue[queued...]` holds those whose jobs no reader has taken yet, `ready` what was
        /// read for those not given back yet.
        var moved: Set<WatchID> = []
        var queue: [WatchID] = []
        var queued = 0
        var ready: [(WatchID, Read)] = []
        /// Tasks reading moved jobs now (at most `reads`), and whether one of them is giving sessions back.
        var readers = 0
        var givingBack = false
        var failures = 0
        var unusedUntil: Date?
    }

    private struct State {
        var lists: [String: JobList] = [:]
        var listOf: [UUID: String] = [:]
        /// What was read for sessions given back, until a worker claims them (`claimed`); dropped after a lease when
        /// another process claimed them.
        var read: [UUID: (read: Read, at: Date)] = [:]
        var serials: UInt64 = 0
    }

    private let state = Mutex(State())
    let store: any ForwardingStore
    let listing: [EndpointKind: any JobListing]
    let worker: String
    let watcher: String
    let settings: Settings
    let work: WorkSignal?
    let logger: Logger
    let now: @Sendable () -> Date

    init(
        store: any ForwardingStore, listing: [EndpointKind: any JobListing], worker: String, settings: Settings, work: WorkSignal?,
        logger: Logger, now: @escaping @Sendable () -> Date
    ) {
        self.store = store
        self.listing = listing
        self.worker = worker
        self.watcher = ForwardingMachine.watcher(of: worker)
        self.settings = settings
        self.work = work
        self.logger = logger
        self.now = now
    }

    /// How many sessions are watched now (for tests and metrics).
    var watching: Int { state.withLock { $0.listOf.count } }

    // MARK: - The worker's side

    /// Takes `session` (claimed by this tracker's worker, its job `remote` created and to be tracked) when its list
    /// is read by phase and enough jobs are followed there: the lease passes to the watcher. False: track it one by one.
    func follow(_ session: SessionRecord, _ remote: RemoteJob) async -> Bool {
        guard let url = remote.url, case .uws(let phase)? = remote.phase, let job = JobListSweep.jobID(url: url),
              let lister = listing[remote.endpoint.kind], lister.listsJobs(at: remote.endpoint)
        else { return false }
        let key = remote.endpoint.url, t = now()
        let wanted = state.withLock { s -> Bool in
            let list = s.lists[key]
            if let until = list?.unusedUntil, until > t { return false }
            return JobListSweep.followsList(following: (list?.entries.count ?? 0) + (list?.waiting ?? 0) + 1, minimum: settings.minimum)
        }
        guard wanted else { return false }
        do {
            try await store.watch(session.id, worker: worker, watcher: watcher, until: t.addingTimeInterval(settings.lease.seconds))
        } catch {
            return false
        }
        // Judged only by lists asked for after this moment: a list read before the watch was stored cannot wake it
        // before it is stored.
        let since = now()
        let taken = state.withLock { s -> Bool in
            // The list may have been found unusable while the watch was stored: then it is given straight back.
            if let until = s.lists[key]?.unusedUntil, until > since { return false }
            s.serials += 1
            let entry = Entry(watched: .init(session: session.id, job: job, phase: phase, since: since), remote: remote, serial: s.serials)
            s.lists[key, default: JobList(endpoint: remote.endpoint)].entries[session.id] = entry
            s.listOf[session.id] = key
            return true
        }
        if !taken { await giveBack([session.id]) }
        return true
    }

    /// A worker claimed `id`: it is no longer watched here; returns what the tracker read for it, if it gave it back.
    func claimed(_ id: UUID) -> Read? {
        state.withLock { s in
            if let key = s.listOf.removeValue(forKey: id) { s.lists[key]?.entries[id] = nil }
            return s.read.removeValue(forKey: id)?.read
        }
    }

    /// A job at `endpoint` is tracked one by one for the duration of `body` (counted towards `minimum`).
    func waiting<T>(at endpoint: Endpoint, _ body: () async throws -> T) async rethrows -> T {
        guard listing[endpoint.kind]?.listsJobs(at: endpoint) == true else { return try await body() }
        state.withLock { $0.lists[endpoint.url, default: JobList(endpoint: endpoint)].waiting += 1 }
        defer { state.withLock { $0.lists[endpoint.url]?.waiting -= 1 } }
        return try await body()
    }

    // MARK: - Reading the lists

    /// Starts a task per list with watched jobs that reads it once per interval (`keepReading`), and renews the
    /// watch; at the end gives every watched session back.
    func run() async {
        var renewed = now()
        await withDiscardingTaskGroup { group in
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let t = now()
                let due = state.withLock { s -> [String] in
                    var due: [String] = []
                    for (key, list) in s.lists where !list.polling && !list.entries.isEmpty && (list.unusedUntil.map { $0 <= t } ?? true) {
                        s.lists[key]?.polling = true
                        due.append(key)
                    }
                    // Lists with nothing left to follow are dropped (one that was found unusable is kept until its retry).
                    s.lists = s.lists.filter { _, list in
                        !list.entries.isEmpty || list.waiting > 0 || list.polling || list.readers > 0 || (list.unusedUntil.map { $0 > t } ?? false)
                    }
                    return due
                }
                settings.observers.watching(watching)
                for key in due {
                    group.addTask { await self.keepReading(key) }
                }
                if t.timeIntervalSince(renewed) >= settings.lease.seconds / 3 {
                    renewed = t
                    let ids = state.withLock { s -> [UUID] in
                        // What was read for a session another process claimed is of no use after a lease.
                        s.read = s.read.filter { $0.value.at.addingTimeInterval(settings.lease.seconds) > t }
                        return Array(s.listOf.keys)
                    }
                    if !ids.isEmpty {
                        do { try await store.renewWatch(ids, watcher: watcher, until: t.addingTimeInterval(settings.lease.seconds)) } catch {
                            logger.error("renewing watched sessions failed", metadata: ["error": .string(String(describing: error))])
                        }
                    }
                }
                try? await Task.sleep(for: settings.interval)
            }
        }
        // Outside the (cancelled) task, so that the next start finds them at once.
        await Task { [store, watcher] in try? await store.unwatch(nil, watcher: watcher) }.value
    }

    /// Reads one list once per interval (the next read is asked for an interval after the last was, or as soon as it
    /// ends when reading takes longer: never two at once) while it has watched jobs and is usable. The jobs a read
    /// shows to have moved are read by tasks of their own (`readMoved`), so that the list's next read never waits
    /// for them: how soon a change is seen is at most the interval plus a read of the list and one of the job.
    private func keepReading(_ key: String) async {
        let clock = ContinuousClock()
        await withDiscardingTaskGroup { readers in
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let asked = clock.now
                guard let moved = await poll(key) else { return }
                for _ in 0..<queue(moved, at: key) { readers.addTask { await self.readMoved(key) } }
                try? await Task.sleep(until: asked + settings.interval, clock: clock)
            }
            state.withLock { $0.lists[key]?.polling = false }
        }
    }

    /// Queues the watches a list showed to have moved that are still the sessions' watches (a session given back and
    /// followed again since the list's watches were taken is judged by the next read) and not taken already; returns
    /// how many readers to start for them (up to `reads` read at once).
    private func queue(_ moved: [WatchID], at key: String) -> Int {
        guard !moved.isEmpty else { return 0 }
        return state.withLock { s -> Int in
            guard var list = s.lists.removeValue(forKey: key) else { return 0 }  // taken out: changed in place, not copied
            defer { s.lists[key] = list }
            for watch in moved where list.entries[watch.session]?.serial == watch.serial && list.moved.insert(watch).inserted {
                list.queue.append(watch)
            }
            let start = max(0, min(settings.reads - list.readers, list.queue.count - list.queued))
            list.readers += start
            return start
        }
    }

    /// Reads one list, a request per phase its watched jobs are in, and judges what it shows: the watches whose jobs
    /// moved (none after a read that failed). Nil when the list is no longer to be read (nothing is watched there, or
    /// it was found unusable); its task then ends, in the same step, so that the next job watched there starts another.
    private func poll(_ key: String) async -> [WatchID]? {
        let t = now()
        let read = state.withLock { s -> (Endpoint, [JobListSweep.Watched], [UUID: UInt64])? in
            guard let list = s.lists[key], !list.entries.isEmpty, list.unusedUntil.map({ $0 <= t }) ?? true, listing[list.endpoint.kind] != nil else {
                s.lists[key]?.polling = false
                return nil
            }
            return (list.endpoint, list.entries.values.map(\.watched), list.entries.mapValues(\.serial))
        }
        guard let (endpoint, watched, serials) = read, let lister = listing[endpoint.kind] else { return nil }  // checked above
        var moved = Set<UUID>()
        for phase in JobListSweep.phases(for: watched) {
            let askedAt = now()
            let list: [UWSJobRef]
            do {
                list = try await lister.jobs(at: endpoint, in: [phase])
            } catch {
                let failures = state.withLock { s -> Int in
                    s.lists[key]?.failures += 1
                    return s.lists[key]?.failures ?? 0
                }
                if failures >= 3 { await stopUsing(key, because: "it could not be read: \(String(describing: error).prefix(300))") }
                return []
            }
            settings.observers.listRead(list.count)
            switch JobListSweep.judge(list, phase: phase, watched: watched, askedAt: askedAt) {
            case .filterIgnored:
                await stopUsing(key, because: "it ignores PHASE filters (it listed jobs in a phase not asked for)")
                return []
            case .moved(let ids):
                moved.formUnion(ids)
            }
        }
        state.withLock { $0.lists[key]?.failures = 0 }
        return moved.compactMap { id in serials[id].map { WatchID(session: id, serial: $0) } }
    }

    /// One reader of the jobs queued at a list: takes them one at a time until none are left. What it reads is kept,
    /// and the sessions are given back in one write for all the reads that are ready by then (`giveBackReady`).
    private func readMoved(_ key: String) async {
        while let entry = take(key) {
            let read: Read
            do {
                guard let lister = listing[entry.remote.endpoint.kind] else { throw CancellationError() }  // never: it was listed
                read = .status(try await lister.read(entry.remote))
            } catch {
                read = .failure(String(describing: error).prefix(500).description)
            }
            let watch = WatchID(session: entry.watched.session, serial: entry.serial)
            // A job the list left out that is still where it was: the list is not complete (a limit, a page), so it
            // says nothing about the jobs it leaves out (unless the watch ended meanwhile: a cancel).
            if Self.stillIn(entry, read) {
                let current = state.withLock { s in
                    if s.lists[key]?.entries[watch.session]?.serial == watch.serial { return true }
                    s.lists[key]?.moved.remove(watch)
                    return false
                }
                if current { await stopUsing(key, because: "it left out jobs that are still active") }
                continue
            }
            let givesBack = state.withLock { s -> Bool in
                guard s.lists[key] != nil else { return false }
                s.lists[key]!.ready.append((watch, read))
                if s.lists[key]!.givingBack { return false }
                s.lists[key]!.givingBack = true
                return true
            }
            if givesBack { await giveBackReady(key) }
        }
    }

    /// The next queued job to read at `key` (its watch still current), or nil when none is left or the tracker
    /// stops (the sessions are given back then anyway): the reader then ends.
    private func take(_ key: String) -> Entry? {
        let stopping = Task.isShuttingDownGracefully || Task.isCancelled
        return state.withLock { s -> Entry? in
            guard var list = s.lists.removeValue(forKey: key) else { return nil }
            defer { s.lists[key] = list }
            if list.queued > 1024 && list.queued * 2 > list.queue.count {  // what readers took, dropped now and then
                list.queue.removeFirst(list.queued)
                list.queued = 0
            }
            while !stopping && list.queued < list.queue.count {
                let watch = list.queue[list.queued]
                list.queued += 1
                if let entry = list.entries[watch.session], entry.serial == watch.serial { return entry }
                list.moved.remove(watch)  // given back meanwhile (a cancel, or the list was left)
            }
            if list.queued == list.queue.count {
                list.queue = []
                list.queued = 0
            }
            list.readers -= 1
            return nil
        }
    }

    /// Keeps what was read for the sessions ready at `key` and gives them back, in one write each time, until no more
    /// are ready (reads that end meanwhile join the next write).
    private func giveBackReady(_ key: String) async {
        while true {
            let t = now()
            let woken = state.withLock { s -> [UUID]? in
                guard var list = s.lists.removeValue(forKey: key) else { return nil }  // changed in place, not copied
                defer { s.lists[key] = list }
                guard !list.ready.isEmpty else {
                    list.givingBack = false
                    return nil
                }
                var woken: [UUID] = []
                for (watch, read) in list.ready {
                    list.moved.remove(watch)
                    guard list.entries[watch.session]?.serial == watch.serial else { continue }  // the watch ended meanwhile
                    list.entries[watch.session] = nil
                    s.listOf[watch.session] = nil
                    s.read[watch.session] = (read, t)
                    woken.append(watch.session)
                }
                list.ready = []
                return woken
            }
            guard let woken else { return }
            await giveBack(woken)
        }
    }

    /// Whether `read` found the job still in the phase it is watched in.
    private static func stillIn(_ entry: Entry, _ read: Read) -> Bool {
        if case .status(let status) = read { return status.remotePhase == .uws(entry.watched.phase) }
        return false
    }

    /// Stops reading a list for `retry` and gives its sessions back (to be tracked one by one); once, when several
    /// readers find the list wanting at once.
    private func stopUsing(_ key: String, because reason: String) async {
        let t = now()
        let left = state.withLock { s -> [UUID]? in
            if let until = s.lists[key]?.unusedUntil, until > t { return nil }  // left already
            let ids = s.lists[key].map { Array($0.entries.keys) } ?? []
            for id in ids { s.listOf[id] = nil }
            s.lists[key]?.entries = [:]
            s.lists[key]?.moved = []
            s.lists[key]?.queue = []
            s.lists[key]?.queued = 0
            s.lists[key]?.ready = []
            s.lists[key]?.failures = 0
            s.lists[key]?.unusedUntil = t.addingTimeInterval(settings.retry.seconds)
            return ids
        }
        guard let ids = left else { return }
        settings.observers.listLeft()
        logger.warning("job list not used for tracking; its jobs are followed one by one", metadata: [
            "jobList": .string(key), "reason": .string(reason), "sessions": .stringConvertible(ids.count),
        ])
        await giveBack(ids)
    }

    /// Makes watched sessions claimable at once (one write) and wakes the workers.
    private func giveBack(_ ids: [UUID]) async {
        guard !ids.isEmpty else { return }
        do { try await Task { [store, watcher] in try await store.unwatch(ids, watcher: watcher) }.value } catch {
            logger.error("giving watched sessions back failed; they return when the watch lapses", metadata: ["error": .string(String(describing: error))])
        }
        work?.ring()
    }
}

import Foundation

/// Following many jobs of one UWS job list by reading the list filtered by phase (UWS 1.1 `PHASE`) instead of holding
/// one blocking wait per job: which jobs a list shows to have moved, and whether the service honoured the filter at
/// all. The forwarding service's job-list tracker reads; these rules judge what it read.
///
/// One phase per request: UWS 1.1 makes a repeated `PHASE` a union, but DaCHS (2.x) honours only the last one (it
/// answers `PHASE=PENDING&PHASE=QUEUED` with the queued jobs alone), and a read per phase is right under both readings.
/// The watched jobs are nearly all in one or two phases (`EXECUTING`, `QUEUED`), so that is one or two reads.
public enum JobListSweep {
    /// A job followed on its list.
    public struct Watched: Sendable, Hashable {
        /// The session the job runs for.
        public var session: UUID
        /// The job's id within its list (`JobListSweep.jobID(url:)`), as the list's `jobref`s name it.
        public var job: String
        /// The phase recorded for it.
        public var phase: UWSPhase
        /// When it began to be followed: a list asked for before then cannot speak for it.
        public var since: Date

        public init(session: UUID, job: String, phase: UWSPhase, since: Date) {
            self.session = session
            self.job = job
            self.phase = phase
            self.since = since
        }
    }

    /// What a read of the list says.
    public enum Verdict: Sendable, Equatable {
        /// These sessions' jobs are not listed in the phase recorded for them (they moved on, or are gone): each
        /// must be read. The others are where they were.
        case moved(Set<UUID>)
        /// The list holds jobs in a phase that was not asked for: the service ignores `PHASE`, so the list says
        /// nothing about the jobs it leaves out. Follow them one by one.
        case filterIgnored
    }

    /// The phases to ask for, one read each: those the watched jobs are recorded in.
    public static func phases(for watched: some Collection<Watched>) -> [UWSPhase] {
        Set(watched.map(\.phase)).sorted { $0.rawValue < $1.rawValue }
    }

    /// Judges `list`, the answer to `PHASE=phase` sent at `askedAt`, for the watched jobs recorded in that phase: one
    /// the list does not hold has moved (to another phase, or it is gone) and must be read.
    public static func judge(_ list: [UWSJobRef], phase: UWSPhase, watched: some Collection<Watched>, askedAt: Date) -> Verdict {
        if list.contains(where: { $0.phase != phase }) { return .filterIgnored }
        let listed = Set(list.map(\.id))
        var moved = Set<UUID>()
        for w in watched where w.phase == phase && w.since <= askedAt && !listed.contains(w.job) {
            moved.insert(w.session)
        }
        return .moved(moved)
    }

    /// A job's id within its list: the last segment of its URL's path (`…/async/abc123` → `abc123`), as UWS job lists
    /// name their jobs; nil when the URL has no path.
    public static func jobID(url: String) -> String? {
        guard let components = URLComponents(string: url) else { return nil }
        let last = components.path.split(separator: "/").last.map(String.init)
        return last.flatMap { $0.removingPercentEncoding ?? $0 }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Whether a job is followed on its list rather than by its own blocking wait: when `following` jobs (this one
    /// included) are followed at that list, at least `minimum` of them. Few jobs are cheaper, and seen sooner, one by one.
    public static func followsList(following: Int, minimum: Int) -> Bool {
        following >= minimum
    }
}

/// An executor that can list a facility's jobs by phase (a UWS 1.1 job list with `PHASE` filters): the forwarding
/// service then follows many jobs there with a read of the list per phase and interval instead of a blocking wait
/// per job.
public protocol JobListing: Sendable {
    /// Whether jobs at `endpoint` can be listed this way (its dialect has job-list filters).
    func listsJobs(at endpoint: Endpoint) -> Bool
    /// The jobs in the endpoint's list that are in one of `phases` (a service may ignore the filter: `JobListSweep`
    /// checks).
    func jobs(at endpoint: Endpoint, in phases: [UWSPhase]) async throws -> [UWSJobRef]
    /// Reads one job as it stands (no wait).
    func read(_ job: RemoteJob) async throws -> RemoteStatus
}

import Foundation

/// Following many jobs of one UWS job list by reading the list (UWS 1.1 `PHASE` filters: the jobs still in an active
/// phase) instead of holding one blocking wait per job: which jobs a list shows to have moved, and whether the service
/// honoured the filter at all. The forwarding service's job-list tracker polls; these rules judge what it read.
public enum JobListSweep {
    /// The phases a job can still leave, asked of the list as `PHASE=…` (a union).
    public static let activePhases: [UWSPhase] = [.pending, .queued, .held, .executing, .suspended]

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
        /// These sessions' jobs are listed in another phase than recorded, or are not listed (they left the active
        /// phases, or are gone): each must be read. The others are where they were.
        case moved(Set<UUID>)
        /// The list holds jobs in phases that were not asked for: the service ignores `PHASE`, so the list says
        /// nothing about the jobs it leaves out. Follow them one by one.
        case filterIgnored
    }

    /// The phases to ask for: the active ones, and any other phase a followed job was recorded in.
    public static func phases(for watched: some Collection<Watched>) -> [UWSPhase] {
        var phases = activePhases
        for w in watched where !phases.contains(w.phase) { phases.append(w.phase) }
        return phases
    }

    /// Judges `list`, the answer to a request for `phases` sent at `askedAt`, for the `watched` jobs.
    public static func judge(_ list: [UWSJobRef], asked phases: [UWSPhase], watched: some Collection<Watched>, askedAt: Date) -> Verdict {
        if list.contains(where: { !phases.contains($0.phase) }) { return .filterIgnored }
        var listed: [String: UWSPhase] = [:]
        listed.reserveCapacity(list.count)
        for ref in list { listed[ref.id] = ref.phase }
        var moved = Set<UUID>()
        for w in watched where w.since <= askedAt && listed[w.job] != w.phase {
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
/// service then follows many jobs there with one read of the list per interval instead of one blocking wait per job.
public protocol JobListing: Sendable {
    /// Whether jobs at `endpoint` can be listed this way (its dialect has job-list filters).
    func listsJobs(at endpoint: Endpoint) -> Bool
    /// The jobs in the endpoint's list that are in one of `phases` (a service may ignore the filter: `JobListSweep`
    /// checks).
    func jobs(at endpoint: Endpoint, in phases: [UWSPhase]) async throws -> [UWSJobRef]
    /// Reads one job as it stands (no wait).
    func read(_ job: RemoteJob) async throws -> RemoteStatus
}

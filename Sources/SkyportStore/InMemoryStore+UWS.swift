import Foundation
import SkyportCore

/// Skyport's own UWS jobs, in memory; a job's phase is read from its linked session.
extension InMemoryStore {
    public func insertUWSJob(_ job: UWSJobRecord) async throws {
        guard uwsJobsByID[job.id] == nil else { throw StoreError.duplicate("UWS job \(job.id)") }
        uwsJobsByID[job.id] = job
    }

    public func uwsJob(_ id: String) async throws -> UWSJobRecord? { uwsJobsByID[id] }

    public func uwsJobs(_ query: UWSJobQuery) async throws -> [UWSJobListing] {
        var listed: [UWSJobListing] = []
        for job in uwsJobsByID.values where job.owner == query.owner && !job.isDestroyed(at: query.now) {
            if let after = query.after, job.created <= after { continue }
            var sessionPhase: SessionPhase?
            if let id = job.session { sessionPhase = try await session(id)?.phase }
            let phase = job.phase(session: sessionPhase)
            if query.admits(phase) { listed.append(UWSJobListing(job: job, phase: phase)) }
        }
        listed.sort { ($0.job.created, $0.job.id) > ($1.job.created, $1.job.id) }
        return query.last.map { Array(listed.prefix(max(0, $0))) } ?? listed
    }

    public func updateUWSJob(_ id: String, change: @Sendable (inout UWSJobRecord) throws -> Void) async throws -> UWSJobRecord {
        guard var job = uwsJobsByID[id] else { throw StoreError.notFound("UWS job \(id)") }
        try change(&job)
        job.id = id
        uwsJobsByID[id] = job
        changes.changed(ChangeFeed.key(uwsJob: id))
        return job
    }

    public func deleteUWSJob(_ id: String) async throws -> Bool {
        defer { changes.changed(ChangeFeed.key(uwsJob: id)) }
        return uwsJobsByID.removeValue(forKey: id) != nil
    }
}

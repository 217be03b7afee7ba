import Foundation

/// Facilities, kept.
public protocol FacilityStore: Sendable {
    /// Stores a new facility; `StoreError.duplicate` when its identifier (compared case-insensitively) is taken.
    func insertFacility(_ facility: Facility) async throws
    func facility(_ id: FacilityID) async throws -> Facility?
    /// All facilities the query matches, ordered by identifier.
    func facilities(_ query: FacilityQuery) async throws -> [Facility]
    /// A facility as its canonical JSON document (`CanonicalJSON`), for serving without decoding.
    func facilityJSON(_ id: FacilityID) async throws -> String?
    /// The canonical JSON documents of all facilities the query matches, ordered by identifier.
    func facilitiesJSON(_ query: FacilityQuery) async throws -> [String]
    /// Replaces a stored facility whole; `StoreError.notFound` when there is none.
    func replaceFacility(_ facility: Facility) async throws
    /// Removes a facility, unless it has live jobs (then it is set to draining in the same transaction).
    func removeFacility(_ id: FacilityID, now: Date) async throws -> FacilityRemoval
    /// Every facility compiled for matching. A store may keep it until its facilities change: every offer request
    /// matches against all of them.
    func matchIndex() async throws -> MatchIndex
    /// The facilities the query matches with their canonical JSON documents, ordered by identifier (for views
    /// that show a document as stored unless the facility says otherwise).
    func facilityDocuments(_ query: FacilityQuery) async throws -> [(facility: Facility, document: String)]
    /// One facility with its canonical JSON document.
    func facilityDocument(_ id: FacilityID) async throws -> (facility: Facility, document: String)?

    /// The facilities' last health checks as processes sharing the store recorded them (`publishHealth`), by
    /// identifier key; nil for a store only one process uses (its checks live on its own board).
    func sharedHealth() async throws -> [String: FacilityHealth]?
    /// Records a facility's last health check for the other processes sharing the store (a no-op for a store only one
    /// process uses).
    func publishHealth(_ health: FacilityHealth, of id: FacilityID) async throws
}

extension FacilityStore {
    public func sharedHealth() async throws -> [String: FacilityHealth]? { nil }
    public func publishHealth(_ health: FacilityHealth, of id: FacilityID) async throws {}

    public func matchIndex() async throws -> MatchIndex { MatchIndex(try await facilities(FacilityQuery())) }

    public func facilityDocuments(_ query: FacilityQuery) async throws -> [(facility: Facility, document: String)] {
        Array(zip(try await facilities(query), try await facilitiesJSON(query)))
    }

    public func facilityDocument(_ id: FacilityID) async throws -> (facility: Facility, document: String)? {
        guard let facility = try await facility(id), let document = try await facilityJSON(id) else { return nil }
        return (facility, document)
    }
}

/// What happened to a facility someone asked to remove.
public enum FacilityRemoval: Sendable, Equatable {
    case removed
    case notFound
    /// It still has live jobs: it was set to `draining` instead, so that it gets no new work.
    case drained(liveJobs: Int)
}

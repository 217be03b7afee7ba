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
}

extension FacilityStore {
    public func matchIndex() async throws -> MatchIndex { MatchIndex(try await facilities(FacilityQuery())) }
}

/// What happened to a facility someone asked to remove.
public enum FacilityRemoval: Sendable, Equatable {
    case removed
    case notFound
    /// It still has live jobs: it was set to `draining` instead, so that it gets no new work.
    case drained(liveJobs: Int)
}

import Foundation

/// Why a store refused a write.
public enum StoreError: Error, Sendable, Equatable {
    /// Something with this identity already exists.
    case duplicate(String)
    /// The thing to change does not exist.
    case notFound(String)
    /// The write contradicts what is stored (an idempotency key reused with another body).
    case conflict(String)
    /// The store cannot be reached or answered with an error.
    case unavailable(String)
}

/// What happened to a facility someone asked to remove.
public enum FacilityRemoval: Sendable, Equatable {
    case removed
    case notFound
    /// It still has live jobs: it was set to `draining` instead, so that it gets no new work.
    case drained(liveJobs: Int)
}

/// An operator: someone who registers and manages facilities. Its token is held only as a hash.
public struct OperatorRecord: Sendable, Hashable, Codable {
    public var name: String
    public var created: Date

    public init(name: String, created: Date) {
        self.name = name
        self.created = created
    }

    /// Why an operator name is not acceptable, or nil.
    public static func nameProblem(_ name: String) -> String? {
        let ok = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._@")
        if name.isEmpty || name.count > 64 { return "an operator name has 1 to 64 characters" }
        if name.unicodeScalars.contains(where: { !ok.contains($0) }) { return "an operator name holds letters, digits, '-', '.', '_' and '@'" }
        return nil
    }
}

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
}

/// Operators and their hashed tokens, kept.
public protocol OperatorStore: Sendable {
    /// `StoreError.duplicate` when the name is taken.
    func insertOperator(_ record: OperatorRecord, tokenHash: String) async throws
    func operatorName(forTokenHash hash: String) async throws -> String?
    func operators() async throws -> [OperatorRecord]
    func removeOperator(named name: String) async throws -> Bool
}

/// Everything Skyport keeps. Implementations: SQLite (the embedded default), in-memory (tests);
/// each passes the same contract test suite.
public protocol BrokerStore: FacilityStore, OperatorStore, OfferStore, ForwardingStore, UWSJobStore, RegistrySourceStore {
    /// `sqlite`, `memory`, ...
    var kind: String { get }
    /// Rung after every committed write of a session (its id) or a UWS job (`ChangeFeed.key`), so that long polls
    /// wake on the write.
    var changes: ChangeFeed { get }
    /// Answers when the store is reachable and writable; throws otherwise.
    func ping() async throws
}

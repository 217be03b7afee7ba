import Foundation
import SkyportCore

/// Every facility of a store, decoded, as its stored document and compiled for matching: what the SQL stores keep
/// between changes, since matching and listing read every facility and decoding and compiling are the cost.
struct FacilityCatalogue: Sendable {
    let all: [(facility: Facility, document: String)]
    let index: MatchIndex
    /// Position in `all` by identifier key.
    let byKey: [String: Int]

    /// From the stored canonical JSON documents, ordered by identifier.
    init(documents: [String]) throws {
        all = try documents.map { (facility: try CanonicalJSON.decode(Facility.self, $0), document: $0) }
        byKey = Dictionary(all.enumerated().map { ($0.element.facility.id.key, $0.offset) }, uniquingKeysWith: { a, _ in a })
        index = MatchIndex(all.map(\.facility))
    }
}

/// A store that serves facility reads from a `FacilityCatalogue` it keeps current.
protocol CataloguedFacilities: FacilityStore {
    func facilityCatalogue() async throws -> FacilityCatalogue
    /// The catalogue if it is still current, without building one (nil when the facilities changed since).
    func currentCatalogue() async throws -> FacilityCatalogue?
    /// One facility's stored document, read from the store.
    func facilityRow(_ id: FacilityID) async throws -> String?
}

extension CataloguedFacilities {
    public func facility(_ id: FacilityID) async throws -> Facility? { try await facilityDocument(id)?.facility }

    public func facilityJSON(_ id: FacilityID) async throws -> String? { try await facilityDocument(id)?.document }

    public func facilities(_ query: FacilityQuery) async throws -> [Facility] {
        try await facilityCatalogue().all.lazy.map(\.facility).filter(query.matches)
    }

    public func matchIndex() async throws -> MatchIndex { try await facilityCatalogue().index }

    public func facilityDocuments(_ query: FacilityQuery) async throws -> [(facility: Facility, document: String)] {
        try await facilityCatalogue().all.filter { query.matches($0.facility) }
    }

    /// From the catalogue while it is current; after a change, one row, not a new catalogue: a registry harvest reads
    /// each facility just before it writes it, and rebuilding every facility for each one made a harvest of 5,000
    /// records quadratic (33 records/s instead of 2,000).
    public func facilityDocument(_ id: FacilityID) async throws -> (facility: Facility, document: String)? {
        if let catalogue = try await currentCatalogue() { return catalogue.byKey[id.key].map { catalogue.all[$0] } }
        guard let document = try await facilityRow(id) else { return nil }
        return (try CanonicalJSON.decode(Facility.self, document), document)
    }

    public func facilitiesJSON(_ query: FacilityQuery) async throws -> [String] {
        try await facilityCatalogue().all.filter { query.matches($0.facility) }.map(\.document)
    }
}

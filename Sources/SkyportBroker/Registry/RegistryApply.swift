import Foundation
import SkyportCore

/// What harvesting one OAI-PMH record did to the facilities: shared by `skyport registry harvest` and the
/// `RegistryHarvestService`, so that both treat a record the same way.
public enum RegistryApply {
    public enum Verb: String, Sendable, CaseIterable {
        case added, updated, disabled, skipped
    }

    /// One record's outcome: `updated ivo://example.org/tap uws http://... accepts tap-query`.
    public struct Outcome: Sendable, Hashable, CustomStringConvertible {
        public var verb: Verb
        /// The facility identifier (the record's ivoid, or its OAI identifier when it has no readable resource).
        public var id: String
        public var detail: String

        public init(_ verb: Verb, _ id: String, _ detail: String) {
            self.verb = verb
            self.id = id
            self.detail = detail
        }

        public var description: String { "\(verb.rawValue) \(id) \(detail)" }
    }

    /// Applies one record to the facilities (or, with no store, only maps it). Harvested facilities are owned by
    /// `registry`; a harvest never changes what an operator set (`RegistryMapping.merge`), and a deleted record
    /// disables its facility (it is never removed). `source`, the registry's OAI-PMH base URL, is recorded in the
    /// facility's provenance with the record's identifier and datestamp. A record is another party's word: its
    /// endpoints are judged by the egress rule here, as an operator's are at `POST /facilities`; refused ones are
    /// dropped (named in the outcome), and a record left with none is skipped.
    public static func apply(
        _ record: OAIRecord, to store: (any FacilityStore)?, now: Date, source: String? = nil, egress: EgressPolicy
    ) async throws -> Outcome {
        let id = record.resource?.ivoid ?? FacilityID(record.header.identifier)
        let origin = FacilityProvenance.RegistryRecord(source: source, identifier: record.header.identifier, datestamp: record.header.datestamp)
        if record.header.isDeleted || record.resource?.status == .deleted {
            guard let store else { return Outcome(.disabled, id.rawValue, "deleted in the registry (dry run)") }
            guard let existing = try await store.facility(id) else { return Outcome(.skipped, id.rawValue, "deleted: no such facility") }
            if existing.status == .disabled { return Outcome(.skipped, id.rawValue, "deleted: facility already disabled") }
            try await store.replaceFacility(disabled(existing, record: origin, now: now))
            return Outcome(.disabled, id.rawValue, "deleted in the registry")
        }
        guard let resource = record.resource else {
            return Outcome(.skipped, id.rawValue, "unreadable-record: \(record.problem ?? "no metadata")")
        }
        switch RegistryMapping.facility(from: resource, owner: "registry", now: now, record: origin) {
        case .failure(let reason):
            return Outcome(.skipped, id.rawValue, reason.description)
        case .success(var harvested):
            let refused = harvested.endpoints.compactMap { endpoint in
                egress.check(url: endpoint.url).map { "\(endpoint.kind.rawValue) \(endpoint.url) (\($0))" }
            }
            harvested.endpoints.removeAll { egress.check(url: $0.url) != nil }
            guard !harvested.endpoints.isEmpty else {
                return Outcome(.skipped, id.rawValue, "refused-endpoint: the broker does not call " + refused.joined(separator: ", "))
            }
            let detail = harvested.endpoints.map { "\($0.kind.rawValue) \($0.url)" }.joined(separator: ", ")
                + " accepts " + harvested.accepts.map(\.rawValue).joined(separator: ",")
                + (refused.isEmpty ? "" : "; refused " + refused.joined(separator: ", "))
            guard let store else { return Outcome(.added, id.rawValue, detail + " (dry run)") }
            if let existing = try await store.facility(id) {
                try await store.replaceFacility(RegistryMapping.merge(harvested: harvested, existing: existing))
                return Outcome(.updated, id.rawValue, detail)
            }
            do {
                try await store.insertFacility(harvested)
            } catch StoreError.duplicate {
                try await store.replaceFacility(RegistryMapping.merge(harvested: harvested, existing: try await store.facility(id)))
                return Outcome(.updated, id.rawValue, detail)
            }
            return Outcome(.added, id.rawValue, detail)
        }
    }

    /// A facility whose record the registry deleted: disabled, the registry recorded as the source of its status.
    static func disabled(_ existing: Facility, record: FacilityProvenance.RegistryRecord, now: Date) -> Facility {
        let stamp = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        var facility = existing
        facility.status = .disabled
        facility.modified = stamp
        var provenance = existing.provenance ?? FacilityProvenance()
        provenance[.status] = FacilityProvenance.Origin(.registry, by: record.source, at: stamp)
        provenance.registry = record
        provenance.lastHarvested = stamp
        facility.provenance = provenance
        return facility
    }

    /// Counts per outcome over a harvest.
    public struct Tally: Sendable, Hashable {
        public var pages = 0
        public var counts: [Verb: Int] = [:]

        public init() {}

        public mutating func count(_ verb: Verb) { counts[verb, default: 0] += 1 }

        public var records: Int { counts.values.reduce(0, +) }

        /// `3 added, 5 updated, 1 disabled, 0 skipped`.
        public var parts: String {
            Verb.allCases.map { "\(counts[$0, default: 0]) \($0.rawValue)" }.joined(separator: ", ")
        }
    }
}

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
    /// disables its facility (it is never removed).
    public static func apply(_ record: OAIRecord, to store: (any FacilityStore)?, now: Date) async throws -> Outcome {
        let id = record.resource?.ivoid ?? FacilityID(record.header.identifier)
        if record.header.isDeleted || record.resource?.status == .deleted {
            guard let store else { return Outcome(.disabled, id.rawValue, "deleted in the registry (dry run)") }
            guard var existing = try await store.facility(id) else { return Outcome(.skipped, id.rawValue, "deleted: no such facility") }
            if existing.status == .disabled { return Outcome(.skipped, id.rawValue, "deleted: facility already disabled") }
            existing.status = .disabled
            existing.modified = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
            try await store.replaceFacility(existing)
            return Outcome(.disabled, id.rawValue, "deleted in the registry")
        }
        guard let resource = record.resource else {
            return Outcome(.skipped, id.rawValue, "unreadable-record: \(record.problem ?? "no metadata")")
        }
        switch RegistryMapping.facility(from: resource, owner: "registry", now: now) {
        case .failure(let reason):
            return Outcome(.skipped, id.rawValue, reason.description)
        case .success(let harvested):
            let detail = harvested.endpoints.map { "\($0.kind.rawValue) \($0.url)" }.joined(separator: ", ")
                + " accepts " + harvested.accepts.map(\.rawValue).joined(separator: ",")
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

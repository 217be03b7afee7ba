import Foundation

/// Where a facility's fields came from, and when the registry and the service itself were last read for it.
/// Server-set: shown on `GET /facilities/{id}`, ignored when a document is written back.
///
/// Every top-level field (and each of `limits.cores`, `limits.memory`, `limits.duration`) has an origin once someone
/// set it: the operator (by name), a registry harvest (by the registry's OAI-PMH base URL) or a VOSI capabilities
/// refresh (by the capabilities URL). A field without an origin holds its default: nobody set it.
public struct FacilityProvenance: Sendable, Hashable, Codable {
    /// The fields whose origin is recorded, by their dotted path in the facility document.
    public enum Field: String, Sendable, Hashable, CaseIterable {
        case name, description, status, endpoints, accepts
        case limitsCores = "limits.cores"
        case limitsMemory = "limits.memory"
        case limitsDuration = "limits.duration"
        case limitsGpus = "limits.gpus"
        case limitsScratch = "limits.scratch"
        case capacity, data, hardware, software, cost
    }

    /// Who sets a field.
    public enum Source: String, Sendable, Hashable, Codable {
        /// An operator, through `POST` or `PUT /facilities`: a harvest or a refresh never changes it.
        case `operator`
        /// A registry harvest (OAI-PMH, `skyport registry harvest` or the harvest service).
        case registry
        /// The service's own VOSI capabilities (`POST /facilities/{id}/refresh`).
        case vosi
    }

    /// Who set one field, and when.
    public struct Origin: Sendable, Hashable, Codable {
        public var source: Source
        /// The operator's name, the registry's OAI-PMH base URL, or the VOSI capabilities URL; nil when not known
        /// (a harvest given no source URL).
        public var by: String?
        /// When that source last wrote the field.
        public var at: Date

        public init(_ source: Source, by: String?, at: Date) {
            self.source = source
            self.by = by
            self.at = at
        }
    }

    /// The registry record a harvest read the facility from.
    public struct RegistryRecord: Sendable, Hashable, Codable {
        /// The registry's OAI-PMH base URL; nil when the harvest did not say.
        public var source: String?
        /// The OAI-PMH record identifier (for IVOA registries, the ivoid).
        public var identifier: String
        /// The record's OAI-PMH datestamp (when the registry last changed it).
        public var datestamp: Date?

        public init(source: String?, identifier: String, datestamp: Date? = nil) {
            self.source = source
            self.identifier = identifier
            self.datestamp = datestamp
        }
    }

    /// Origins by field path (`name`, `limits.cores`); a field that is not here holds its default.
    public var fields: [String: Origin]
    /// The registry record last harvested for the facility.
    public var registry: RegistryRecord?
    /// When a harvest last touched the facility (added, updated or disabled it).
    public var lastHarvested: Date?
    /// The VOSI capabilities URL named by the registry record (`ivo://ivoa.net/std/VOSI#capabilities`).
    public var capabilities: String?
    /// When the facility was last refreshed from its VOSI capabilities.
    public var refreshed: Date?

    public init(
        fields: [String: Origin] = [:], registry: RegistryRecord? = nil, lastHarvested: Date? = nil,
        capabilities: String? = nil, refreshed: Date? = nil
    ) {
        self.fields = fields
        self.registry = registry
        self.lastHarvested = lastHarvested
        self.capabilities = capabilities
        self.refreshed = refreshed
    }

    /// The origin of one field; nil when nobody set it.
    public subscript(field: Field) -> Origin? {
        get { fields[field.rawValue] }
        set { fields[field.rawValue] = newValue }
    }

    /// Whether an operator set the field (a harvest or refresh then keeps it).
    public func isOperators(_ field: Field) -> Bool { self[field]?.source == .operator }
}

extension FacilityProvenance.Field {
    /// Whether two facilities hold the same value in this field.
    public func same(_ a: Facility, _ b: Facility) -> Bool {
        switch self {
        case .name: a.name == b.name
        case .description: a.description == b.description
        case .status: a.status == b.status
        case .endpoints: a.endpoints == b.endpoints
        case .accepts: a.accepts == b.accepts
        case .limitsCores: a.limits.cores == b.limits.cores
        case .limitsMemory: a.limits.memory == b.limits.memory
        case .limitsDuration: a.limits.duration == b.limits.duration
        case .limitsGpus: a.limits.gpus == b.limits.gpus
        case .limitsScratch: a.limits.scratch == b.limits.scratch
        case .capacity: a.capacity == b.capacity
        case .data: a.data == b.data
        case .hardware: a.hardware == b.hardware
        case .software: a.software == b.software
        case .cost: a.cost == b.cost
        }
    }

    /// Sets this field of `target` to its value in `source`.
    public func copy(from source: Facility, to target: inout Facility) {
        switch self {
        case .name: target.name = source.name
        case .description: target.description = source.description
        case .status: target.status = source.status
        case .endpoints: target.endpoints = source.endpoints
        case .accepts: target.accepts = source.accepts
        case .limitsCores: target.limits.cores = source.limits.cores
        case .limitsMemory: target.limits.memory = source.limits.memory
        case .limitsDuration: target.limits.duration = source.limits.duration
        case .limitsGpus: target.limits.gpus = source.limits.gpus
        case .limitsScratch: target.limits.scratch = source.limits.scratch
        case .capacity: target.capacity = source.capacity
        case .data: target.data = source.data
        case .hardware: target.hardware = source.hardware
        case .software: target.software = source.software
        case .cost: target.cost = source.cost
        }
    }
}

extension Facility {
    /// The facility an operator's `POST` or `PUT` stores, with its provenance.
    ///
    /// - A field the operator wrote with a new value is the operator's (harvests and refreshes then keep it).
    /// - A field written with the value already stored keeps its origin: a document read with `GET` and put back with
    ///   one change takes over only that change, and the registry goes on maintaining the rest.
    /// - A field left out keeps a value a harvest or refresh set; otherwise it takes its default and has no origin.
    /// - Parameters:
    ///   - document: the validated document (`FacilityDocument.validated`).
    ///   - written: the fields the document holds (`FacilityDocument.writtenFields`).
    ///   - existing: the stored facility a `PUT` replaces; nil for a `POST`.
    public static func written(
        _ document: Facility, fields written: Set<FacilityProvenance.Field>, by operatorName: String, over existing: Facility?, at now: Date
    ) -> Facility {
        let now = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        var result = document
        let before = existing?.provenance ?? FacilityProvenance()
        var provenance = before
        provenance.fields = [:]
        for field in FacilityProvenance.Field.allCases {
            let origin = before[field]
            if written.contains(field) {
                if let existing, let origin, field.same(document, existing) {
                    provenance[field] = origin
                } else {
                    provenance[field] = FacilityProvenance.Origin(.operator, by: operatorName, at: now)
                }
            } else if let existing, let origin, origin.source != .operator {
                field.copy(from: existing, to: &result)
                provenance[field] = origin
            }
        }
        result.provenance = provenance
        return result
    }
}

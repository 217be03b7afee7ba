import Foundation

/// An XML qualified name resolved by namespace URI (never by the prefix a document happened to use).
public struct QualifiedName: Sendable, Hashable, CustomStringConvertible {
    /// The namespace URI, or nil for a name in no namespace.
    public var namespace: String?
    public var local: String

    public init(namespace: String?, local: String) {
        self.namespace = namespace
        self.local = local
    }

    /// The namespace without a trailing version segment (`.../VODataService/v1.1` → `.../VODataService`), lower-cased:
    /// IVOA keeps one namespace per major version and registries still serve stale ones (`v1.0` for 1.1 content).
    public var namespaceFamily: String? {
        guard let ns = namespace?.lowercased() else { return nil }
        var trimmed = Substring(ns)
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        if let slash = trimmed.lastIndex(of: "/") {
            let last = trimmed[trimmed.index(after: slash)...]
            if last.first == "v", last.count > 1, last.dropFirst().allSatisfy({ $0.isNumber || $0 == "." }) {
                return String(trimmed[..<slash])
            }
        }
        return String(trimmed)
    }

    /// Whether this is `local` in the namespace family `family` (e.g. `http://www.ivoa.net/xml/VODataService`).
    public func matches(family: String, local: String) -> Bool {
        self.local == local && namespaceFamily == family.lowercased()
    }

    public var description: String { namespace.map { "{\($0)}\(local)" } ?? local }
}

/// The `use` of a VOResource `accessURL`: how a client builds the URL it calls.
public enum AccessURLUse: String, Sendable, Hashable, CaseIterable {
    /// The URL is called as given.
    case full
    /// Parameters or sub-paths are appended.
    case base
    /// The URL is posted to.
    case post
    /// The URL is a directory listing.
    case dir
}

/// One `accessURL` of an interface.
public struct AccessURL: Sendable, Hashable {
    /// The URL text with surrounding whitespace removed.
    public var url: String
    /// Nil when the record leaves `use` out (older records do).
    public var use: AccessURLUse?

    public init(url: String, use: AccessURLUse? = nil) {
        self.url = url
        self.use = use
    }
}

/// One `interface` of a capability.
public struct RegistryInterface: Sendable, Hashable {
    /// The resolved `xsi:type`, e.g. `{http://www.ivoa.net/xml/VODataService/v1.1}ParamHTTP`.
    public var type: QualifiedName?
    /// `std` marks the interface the standard defines.
    public var role: String?
    public var version: String?
    public var accessURLs: [AccessURL]
    /// The `standardID`s of the `securityMethod`s; empty for anonymous access.
    public var securityMethods: [String]

    public init(type: QualifiedName? = nil, role: String? = nil, version: String? = nil, accessURLs: [AccessURL], securityMethods: [String] = []) {
        self.type = type
        self.role = role
        self.version = version
        self.accessURLs = accessURLs
        self.securityMethods = securityMethods
    }
}

/// A TAPRegExt limit (`executionDuration`, `outputLimit`, `retentionPeriod`): a default and a hard value.
public struct RegistryLimit: Sendable, Hashable {
    public var defaultValue: Int?
    public var hard: Int?
    /// The `unit` attribute (`row`, `byte`), when given.
    public var unit: String?

    public init(defaultValue: Int? = nil, hard: Int? = nil, unit: String? = nil) {
        self.defaultValue = defaultValue
        self.hard = hard
        self.unit = unit
    }
}

/// One `capability` of a resource (or of a VOSI capabilities document).
public struct RegistryCapability: Sendable, Hashable {
    /// The `standardID`, as written; nil for a non-standard capability.
    public var standardID: String?
    /// The resolved `xsi:type`, e.g. `{http://www.ivoa.net/xml/TAPRegExt/v1.0}TableAccess`.
    public var type: QualifiedName?
    public var description: String?
    public var interfaces: [RegistryInterface]
    /// TAPRegExt `executionDuration`, in seconds.
    public var executionDuration: RegistryLimit?
    /// TAPRegExt `outputLimit`.
    public var outputLimit: RegistryLimit?
    /// TAPRegExt `retentionPeriod`, in seconds.
    public var retentionPeriod: RegistryLimit?

    public init(
        standardID: String? = nil, type: QualifiedName? = nil, description: String? = nil, interfaces: [RegistryInterface] = [],
        executionDuration: RegistryLimit? = nil, outputLimit: RegistryLimit? = nil, retentionPeriod: RegistryLimit? = nil
    ) {
        self.standardID = standardID
        self.type = type
        self.description = description
        self.interfaces = interfaces
        self.executionDuration = executionDuration
        self.outputLimit = outputLimit
        self.retentionPeriod = retentionPeriod
    }

    /// The standardID lower-cased and without its `#fragment` (`ivo://ivoa.net/std/tap`), as RegTAP and pyvo compare them.
    public var standardBase: String? {
        guard let id = standardID?.trimmingWhitespace().lowercased(), !id.isEmpty else { return nil }
        return id.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
    }
}

/// The `status` of a VOResource record.
public enum RegistryResourceStatus: String, Sendable, Hashable, CaseIterable {
    case active, inactive, deleted
}

/// One VOResource record, as far as Skyport needs it.
public struct RegistryResource: Sendable, Hashable {
    /// The IVOA identifier; compare with `FacilityID` (case-insensitive).
    public var ivoid: FacilityID
    /// The resource class (`xsi:type` of the root), e.g. `{http://www.ivoa.net/xml/VODataService/v1.1}CatalogService`.
    public var resourceType: QualifiedName?
    public var title: String
    public var description: String
    public var status: RegistryResourceStatus
    public var created: Date?
    public var updated: Date?
    public var capabilities: [RegistryCapability]

    public init(
        ivoid: FacilityID, resourceType: QualifiedName? = nil, title: String, description: String = "", status: RegistryResourceStatus = .active,
        created: Date? = nil, updated: Date? = nil, capabilities: [RegistryCapability] = []
    ) {
        self.ivoid = ivoid
        self.resourceType = resourceType
        self.title = title
        self.description = description
        self.status = status
        self.created = created
        self.updated = updated
        self.capabilities = capabilities
    }
}

/// The `header` of an OAI-PMH record.
public struct OAIRecordHeader: Sendable, Hashable {
    /// The OAI identifier (for IVOA registries, the ivoid).
    public var identifier: String
    public var datestamp: Date?
    /// `status="deleted"`: the registry withdrew the record.
    public var isDeleted: Bool
    public var setSpecs: [String]

    public init(identifier: String, datestamp: Date? = nil, isDeleted: Bool = false, setSpecs: [String] = []) {
        self.identifier = identifier
        self.datestamp = datestamp
        self.isDeleted = isDeleted
        self.setSpecs = setSpecs
    }
}

/// An OAI-PMH record: its header and, unless the metadata is missing or unreadable, its resource.
public struct OAIRecord: Sendable, Hashable {
    public var header: OAIRecordHeader
    public var resource: RegistryResource?
    /// Why `resource` is nil for a record that is not deleted.
    public var problem: String?

    public init(header: OAIRecordHeader, resource: RegistryResource?, problem: String? = nil) {
        self.header = header
        self.resource = resource
        self.problem = problem
    }
}

/// Dates as registries write them: `2012-01-26`, `2012-01-26T14:31:40`, with optional fraction and zone (UTC when none).
public enum RegistryDate {
    /// Parses a registry date; nil when it is not one.
    public static func parse(_ text: String) -> Date? {
        var t = text.trimmingWhitespace()
        if t.count == 10 { t += "T00:00:00Z" }
        guard t.count >= 19 else { return nil }
        let head = t.prefix(19)
        var tail = t.dropFirst(19)
        if tail.first == "." { tail = tail.drop { $0 == "." || $0.isNumber } }   // whole seconds are enough
        let zone = tail.isEmpty ? "Z" : String(tail)
        return Timestamp.parse(head + zone)
    }

    /// `YYYY-MM-DD` (OAI-PMH day granularity), in UTC.
    public static func day(_ date: Date) -> String { String(Timestamp.format(date).prefix(10)) }
}

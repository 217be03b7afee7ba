import Foundation

/// A facility's identifier: an `ivo://` IVOA identifier or a URL-safe name.
/// Identifiers compare case-insensitively, as RegTAP compares ivoids; the spelling first registered is kept for display.
public struct FacilityID: Sendable, Hashable, Codable, CustomStringConvertible {
    public let rawValue: String
    /// The comparison key: the identifier in lower case (computed once: identifiers are hashed and compared often).
    public let key: String

    public init(_ rawValue: String) {
        self.rawValue = rawValue
        self.key = rawValue.lowercased()
    }

    public static func == (a: FacilityID, b: FacilityID) -> Bool { a.key == b.key }

    /// No facility: the one a `/direct` session that found no offer names. No facility can be registered with it
    /// (`problem` refuses a colon outside an `ivo://` identifier).
    public static let noFacility = FacilityID("urn:skyport:no-facility")
    public func hash(into h: inout Hasher) { h.combine(key) }
    public var description: String { rawValue }

    /// Why this identifier is not acceptable, or nil when it is.
    public var problem: String? {
        let id = rawValue
        if id.isEmpty { return "must not be empty" }
        if id.utf8.count > 256 { return "must be at most 256 bytes long" }
        // The spec's pattern is the rule; what follows says where an identifier breaks it.
        if SpecPattern.matches(id, SpecPattern.facilityID) { return nil }
        if id.lowercased().hasPrefix("ivo://") {
            let rest = id.dropFirst(6)
            let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            if authority.count < 3 { return "an ivo:// identifier needs an authority of at least 3 characters (ivo://example.org/service)" }
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~/?#=&;:+%!$'()*,@"))
            if rest.unicodeScalars.contains(where: { !allowed.contains($0) || $0.value > 127 }) {
                return "an ivo:// identifier may hold only printable ASCII without spaces, quotes or angle brackets"
            }
            return nil
        }
        let urlSafe = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        if id.unicodeScalars.contains(where: { !urlSafe.contains($0) }) {
            return "must be an ivo:// identifier or a URL-safe name (letters, digits, '-', '.', '_', '~')"
        }
        if id.hasPrefix(".") { return "a name must not start with '.'" }
        return "must be an ivo:// identifier or a URL-safe name (letters, digits, '-', '.', '_', '~')"
    }

    /// An identifier known only by its key (already lower case), as stores keep it beside bookings.
    public init(lowercasedKey key: String) {
        self.rawValue = key
        self.key = key
    }

    public init(from decoder: any Decoder) throws { self.init(try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}

/// Whether a facility takes new work.
public enum FacilityStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// Offered to new requests.
    case active
    /// Finishing the work it has; not offered to new requests.
    case draining
    /// Not offered, and not expected to run anything.
    case disabled
}

/// The protocol a facility endpoint speaks.
public enum EndpointKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// A standard IVOA UWS 1.1 job list (XML), such as an async TAP endpoint.
    case uws
    /// ASTRON's django-uws JSON dialect.
    case djangoUWS = "django-uws"
    /// A BinderHub (build API plus the JupyterHub behind it).
    case binderhub
    /// Another ExecutionBroker, federated by Skyport.
    case executionbroker
}

/// Where and how Skyport reaches a facility.
public struct Endpoint: Sendable, Hashable, Codable {
    public var kind: EndpointKind
    public var url: String
    /// For a BinderHub: the longest a launch (build and server start) may take before it fails.
    public var launchTimeout: ISODuration?
    /// For another ExecutionBroker: the longest Skyport waits for its offers, in seconds (fractions allowed);
    /// nil is the broker's configured default. A later answer is dropped and listed as late.
    public var offerDeadline: Double?
    /// How Skyport authenticates there (nil: `service`).
    public var credentials: EndpointCredentials?

    public init(kind: EndpointKind, url: String, launchTimeout: ISODuration? = nil, offerDeadline: Double? = nil) {
        self.kind = kind
        self.url = url
        self.launchTimeout = launchTimeout
        self.offerDeadline = offerDeadline
    }

    private enum CodingKeys: String, CodingKey { case kind, url, launchTimeout, offerDeadline, credentials }
    private enum CredentialKeys: String, CodingKey { case mode, audience }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(EndpointKind.self, forKey: .kind)
        url = try c.decode(String.self, forKey: .url)
        launchTimeout = try c.decodeIfPresent(ISODuration.self, forKey: .launchTimeout)
        offerDeadline = try c.decodeIfPresent(String.self, forKey: .offerDeadline).flatMap(ISODuration.exactSeconds)
        if c.contains(.credentials) {
            let k = try c.nestedContainer(keyedBy: CredentialKeys.self, forKey: .credentials)
            let audience = try k.decodeIfPresent(String.self, forKey: .audience)
            switch try k.decode(String.self, forKey: .mode) {
            case "forward": credentials = audience.map { .forward(audience: $0) }
            case "exchange": credentials = audience.map { .exchange(audience: $0) }
            default: credentials = nil
            }
        }
    }

    /// `offerDeadline` is written as an ISO-8601 duration (`PT2.5S`), as operators write it.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(url, forKey: .url)
        try c.encodeIfPresent(launchTimeout, forKey: .launchTimeout)
        try c.encodeIfPresent(offerDeadline.map(Self.isoSeconds), forKey: .offerDeadline)
        if let credentials, credentials != .service {
            var k = c.nestedContainer(keyedBy: CredentialKeys.self, forKey: .credentials)
            try k.encode(credentials.mode, forKey: .mode)
            try k.encodeIfPresent(credentials.audience, forKey: .audience)
        }
    }

    /// `PT2.5S`, `PT0.25S`, `PT3S`.
    static func isoSeconds(_ seconds: Double) -> String {
        let millis = Int((seconds * 1000).rounded())
        let whole = millis / 1000, frac = millis % 1000
        guard frac > 0 else { return "PT\(whole)S" }
        var f = String(frac)
        f = String(repeating: "0", count: 3 - f.count) + f
        while f.hasSuffix("0") { f.removeLast() }
        return "PT\(whole).\(f)S"
    }
}

/// The most a single job may ask of a facility. A nil field is unknown: it never rejects a request.
public struct FacilityLimits: Sendable, Hashable, Codable {
    /// Most cores one job may have.
    public var cores: Int?
    /// Most memory one job may have, in GiB.
    public var memory: Int?
    /// Longest a job may run.
    public var duration: ISODuration?
    /// Most GPUs one job may have. Unlike the others, an undeclared GPU limit is none: GPUs are never assumed.
    public var gpus: Int?
    /// Most scratch storage one job may have, in GiB.
    public var scratch: Int?

    public init(cores: Int? = nil, memory: Int? = nil, duration: ISODuration? = nil, gpus: Int? = nil, scratch: Int? = nil) {
        self.cores = cores
        self.memory = memory
        self.duration = duration
        self.gpus = gpus
        self.scratch = scratch
    }
}

/// What the broker may book on a facility at any one time, across all its jobs.
public struct FacilityCapacity: Sendable, Hashable, Codable {
    /// Total cores.
    public var cores: Int?
    /// Total memory, in GiB.
    public var memory: Int?
    /// Total GPUs.
    public var gpus: Int?

    public init(cores: Int? = nil, memory: Int? = nil, gpus: Int? = nil) {
        self.cores = cores
        self.memory = memory
        self.gpus = gpus
    }
}

/// Data co-located with a facility.
public struct FacilityData: Sendable, Hashable, Codable {
    /// Rucio storage elements (RSEs) the facility reads locally.
    public var rses: [String]
    /// How fast data from elsewhere reaches it, in MB/s (nil: `assumedBandwidth`): the staging time estimate.
    public var bandwidth: Double?

    /// The bandwidth assumed for a facility that declares none, in MB/s.
    public static let assumedBandwidth = 100.0

    public init(rses: [String] = [], bandwidth: Double? = nil) {
        self.rses = rses
        self.bandwidth = bandwidth
    }
}

/// A facility: somewhere Skyport can run work, as its operator registered it.
public struct Facility: Sendable, Hashable, Codable {
    public var id: FacilityID
    public var name: String
    public var description: String
    public var status: FacilityStatus
    public var endpoints: [Endpoint]
    public var accepts: [ExecutableKind]
    public var limits: FacilityLimits
    public var capacity: FacilityCapacity
    public var data: FacilityData
    /// The operator that registered it (server-set).
    public var owner: String
    /// Server-set times.
    public var created: Date
    public var modified: Date
    /// Where each field came from, and when the facility was last harvested and refreshed (server-set). Nil for a
    /// facility stored before provenance was kept; its documents read as before.
    public var provenance: FacilityProvenance?
    /// Who may use it (nil: everyone). Set by its operator only; shown to operators only.
    public var access: FacilityAccess?
    /// Its CPU architectures and GPUs (nil: unknown).
    public var hardware: FacilityHardware?
    /// The runtimes, named environments and image registries it offers (nil: unknown).
    public var software: FacilitySoftware?
    /// What it declares a core-hour costs, in its operator's unit (ranking by `cost` only).
    public var cost: Double?

    public init(
        id: FacilityID, name: String, description: String = "", status: FacilityStatus = .active,
        endpoints: [Endpoint], accepts: [ExecutableKind], limits: FacilityLimits = .init(),
        capacity: FacilityCapacity = .init(), data: FacilityData = .init(), owner: String,
        created: Date, modified: Date, provenance: FacilityProvenance? = nil
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.status = status
        self.endpoints = endpoints
        self.accepts = accepts
        self.limits = limits
        self.capacity = capacity
        self.data = data
        self.owner = owner
        self.created = created
        self.modified = modified
        self.provenance = provenance
    }
}

/// A filter on the facility list.
public struct FacilityQuery: Sendable, Hashable {
    public var accepts: ExecutableKind?
    /// The filter names a kind no facility runs: nothing matches.
    public var runsNothing = false
    public var status: FacilityStatus?

    public init(accepts: ExecutableKind? = nil, status: FacilityStatus? = nil) {
        self.accepts = accepts
        self.status = status
    }

    public func matches(_ f: Facility) -> Bool {
        !runsNothing && (accepts.map { f.accepts.contains($0) } ?? true) && (status.map { f.status == $0 } ?? true)
    }
}

import Foundation

/// What Skyport understood of a request, whatever form it came in: an ExecutionBroker request document
/// (any of its three schema generations), a codemeta.json description of software, ESAP basket items,
/// or the 2022 ExecutionPlanner `/accepts` probe. The matcher and the planner read only this.
/// It is shown back to the user in the offer set, so that they can see what Skyport understood.
public struct NormalisedRequest: Sendable, Hashable, Codable {
    /// The client's name for the request (`meta.name`), if any.
    public var name: String?
    /// What to run.
    public var executable: ExecutableRequest
    /// Cores wanted; nil when the request says nothing.
    public var cores: ResourceRange?
    /// Memory wanted, in GiB.
    public var memory: ResourceRange?
    /// Storage wanted, in GiB (all storage items together).
    public var storage: ResourceRange?
    /// How long the session should be available; nil means the broker's default.
    public var duration: ISODuration?
    /// When the session may start; nil means "as soon as possible".
    public var start: TimeWindow?
    /// The data the job reads.
    public var data: [DataItem]
    /// What a codemeta.json said about the software, when one was given.
    public var software: SoftwareDescription?
    /// Things the parser could not use or had to assume, each naming its field.
    public var notes: [RequestNote]
    /// Skyport's extension: a URL to POST a small JSON notice to when the job ends.
    public var callback: String?
    /// GPUs, architecture, runtimes, environments, locality and ranking (nil: nothing beyond the fields above).
    public var needs: RequestNeeds?
    /// The ExecutionBroker components as written (normalised), carried into every offer (nil for a request that was
    /// no ExecutionBroker document, and in sets stored before they were kept).
    public var components: RequestComponents?
    /// What the request asks that Skyport cannot do (each naming its field): the request gets `result: NO` with these
    /// as messages. Nil when there is none.
    public var refusals: [RequestNote]?

    public init(
        name: String? = nil, executable: ExecutableRequest, cores: ResourceRange? = nil, memory: ResourceRange? = nil,
        storage: ResourceRange? = nil, duration: ISODuration? = nil, start: TimeWindow? = nil, data: [DataItem] = [],
        software: SoftwareDescription? = nil, notes: [RequestNote] = []
    ) {
        self.name = name
        self.executable = executable
        self.cores = cores
        self.memory = memory
        self.storage = storage
        self.duration = duration
        self.start = start
        self.data = data
        self.software = software
        self.notes = notes
    }
}

/// The executable part of a request.
public struct ExecutableRequest: Sendable, Hashable, Codable {
    /// The kind, when it could be told; nil is "unknown" (flagged, never a reason to reject by itself).
    public var kind: ExecutableKind?
    /// A notebook or script URL (`location` in the ExecutionBroker kinds).
    public var location: String?
    /// A git repository (codemeta `codeRepository`, without any `git+` prefix).
    public var repository: String?
    /// A git ref (branch, tag or commit) in that repository.
    public var ref: String?
    /// A path inside the repository (the notebook to open).
    public var path: String?
    /// Container image locations (DockerContainer `image.locations`, SingularityContainer `location`).
    public var images: [String]
    /// Parameters for a job: UWS parameters, a TAP query's LANG/QUERY/FORMAT/MAXREC, environment variables.
    public var parameters: [String: String]
    /// A kind the request named that is neither a known kind nor a kind URI (`foo`): no facility runs it, so every
    /// facility rejects the request with `kind-not-accepted` (the ExecutionBroker answers an unsupported request with
    /// `result: NO`, not an HTTP error). `kind` is nil then.
    public var unsupportedKind: String?

    public init(
        kind: ExecutableKind? = nil, location: String? = nil, repository: String? = nil, ref: String? = nil,
        path: String? = nil, images: [String] = [], parameters: [String: String] = [:]
    ) {
        self.kind = kind
        self.location = location
        self.repository = repository
        self.ref = ref
        self.path = path
        self.images = images
        self.parameters = parameters
    }
}

/// A min/max pair (cores, GiB). Either end may be missing.
public struct ResourceRange: Sendable, Hashable, Codable {
    public var min: Int?
    public var max: Int?

    public init(min: Int? = nil, max: Int? = nil) {
        self.min = min
        self.max = max
    }
}

/// A window in which a session may start.
public struct TimeWindow: Sendable, Hashable, Codable {
    public var earliest: Date
    public var latest: Date

    public init(earliest: Date, latest: Date) {
        self.earliest = earliest
        self.latest = latest
    }
}

/// One piece of data the job needs.
public struct DataItem: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// Downloadable over HTTP(S) (or another URL scheme).
        case url
        /// A Rucio DID (`scope:name`); where it lives decides which facilities are co-located.
        case rucio
        /// An IVOA resource (ivoid, ObsCore or DataLink row).
        case ivoa
        /// An S3 object.
        case s3
        /// Something else the basket held (a query, a Zooniverse project); kept, not fetched.
        case other
    }

    public var kind: Kind
    /// A name for the item (its `meta.name`, a file name, or the DID).
    public var name: String?
    /// Where to download it, for `url` items (and ivoa items with an access URL).
    public var url: String?
    /// The Rucio DID as `scope:name`, for `rucio` items.
    public var did: String?
    /// Rucio storage elements known to hold a replica; empty when unknown.
    public var rses: [String]
    /// Size in bytes, when known.
    public var size: Int64?
    /// A checksum as `algorithm:value` (`md5:...`, `adler32:...`), when known.
    public var checksum: String?
    /// Where the item came from (`executionbroker`, `basket:rucio`, `basket:astron_vo`, ...).
    public var source: String?

    public init(
        kind: Kind, name: String? = nil, url: String? = nil, did: String? = nil, rses: [String] = [],
        size: Int64? = nil, checksum: String? = nil, source: String? = nil
    ) {
        self.kind = kind
        self.name = name
        self.url = url
        self.did = did
        self.rses = rses
        self.size = size
        self.checksum = checksum
        self.source = source
    }
}

/// What a codemeta.json document says about the software.
public struct SoftwareDescription: Sendable, Hashable, Codable {
    public var name: String?
    public var version: String?
    public var repository: String?
    public var languages: [String]
    public var operatingSystems: [String]
    public var runtimePlatforms: [String]
    public var keywords: [String]
    /// Requirements stated in the file, as found (`memoryRequirements`, `processorRequirements`, `storageRequirements`).
    public var memoryRequirements: String?
    public var processorRequirements: String?
    public var storageRequirements: String?
    /// `softwareRequirements`, as found (packages, and runtimes such as `Python>=3.6`); nil when the file has none.
    public var requirements: [String]?

    public init(
        name: String? = nil, version: String? = nil, repository: String? = nil, languages: [String] = [],
        operatingSystems: [String] = [], runtimePlatforms: [String] = [], keywords: [String] = [],
        memoryRequirements: String? = nil, processorRequirements: String? = nil, storageRequirements: String? = nil
    ) {
        self.name = name
        self.version = version
        self.repository = repository
        self.languages = languages
        self.operatingSystems = operatingSystems
        self.runtimePlatforms = runtimePlatforms
        self.keywords = keywords
        self.memoryRequirements = memoryRequirements
        self.processorRequirements = processorRequirements
        self.storageRequirements = storageRequirements
    }
}

/// Something the parser flagged: a value it could not use, a default it assumed.
public struct RequestNote: Sendable, Hashable, Codable {
    public enum Level: String, Sendable, Hashable, Codable { case info, warning }
    public var level: Level
    public var field: String
    public var message: String

    public init(_ level: Level, _ field: String, _ message: String) {
        self.level = level
        self.field = field
        self.message = message
    }
}

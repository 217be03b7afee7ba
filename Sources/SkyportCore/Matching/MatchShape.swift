/// The part of a request that matching reads. Requests with equal shapes get equal match outcomes,
/// so a batch matches each distinct shape once (HTCondor's autoclusters).
public struct MatchShape: Sendable, Hashable {
    /// The executable kind; nil is unknown.
    public var kind: ExecutableKind?
    /// A kind the request named that no facility can run (`ExecutableRequest.unsupportedKind`): every facility rejects it.
    public var unsupportedKind: String?
    /// The request's minimum cores, if it gives one.
    public var minCores: Int?
    /// The request's minimum memory in GiB, if it gives one.
    public var minMemory: Int?
    /// The requested duration in seconds, if the request gives one.
    public var durationSeconds: Int?
    /// One entry per Rucio item: its replica RSEs upper-cased, sorted and without repeats (empty when unknown).
    /// The entries are sorted too, because the order of data items does not change a match.
    public var rucioItems: [[String]]
    /// The size in bytes of each Rucio item, in `rucioItems`' order (0: unknown).
    public var itemSizes: [Int64]
    /// Bytes of the other data (URLs, IVOA and S3 items) that every facility has to fetch.
    public var otherBytes: Int64 = 0
    /// The least GPUs (nil: none asked).
    public var gpus: Int?
    /// Acceptable GPU models, lower-cased and sorted (any one will do; a model matches its variants: `a100` matches `a100-sxm4-80gb`).
    public var gpuModels: [String] = []
    /// The least memory per GPU, in GiB.
    public var gpuMemory: Int?
    public var architecture: Architecture?
    /// The least scratch storage, in GiB (the request's storage).
    public var minScratch: Int?
    /// Runtimes needed, as `RequestNeeds.runtimes` labels, sorted.
    public var runtimes: [String] = []
    /// Named environments needed, lower-cased and sorted.
    public var environments: [String] = []
    /// The container images' repositories (`ghcr.io/ska/img`), sorted: a facility must be allowed to pull one.
    public var imageRepositories: [String] = []
    public var locality: Locality = .preferred
    public var rank: RankOrder = .locality

    public init(
        kind: ExecutableKind?, minCores: Int? = nil, minMemory: Int? = nil, durationSeconds: Int? = nil, rucioItems: [[String]] = [],
        itemSizes: [Int64]? = nil
    ) {
        self.kind = kind
        self.minCores = minCores
        self.minMemory = minMemory
        self.durationSeconds = durationSeconds
        let items = zip(rucioItems, itemSizes ?? Array(repeating: 0, count: rucioItems.count))
            .map { (Array(Set($0.0.map { $0.uppercased() })).sorted(), $0.1) }
            .sorted { $0.0 != $1.0 ? $0.0.lexicographicallyPrecedes($1.0) : $0.1 < $1.1 }
        self.rucioItems = items.map(\.0)
        self.itemSizes = items.map(\.1)
    }

    public init(_ request: NormalisedRequest) {
        let rucio = request.data.filter { $0.kind == .rucio }
        self.init(
            kind: request.executable.kind, minCores: request.cores?.min, minMemory: request.memory?.min,
            durationSeconds: request.duration?.seconds, rucioItems: rucio.map(\.rses), itemSizes: rucio.map { max(0, $0.size ?? 0) }
        )
        if request.executable.kind == nil { unsupportedKind = request.executable.unsupportedKind }
        otherBytes = request.data.filter { $0.kind != .rucio && $0.url != nil }.reduce(0) { $0 &+ max(0, $1.size ?? 0) }
        minScratch = request.storage?.min
        if request.executable.kind?.isContainer == true {
            imageRepositories = Array(Set(request.executable.images.map(ImageReference.repository))).sorted()
        }
        if let needs = request.needs {
            gpus = needs.gpus?.min ?? (needs.gpus?.max != nil ? 1 : nil)
            gpuModels = Array(Set(needs.gpuModels.map { $0.lowercased() })).sorted()
            gpuMemory = needs.gpuMemory
            architecture = needs.architecture
            runtimes = Array(Set(needs.runtimes)).sorted()
            environments = Array(Set(needs.environments.map { $0.lowercased() })).sorted()
            locality = needs.locality
            rank = needs.rank ?? .locality
        }
    }

    /// The Rucio items whose replica locations are known.
    var locatableItems: [[String]] { rucioItems.filter { !$0.isEmpty } }

    /// The runtime needs, read back from their labels.
    var runtimeNeeds: [RuntimeNeed] { RequestNeeds(runtimes: runtimes).runtimeNeeds }
}

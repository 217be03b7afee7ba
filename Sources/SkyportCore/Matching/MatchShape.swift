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

    public init(kind: ExecutableKind?, minCores: Int? = nil, minMemory: Int? = nil, durationSeconds: Int? = nil, rucioItems: [[String]] = []) {
        self.kind = kind
        self.minCores = minCores
        self.minMemory = minMemory
        self.durationSeconds = durationSeconds
        self.rucioItems = rucioItems.map { Array(Set($0.map { $0.uppercased() })).sorted() }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    public init(_ request: NormalisedRequest) {
        self.init(
            kind: request.executable.kind, minCores: request.cores?.min, minMemory: request.memory?.min,
            durationSeconds: request.duration?.seconds,
            rucioItems: request.data.filter { $0.kind == .rucio }.map(\.rses)
        )
        if request.executable.kind == nil { unsupportedKind = request.executable.unsupportedKind }
    }

    /// The Rucio items whose replica locations are known.
    var locatableItems: [[String]] { rucioItems.filter { !$0.isEmpty } }
}

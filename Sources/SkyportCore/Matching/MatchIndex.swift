/// Facilities compiled once into a compact form that many requests are matched against:
/// kinds, RSEs, GPU models, runtimes, environments and image registries as bitsets over interned ids, limits and
/// capacities as plain integers, and the facilities sorted by identifier key, so that ties break by key and input
/// order never matters.
public struct MatchIndex: Sendable {
    /// The facilities, sorted by identifier key (the order rejections are listed in).
    public let facilities: [Facility]
    /// The facilities whose (first) endpoint takes the user's own credentials (`forward`, `exchange`), by key.
    public let userCredentials: [String: EndpointCredentials]
    /// Whether any facility is another ExecutionBroker (a request may then be federated).
    public let hasBrokers: Bool
    /// This compilation of the facilities, as an identity: what an outcome's rejections are explained from
    /// (`RejectionsKey`). An index built again, even of the same facilities, is another.
    let compilation = Compilation()
    let compiled: [CompiledFacility]
    let kindIDs: [String: Int]
    let kindWords: Int
    /// Facility `i` accepts kind `k` when bit `k % 64` of `acceptsBits[i * kindWords + k / 64]` is set.
    let acceptsBits: [UInt64]
    /// Upper-cased RSE names.
    let rses: VocabTable
    /// Lower-cased GPU models.
    let gpuModels: VocabTable
    /// `name@version` and `name@*` (a runtime of unstated versions).
    let runtimes: VocabTable
    /// Lower-cased environment names.
    let environments: VocabTable
    /// Lower-cased registry prefixes.
    let registries: VocabTable

    public init(_ facilities: [Facility]) {
        let sorted = facilities.map { ($0.id.key, $0) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1.id.rawValue < $1.1.id.rawValue }
            .map(\.1)
        self.facilities = sorted
        var userCredentials: [String: EndpointCredentials] = [:]
        for f in sorted { if let c = f.endpoints.first?.credentials, c.needsUserToken { userCredentials[f.id.key] = c } }
        self.userCredentials = userCredentials
        hasBrokers = sorted.contains { $0.brokerEndpoint != nil }

        var kindIDs: [String: Int] = [:]
        for alias in ExecutableKind.knownAliases { kindIDs[alias] = kindIDs.count }
        for f in sorted {
            for k in f.accepts where kindIDs[k.rawValue] == nil { kindIDs[k.rawValue] = kindIDs.count }
        }
        let kindWords = (kindIDs.count + 63) / 64
        var accepts = [UInt64](repeating: 0, count: sorted.count * kindWords)
        for (i, f) in sorted.enumerated() {
            for k in f.accepts {
                let id = kindIDs[k.rawValue] ?? 0
                accepts[i * kindWords + id / 64] |= 1 << UInt64(id % 64)
            }
        }
        self.compiled = sorted.map(CompiledFacility.init)
        self.kindIDs = kindIDs
        self.kindWords = kindWords
        self.acceptsBits = accepts
        rses = VocabTable(sorted) { f in f.data.rses.isEmpty ? nil : f.data.rses.map { $0.uppercased() } }
        gpuModels = VocabTable(sorted) { $0.hardware?.gpuModels?.map { $0.lowercased() } }
        runtimes = VocabTable(sorted) { f in
            f.software?.runtimes.map { list in
                list.flatMap { rt in rt.versions.isEmpty ? ["\(rt.name)@*"] : rt.versions.map { "\(rt.name)@\($0)" } }
            }
        }
        environments = VocabTable(sorted) { $0.software?.environments?.map { $0.lowercased() } }
        registries = VocabTable(sorted) { $0.software?.registries?.map { $0.lowercased() } }
    }

    /// Matches one request against every facility, as `requester` asks it (facilities' access policies judge them).
    public func match(_ request: NormalisedRequest, requester: Requester = .anonymous) -> MatchOutcome {
        match(MatchShape(request), requester: requester)
    }

    /// Matches one request shape against every facility: hard filters, then score and rank.
    public func match(_ shape: MatchShape, requester: Requester = .anonymous) -> MatchOutcome {
        let q = CompiledShape(shape, in: self)
        let facilities = self.facilities
        var accepted: [AcceptedEntry] = []
        var rejected: [RejectedEntry] = []
        accepted.reserveCapacity(compiled.count)
        compiled.withUnsafeBufferPointer { compiled in
            acceptsBits.withUnsafeBufferPointer { acceptsBits in
                for i in 0..<compiled.count {
                    let f = compiled[i]
                    var reasons: UInt32 = 0
                    var flags = q.baseFlags
                    if !f.acceptsAny {
                        reasons |= ReasonBit.kindNotAccepted
                    } else if q.kindID >= 0 {
                        if acceptsBits[i &* kindWords &+ q.kindID >> 6] & (1 << UInt64(q.kindID & 63)) == 0 {
                            reasons |= ReasonBit.kindNotAccepted
                        }
                    } else if q.kindID == CompiledShape.kindNotInIndex {
                        reasons |= ReasonBit.kindNotAccepted
                    }
                    if q.archBit != 0 {
                        if !f.archKnown { flags |= FlagBit.architectureUnknown } else if f.archBits & q.archBit == 0 { reasons |= ReasonBit.architecture }
                    }
                    if q.gpus > 0 {
                        // GPUs are never assumed: a facility that declares none has none.
                        if q.gpus > Swift.max(f.limitGPUs, 0) { reasons |= ReasonBit.gpusLimit }
                        if f.capGPUs >= 0, q.gpus > f.capGPUs { reasons |= ReasonBit.gpusCapacity }
                        if q.wantsModels {
                            if !gpuModels.declared(i) { flags |= FlagBit.gpuUnknown } else if !gpuModels.intersects(i, q.gpuModels) { reasons |= ReasonBit.gpuModel }
                        }
                        if q.gpuMemory > 0 {
                            if f.gpuMemory < 0 { flags |= FlagBit.gpuUnknown } else if q.gpuMemory > f.gpuMemory { reasons |= ReasonBit.gpuMemory }
                        }
                    }
                    if q.minCores >= 0 {
                        if f.limitCores < 0 { flags |= FlagBit.limitCores } else if q.minCores > f.limitCores { reasons |= ReasonBit.coresLimit }
                        if f.capCores < 0 { flags |= FlagBit.capacityCores } else if q.minCores > f.capCores { reasons |= ReasonBit.coresCapacity }
                    }
                    if q.minMemory >= 0 {
                        if f.limitMemory < 0 { flags |= FlagBit.limitMemory } else if q.minMemory > f.limitMemory { reasons |= ReasonBit.memoryLimit }
                        if f.capMemory < 0 { flags |= FlagBit.capacityMemory } else if q.minMemory > f.capMemory { reasons |= ReasonBit.memoryCapacity }
                    }
                    if q.minScratch >= 0 {
                        if f.limitScratch < 0 { flags |= FlagBit.limitScratch } else if q.minScratch > f.limitScratch { reasons |= ReasonBit.scratchLimit }
                    }
                    if q.duration >= 0 {
                        if f.limitDuration < 0 { flags |= FlagBit.limitDuration } else if q.duration > f.limitDuration { reasons |= ReasonBit.durationLimit }
                    }
                    if q.needsSoftware {
                        for need in q.runtimeNeeds {
                            if !runtimes.declared(i) { flags |= FlagBit.softwareUnknown; break }
                            if !runtimes.intersects(i, need) { reasons |= ReasonBit.runtime; break }
                        }
                        for env in q.environmentNeeds {
                            if !environments.declared(i) { flags |= FlagBit.softwareUnknown; break }
                            if !environments.intersects(i, env) { reasons |= ReasonBit.environment; break }
                        }
                        if !q.images.isEmpty {
                            if !registries.declared(i) {
                                flags |= FlagBit.softwareUnknown
                            } else if !q.images.contains(where: { registries.intersects(i, $0) }) {
                                reasons |= ReasonBit.registry
                            }
                        }
                    }
                    var colocated = 0
                    var missingBytes = q.otherBytes
                    if !q.items.isEmpty {
                        if !rses.declared(i) {
                            missingBytes &+= q.itemBytes
                            // A facility that declares no RSEs holds nothing locally as far as anyone knows.
                            if q.locatable > 0 { if q.localityRequired { reasons |= ReasonBit.dataNotColocated } else { flags |= FlagBit.facilityDataUnknown } }
                        } else {
                            for n in 0..<q.items.count {
                                if rses.intersects(i, q.items[n]) { colocated &+= 1 } else { missingBytes &+= q.itemSizes[n] }
                            }
                            if colocated < q.locatable {
                                if q.localityRequired { reasons |= ReasonBit.dataNotColocated } else { flags |= FlagBit.dataPartly }
                            }
                        }
                    }
                    if !f.active { reasons |= ReasonBit.notActive }
                    if f.restricted, facilities[i].access?.admits(requester) == false { reasons |= ReasonBit.notAuthorized }
                    if reasons != 0 {
                        rejected.append(RejectedEntry(index: Int32(i), reasons: reasons))
                    } else {
                        accepted.append(AcceptedEntry(
                            index: Int32(i), flags: flags, colocated: Int32(colocated), headroom: q.headroom(f),
                            staging: missingBytes == 0 ? 0 : Swift.min(Double(missingBytes) * f.secondsPerByte, CompiledFacility.maxStaging), cost: f.cost))
                    }
                }
            }
        }
        MatchIndex.rank(&accepted, by: shape.rank)
        return MatchOutcome(
            shape: shape, facilities: facilities, compilation: compilation, accepted: accepted, rejected: rejected, locatable: q.locatable)
    }

    /// Orders accepted facilities, best first. Orders that need more than the index knows (`load`: health;
    /// `earliest-start`: calendars) start from the default order here and are refined by the matcher and the planner.
    static func rank(_ accepted: inout [AcceptedEntry], by order: RankOrder) {
        func byLocality(_ a: AcceptedEntry, _ b: AcceptedEntry) -> Bool {
            if a.staging != b.staging { return a.staging < b.staging }
            if a.colocated != b.colocated { return a.colocated > b.colocated }
            if a.headroom != b.headroom { return a.headroom > b.headroom }
            return a.index < b.index
        }
        switch order {
        case .locality, .earliestStart, .load:
            accepted.sort(by: byLocality)
        case .resources:
            accepted.sort { a, b in a.headroom != b.headroom ? a.headroom > b.headroom : byLocality(a, b) }
        case .cost:
            // An undeclared cost (-1) comes after every declared one.
            accepted.sort { a, b in
                let x = a.cost < 0 ? Double.infinity : a.cost, y = b.cost < 0 ? Double.infinity : b.cost
                return x != y ? x < y : byLocality(a, b)
            }
        }
    }
}

/// Values (`RSE`, `a100`, `python@3.11`) interned over an index's facilities, with one bitset per facility; a
/// facility whose list is nil has not declared it (unknown), one with an empty list declared none.
struct VocabTable: Sendable {
    let ids: [String: Int]
    let words: Int
    let bits: [UInt64]
    let declaredBits: [Bool]

    init(_ facilities: [Facility], _ values: (Facility) -> [String]?) {
        var ids: [String: Int] = [:]
        let lists = facilities.map(values)
        for list in lists { for v in list ?? [] where ids[v] == nil { ids[v] = ids.count } }
        let words = Swift.max(1, (ids.count + 63) / 64)
        var bits = [UInt64](repeating: 0, count: facilities.count * words)
        for (i, list) in lists.enumerated() {
            for v in list ?? [] {
                let id = ids[v]!
                bits[i * words + id / 64] |= 1 << UInt64(id % 64)
            }
        }
        self.ids = ids
        self.words = words
        self.bits = bits
        self.declaredBits = lists.map { $0 != nil }
    }

    /// The mask of the interned values for which `accept` holds.
    func mask(where accept: (String) -> Bool) -> SparseMask {
        var words: [Int: UInt64] = [:]
        for (v, id) in ids where accept(v) { words[id / 64, default: 0] |= 1 << UInt64(id % 64) }
        let sorted = words.sorted { $0.key < $1.key }
        return SparseMask(word: sorted.map(\.key), bits: sorted.map(\.value))
    }

    /// The mask of the given values (those no facility has are left out).
    func mask(_ values: some Sequence<String>) -> SparseMask {
        var words: [Int: UInt64] = [:]
        for v in values { if let id = ids[v] { words[id / 64, default: 0] |= 1 << UInt64(id % 64) } }
        let sorted = words.sorted { $0.key < $1.key }
        return SparseMask(word: sorted.map(\.key), bits: sorted.map(\.value))
    }

    @inline(__always) func declared(_ i: Int) -> Bool { declaredBits[i] }

    @inline(__always) func intersects(_ i: Int, _ m: SparseMask) -> Bool {
        let base = i &* words
        for k in 0..<m.word.count where bits[base &+ m.word[k]] & m.bits[k] != 0 { return true }
        return false
    }
}

/// The non-zero words of a bitset over a `VocabTable`'s ids.
struct SparseMask: Sendable {
    var word: [Int]
    var bits: [UInt64]
    var isEmpty: Bool { word.isEmpty }
}

/// The reason bits of a compact reason mask, in funnel clause order (`MatchClause`): the lowest bit set names the
/// first clause a facility fails.
enum ReasonBit {
    static let kindNotAccepted: UInt32 = 1 << 0
    static let architecture: UInt32 = 1 << 1
    static let gpusLimit: UInt32 = 1 << 2
    static let gpusCapacity: UInt32 = 1 << 3
    static let gpuModel: UInt32 = 1 << 4
    static let gpuMemory: UInt32 = 1 << 5
    static let coresLimit: UInt32 = 1 << 6
    static let coresCapacity: UInt32 = 1 << 7
    static let memoryLimit: UInt32 = 1 << 8
    static let memoryCapacity: UInt32 = 1 << 9
    static let scratchLimit: UInt32 = 1 << 10
    static let durationLimit: UInt32 = 1 << 11
    static let runtime: UInt32 = 1 << 12
    static let environment: UInt32 = 1 << 13
    static let registry: UInt32 = 1 << 14
    static let dataNotColocated: UInt32 = 1 << 15
    static let notActive: UInt32 = 1 << 16
    static let notAuthorized: UInt32 = 1 << 17

    /// The clause of each bit.
    static let clause: [MatchClause] = [
        .kind, .architecture, .gpus, .gpus, .gpus, .gpus, .cores, .cores, .memory, .memory, .scratch, .duration,
        .software, .software, .software, .data, .policy, .policy,
    ]
}

/// The flag bits of a compact flag mask.
enum FlagBit {
    static let kindUnknown: UInt16 = 1 << 0
    static let limitCores: UInt16 = 1 << 1
    static let limitMemory: UInt16 = 1 << 2
    static let limitDuration: UInt16 = 1 << 3
    static let capacityCores: UInt16 = 1 << 4
    static let capacityMemory: UInt16 = 1 << 5
    static let dataLocationUnknown: UInt16 = 1 << 6
    static let facilityDataUnknown: UInt16 = 1 << 7
    static let dataPartly: UInt16 = 1 << 8
    static let architectureUnknown: UInt16 = 1 << 9
    static let limitScratch: UInt16 = 1 << 10
    static let softwareUnknown: UInt16 = 1 << 11
    static let gpuUnknown: UInt16 = 1 << 12
}

/// A facility's matching-relevant values as plain integers; -1 is unknown.
struct CompiledFacility: Sendable {
    var active: Bool
    /// It has an access policy (judged per requester).
    var restricted: Bool
    var acceptsAny: Bool
    var limitCores: Int
    var limitMemory: Int
    var limitDuration: Int
    var limitScratch: Int
    var limitGPUs: Int
    var capCores: Int
    var capMemory: Int
    var capGPUs: Int
    var gpuMemory: Int
    /// `Architecture.bit`s, when the facility declares its architectures (an empty list declares none).
    var archBits: UInt8
    var archKnown: Bool
    /// Seconds to stage one byte from elsewhere.
    var secondsPerByte: Double
    /// The longest staging estimate (ten years): beyond it the number says nothing more.
    static let maxStaging = 10 * 366 * 86_400.0
    var cost: Double
    /// Reciprocals for headroom (0 when unknown or zero).
    var invLimitCores: Double
    var invLimitMemory: Double
    var invLimitDuration: Double
    var invCapCores: Double
    var invCapMemory: Double

    init(_ f: Facility) {
        active = f.status == .active
        restricted = f.access.map { !$0.isOpen } ?? false
        acceptsAny = !f.accepts.isEmpty
        limitCores = f.limits.cores.map { Swift.max(0, $0) } ?? -1
        limitMemory = f.limits.memory.map { Swift.max(0, $0) } ?? -1
        limitDuration = f.limits.duration.map { Swift.max(0, $0.seconds) } ?? -1
        limitScratch = f.limits.scratch.map { Swift.max(0, $0) } ?? -1
        limitGPUs = f.limits.gpus.map { Swift.max(0, $0) } ?? -1
        capCores = f.capacity.cores.map { Swift.max(0, $0) } ?? -1
        capMemory = f.capacity.memory.map { Swift.max(0, $0) } ?? -1
        capGPUs = f.capacity.gpus.map { Swift.max(0, $0) } ?? -1
        gpuMemory = f.hardware?.gpuMemory ?? -1
        archBits = (f.hardware?.architectures ?? []).reduce(0) { $0 | $1.bit }
        archKnown = f.hardware?.architectures != nil
        secondsPerByte = 1 / (Swift.max(f.data.bandwidth ?? FacilityData.assumedBandwidth, 0.001) * 1_000_000)
        cost = f.cost ?? -1
        func inv(_ v: Int) -> Double { v > 0 ? 1 / Double(v) : 0 }
        invLimitCores = inv(limitCores)
        invLimitMemory = inv(limitMemory)
        invLimitDuration = inv(limitDuration)
        invCapCores = inv(capCores)
        invCapMemory = inv(capMemory)
    }
}

/// A shape resolved against one index: interned kind, bitset masks per need, integers with -1 for "not given".
struct CompiledShape {
    /// The kind is unknown (the request gave none).
    static let kindUnknown = -1
    /// The kind is known but no facility in the index accepts it.
    static let kindNotInIndex = -2

    var kindID: Int
    var minCores: Int
    var minMemory: Int
    var minScratch: Int
    var duration: Int
    var gpus: Int
    var gpuMemory: Int
    var gpuModels: SparseMask
    /// The request names GPU models (its mask is empty when no facility has any of them).
    var wantsModels: Bool
    var archBit: UInt8
    var baseFlags: UInt16
    var locatable: Int
    var localityRequired: Bool
    /// One mask per Rucio item (empty for an item of unknown replicas), with its size.
    var items: [SparseMask]
    var itemSizes: [Int64]
    /// All the Rucio items' bytes (what a facility holding none of them stages).
    var itemBytes: Int64
    var otherBytes: Int64
    var runtimeNeeds: [SparseMask]
    var environmentNeeds: [SparseMask]
    /// One mask per image: the registry prefixes it is under.
    var images: [SparseMask]
    var needsSoftware: Bool
    /// Amounts headroom is measured for: cores and memory default to 1 when the request gives no minimum.
    let headroomCores: Double
    let headroomMemory: Double
    let headroomDuration: Double
    let headroomDims: Double

    init(_ shape: MatchShape, in index: MatchIndex) {
        if let kind = shape.kind {
            kindID = index.kindIDs[kind.rawValue] ?? Self.kindNotInIndex
        } else if shape.unsupportedKind != nil {
            kindID = Self.kindNotInIndex
        } else {
            kindID = Self.kindUnknown
        }
        minCores = shape.minCores.map { Swift.max(0, $0) } ?? -1
        minMemory = shape.minMemory.map { Swift.max(0, $0) } ?? -1
        minScratch = shape.minScratch.map { Swift.max(0, $0) } ?? -1
        duration = shape.durationSeconds.map { Swift.max(0, $0) } ?? -1
        gpus = Swift.max(0, shape.gpus ?? 0)
        gpuMemory = Swift.max(0, shape.gpuMemory ?? 0)
        let models = shape.gpuModels
        gpuModels = index.gpuModels.mask { have in models.contains { have == $0 || have.hasPrefix($0 + "-") || have.hasPrefix($0 + " ") } }
        wantsModels = !models.isEmpty
        archBit = shape.architecture?.bit ?? 0
        var flags: UInt16 = shape.kind == nil && shape.unsupportedKind == nil ? FlagBit.kindUnknown : 0
        if shape.rucioItems.contains(where: \.isEmpty) { flags |= FlagBit.dataLocationUnknown }
        baseFlags = flags
        locatable = shape.locatableItems.count
        localityRequired = shape.locality == .required
        items = shape.rucioItems.map { index.rses.mask($0) }
        itemSizes = shape.itemSizes
        itemBytes = shape.itemSizes.reduce(0, &+)
        otherBytes = shape.otherBytes
        runtimeNeeds = shape.runtimeNeeds.map { need in
            index.runtimes.mask { key in
                guard let at = key.firstIndex(of: "@"), key[..<at] == need.name else { return false }
                let version = key[key.index(after: at)...]
                return version == "*" || Version(String(version)).map(need.range.contains) == true
            }
        }
        environmentNeeds = shape.environments.map { index.environments.mask([$0]) }
        images = shape.imageRepositories.map { repo in index.registries.mask { ImageReference.isUnder(repo, prefix: $0) } }
        needsSoftware = !runtimeNeeds.isEmpty || !environmentNeeds.isEmpty || !images.isEmpty
        headroomCores = Double(Swift.max(minCores, 1))
        headroomMemory = Double(Swift.max(minMemory, 1))
        headroomDuration = Double(Swift.max(duration, 0))
        headroomDims = duration >= 0 ? 5 : 4
    }

    /// The mean over limits and capacities of `1 - asked/available`; an unknown value counts 0.
    @inline(__always)
    func headroom(_ f: CompiledFacility) -> Double {
        var sum = 0.0
        if f.invLimitCores > 0 { sum += Swift.max(0, 1 - headroomCores * f.invLimitCores) }
        if f.invLimitMemory > 0 { sum += Swift.max(0, 1 - headroomMemory * f.invLimitMemory) }
        if f.invCapCores > 0 { sum += Swift.max(0, 1 - headroomCores * f.invCapCores) }
        if f.invCapMemory > 0 { sum += Swift.max(0, 1 - headroomMemory * f.invCapMemory) }
        if duration >= 0, f.invLimitDuration > 0 { sum += Swift.max(0, 1 - headroomDuration * f.invLimitDuration) }
        return sum / headroomDims
    }
}

/// An accepted facility in compact form.
struct AcceptedEntry: Sendable {
    var index: Int32
    var flags: UInt16
    var colocated: Int32
    var headroom: Double
    /// Estimated seconds to stage the data it does not hold.
    var staging: Double
    /// Its declared cost (-1: none).
    var cost: Double
}

/// A rejected facility in compact form: its reasons as a bitmask, expanded on demand.
struct RejectedEntry: Sendable {
    var index: Int32
    var reasons: UInt32
}

extension MatchIndex {
    /// One building of a `MatchIndex`, compared by identity.
    final class Compilation: Sendable {}
}

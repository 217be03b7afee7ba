/// Facilities compiled once into a compact form that many requests are matched against:
/// kinds and RSEs as bitsets over interned ids, limits and capacities as plain integers,
/// and the facilities sorted by identifier key, so that ties break by key and input order never matters.
public struct MatchIndex: Sendable {
    /// The facilities, sorted by identifier key (the order rejections are listed in).
    public let facilities: [Facility]
    /// The facilities whose (first) endpoint takes the user's own credentials (`forward`, `exchange`), by key.
    public let userCredentials: [String: EndpointCredentials]
    let compiled: [CompiledFacility]
    let kindIDs: [String: Int]
    let kindWords: Int
    /// Facility `i` accepts kind `k` when bit `k % 64` of `acceptsBits[i * kindWords + k / 64]` is set.
    let acceptsBits: [UInt64]
    let rseIDs: [String: Int]
    let rseWords: Int
    /// Facility `i` holds RSE `r` when bit `r % 64` of `rseBits[i * rseWords + r / 64]` is set.
    let rseBits: [UInt64]

    public init(_ facilities: [Facility]) {
        let sorted = facilities.map { ($0.id.key, $0) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1.id.rawValue < $1.1.id.rawValue }
            .map(\.1)
        self.facilities = sorted
        var userCredentials: [String: EndpointCredentials] = [:]
        for f in sorted { if let c = f.endpoints.first?.credentials, c.needsUserToken { userCredentials[f.id.key] = c } }
        self.userCredentials = userCredentials

        var kindIDs: [String: Int] = [:]
        for alias in ExecutableKind.knownAliases { kindIDs[alias] = kindIDs.count }
        var rseIDs: [String: Int] = [:]
        for f in sorted {
            for k in f.accepts where kindIDs[k.rawValue] == nil { kindIDs[k.rawValue] = kindIDs.count }
            for r in f.data.rses where rseIDs[r.uppercased()] == nil { rseIDs[r.uppercased()] = rseIDs.count }
        }
        let kindWords = (kindIDs.count + 63) / 64
        let rseWords = (rseIDs.count + 63) / 64
        var accepts = [UInt64](repeating: 0, count: sorted.count * kindWords)
        var rses = [UInt64](repeating: 0, count: sorted.count * rseWords)
        var compiled: [CompiledFacility] = []
        compiled.reserveCapacity(sorted.count)
        for (i, f) in sorted.enumerated() {
            for k in f.accepts {
                let id = kindIDs[k.rawValue] ?? 0
                accepts[i * kindWords + id / 64] |= 1 << UInt64(id % 64)
            }
            for r in f.data.rses {
                let id = rseIDs[r.uppercased()] ?? 0
                rses[i * rseWords + id / 64] |= 1 << UInt64(id % 64)
            }
            compiled.append(CompiledFacility(f))
        }
        self.compiled = compiled
        self.kindIDs = kindIDs
        self.kindWords = kindWords
        self.acceptsBits = accepts
        self.rseIDs = rseIDs
        self.rseWords = rseWords
        self.rseBits = rses
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
            rseBits.withUnsafeBufferPointer { rseBits in
                acceptsBits.withUnsafeBufferPointer { acceptsBits in
                    for i in 0..<compiled.count {
                        let f = compiled[i]
                        var reasons: UInt16 = 0
                        var flags = q.baseFlags
                        if !f.active { reasons |= ReasonBit.notActive }
                        if f.restricted, facilities[i].access?.admits(requester) == false { reasons |= ReasonBit.notAuthorized }
                        if !f.acceptsAny {
                            reasons |= ReasonBit.kindNotAccepted
                        } else if q.kindID >= 0 {
                            if acceptsBits[i &* kindWords &+ q.kindID >> 6] & (1 << UInt64(q.kindID & 63)) == 0 {
                                reasons |= ReasonBit.kindNotAccepted
                            }
                        } else if q.kindID == CompiledShape.kindNotInIndex {
                            reasons |= ReasonBit.kindNotAccepted
                        }
                        if q.minCores >= 0 {
                            if f.limitCores < 0 { flags |= FlagBit.limitCores } else if q.minCores > f.limitCores { reasons |= ReasonBit.coresLimit }
                            if f.capCores < 0 { flags |= FlagBit.capacityCores } else if q.minCores > f.capCores { reasons |= ReasonBit.coresCapacity }
                        }
                        if q.minMemory >= 0 {
                            if f.limitMemory < 0 { flags |= FlagBit.limitMemory } else if q.minMemory > f.limitMemory { reasons |= ReasonBit.memoryLimit }
                            if f.capMemory < 0 { flags |= FlagBit.capacityMemory } else if q.minMemory > f.capMemory { reasons |= ReasonBit.memoryCapacity }
                        }
                        if q.duration >= 0 {
                            if f.limitDuration < 0 { flags |= FlagBit.limitDuration } else if q.duration > f.limitDuration { reasons |= ReasonBit.durationLimit }
                        }
                        var colocated = 0
                        if q.locatable > 0 {
                            if f.hasRses {
                                let base = i &* rseWords
                                for item in 0..<q.locatable {
                                    var k = q.itemStart[item]
                                    let end = q.itemStart[item + 1]
                                    while k < end {
                                        if rseBits[base &+ q.itemWord[k]] & q.itemBits[k] != 0 { colocated &+= 1; break }
                                        k &+= 1
                                    }
                                }
                                if colocated == 0 { reasons |= ReasonBit.dataNotColocated } else if colocated < q.locatable { flags |= FlagBit.dataPartly }
                            } else {
                                flags |= FlagBit.facilityDataUnknown
                            }
                        }
                        if reasons != 0 {
                            rejected.append(RejectedEntry(index: Int32(i), reasons: reasons))
                        } else {
                            accepted.append(AcceptedEntry(index: Int32(i), flags: flags, colocated: Int32(colocated), headroom: q.headroom(f)))
                        }
                    }
                }
            }
        }
        accepted.sort { a, b in
            if a.colocated != b.colocated { return a.colocated > b.colocated }
            if a.headroom != b.headroom { return a.headroom > b.headroom }
            return a.index < b.index
        }
        return MatchOutcome(shape: shape, facilities: facilities, accepted: accepted, rejected: rejected, locatable: q.locatable)
    }
}

/// The reason bits of a compact reason mask, in `MatchReasonCode` declaration order.
enum ReasonBit {
    static let notActive: UInt16 = 1 << 0
    static let kindNotAccepted: UInt16 = 1 << 1
    static let coresLimit: UInt16 = 1 << 2
    static let memoryLimit: UInt16 = 1 << 3
    static let durationLimit: UInt16 = 1 << 4
    static let coresCapacity: UInt16 = 1 << 5
    static let memoryCapacity: UInt16 = 1 << 6
    static let dataNotColocated: UInt16 = 1 << 7
    static let notAuthorized: UInt16 = 1 << 8
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
}

/// A facility's matching-relevant values as plain integers; -1 is unknown.
struct CompiledFacility: Sendable {
    var active: Bool
    /// It has an access policy (judged per requester).
    var restricted: Bool
    var acceptsAny: Bool
    var hasRses: Bool
    var limitCores: Int
    var limitMemory: Int
    var limitDuration: Int
    var capCores: Int
    var capMemory: Int
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
        hasRses = !f.data.rses.isEmpty
        limitCores = f.limits.cores.map { Swift.max(0, $0) } ?? -1
        limitMemory = f.limits.memory.map { Swift.max(0, $0) } ?? -1
        limitDuration = f.limits.duration.map { Swift.max(0, $0.seconds) } ?? -1
        capCores = f.capacity.cores.map { Swift.max(0, $0) } ?? -1
        capMemory = f.capacity.memory.map { Swift.max(0, $0) } ?? -1
        func inv(_ v: Int) -> Double { v > 0 ? 1 / Double(v) : 0 }
        invLimitCores = inv(limitCores)
        invLimitMemory = inv(limitMemory)
        invLimitDuration = inv(limitDuration)
        invCapCores = inv(capCores)
        invCapMemory = inv(capMemory)
    }
}

/// A shape resolved against one index: interned kind, RSE bitsets per locatable item, integers with -1 for "not given".
struct CompiledShape {
    /// The kind is unknown (the request gave none).
    static let kindUnknown = -1
    /// The kind is known but no facility in the index accepts it.
    static let kindNotInIndex = -2

    var kindID: Int
    var minCores: Int
    var minMemory: Int
    var duration: Int
    var baseFlags: UInt16
    var locatable: Int
    /// Item `n`'s non-zero RSE words are `itemWord[itemStart[n]..<itemStart[n+1]]` with bits `itemBits[...]`.
    var itemStart: [Int]
    var itemWord: [Int]
    var itemBits: [UInt64]
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
        duration = shape.durationSeconds.map { Swift.max(0, $0) } ?? -1
        var flags: UInt16 = shape.kind == nil && shape.unsupportedKind == nil ? FlagBit.kindUnknown : 0
        if shape.rucioItems.contains(where: \.isEmpty) { flags |= FlagBit.dataLocationUnknown }
        baseFlags = flags
        let items = shape.locatableItems
        locatable = items.count
        itemStart = [0]
        itemWord = []
        itemBits = []
        for rses in items {
            var words: [Int: UInt64] = [:]
            for r in rses {
                if let id = index.rseIDs[r] { words[id / 64, default: 0] |= 1 << UInt64(id % 64) }
            }
            for (w, bits) in words.sorted(by: { $0.key < $1.key }) {
                itemWord.append(w)
                itemBits.append(bits)
            }
            itemStart.append(itemWord.count)
        }
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
}

/// A rejected facility in compact form: its reasons as a bitmask, expanded on demand.
struct RejectedEntry: Sendable {
    var index: Int32
    var reasons: UInt16
}

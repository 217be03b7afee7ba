/// The result of matching one request: accepted facilities ranked best first, and every rejected facility.
/// Held compactly; candidates, flags and reasons are built when asked for.
public struct MatchOutcome: Sendable {
    /// What was matched.
    public let shape: MatchShape
    let facilities: [Facility]
    /// The index `facilities` were compiled in.
    let compilation: MatchIndex.Compilation
    let accepted: [AcceptedEntry]
    let rejected: [RejectedEntry]
    let locatable: Int
    /// Reasons and flags that are not in the compact masks (facility health), by index into `facilities`.
    var extraReasons: [Int32: [MatchReason]] = [:]
    var extraFlags: [Int32: [MatchFlag]] = [:]

    init(
        shape: MatchShape, facilities: [Facility], compilation: MatchIndex.Compilation, accepted: [AcceptedEntry], rejected: [RejectedEntry],
        locatable: Int
    ) {
        self.shape = shape
        self.facilities = facilities
        self.compilation = compilation
        self.accepted = accepted
        self.rejected = rejected
        self.locatable = locatable
    }

    /// Whether any facility can take the request.
    public var isMatch: Bool { !accepted.isEmpty }
    public var acceptedCount: Int { accepted.count }
    public var rejectedCount: Int { rejected.count }

    /// The accepted facilities' identifiers, best first.
    public var rankedIDs: [FacilityID] { accepted.map { facilities[Int($0.index)].id } }

    /// The accepted facilities, best first, with score and flags.
    public var candidates: [MatchCandidate] { accepted.map(candidate) }

    /// The rejected facilities in identifier-key order, each with all its reasons.
    public var rejections: [MatchRejection] {
        let explainer = MatchExplainer(shape: shape)
        // The facility is read in place (a `let` would copy every field of it, a retain each).
        return rejected.map { r in
            var reasons = explainer.reasons(r.reasons, facility: facilities[Int(r.index)])
            if let extra = extraReasons[r.index] { reasons += extra }
            return MatchRejection(facility: facilities[Int(r.index)].id, reasons: reasons)
        }
    }

    /// What `rejections` are a function of: outcomes with equal keys have equal rejections.
    public var rejectionsKey: RejectionsKey {
        RejectionsKey(
            compilation: compilation, shape: shape, rejected: rejected.map { UInt64(UInt32(bitPattern: $0.index)) << 32 | UInt64($0.reasons) },
            extra: extraReasons)
    }

    /// The accepted facilities, best first, with their scores but no flags (what the offer planner needs; flags
    /// are words built for people, and a planner may walk every candidate).
    var ranked: some Sequence<MatchCandidate> { accepted.lazy.map { self.candidate($0, flagged: false) } }

    /// The display names of the given accepted facilities, by identifier key.
    public func names(of ids: [FacilityID]) -> [String: String] {
        let wanted = Set(ids.map(\.key))
        var names: [String: String] = [:]
        for a in accepted where names.count < wanted.count {
            let f = facilities[Int(a.index)]
            if wanted.contains(f.id.key) { names[f.id.key] = f.name }
        }
        return names
    }

    func candidate(_ a: AcceptedEntry) -> MatchCandidate { candidate(a, flagged: true) }

    func candidate(_ a: AcceptedEntry, flagged: Bool) -> MatchCandidate {
        let f = facilities[Int(a.index)]
        let colocation = locatable > 0 ? Double(a.colocated) / Double(locatable) : 0
        return MatchCandidate(
            facility: f, score: MatchScore(colocation: colocation, headroom: a.headroom, staging: a.staging),
            flags: flagged ? MatchExplainer(shape: shape).flags(a.flags, facility: f) + (extraFlags[a.index] ?? []) : []
        )
    }
}

/// What an outcome's rejections are worked out from, and nothing else: the facilities (as the index they were
/// compiled in: an index is built again whenever a facility changes), the request's shape, each rejected facility's
/// place and reason mask, and the reasons found beside the masks (facility health, with its details). Equal keys give
/// equal rejections, so that a shape asked again and again is explained once (`BoundedMemo`): under load, explaining
/// half of a hundred facilities' rejections and writing them as one text was a twentieth of the broker's CPU.
public struct RejectionsKey: Hashable, Sendable {
    /// Held, not only named: while a key is kept, no other index can be built at its address.
    let compilation: MatchIndex.Compilation
    let shape: MatchShape
    let rejected: [UInt64]
    let extra: [Int32: [MatchReason]]

    public static func == (a: RejectionsKey, b: RejectionsKey) -> Bool {
        a.compilation === b.compilation && a.rejected == b.rejected && a.shape == b.shape && a.extra == b.extra
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(ObjectIdentifier(compilation))
        hasher.combine(rejected)
        hasher.combine(shape)
        hasher.combine(extra)
    }
}

/// Turns compact reason and flag masks into readable values (only done for what is shown).
struct MatchExplainer {
    let shape: MatchShape

    func reasons(_ mask: UInt32, facility f: Facility) -> [MatchReason] {
        var out: [MatchReason] = []
        let id = f.id
        if mask & ReasonBit.notActive != 0 {
            out.append(MatchReason(code: .facilityNotActive, field: "status", requested: "active", offered: f.status.rawValue, facility: id))
        }
        if mask & ReasonBit.notAuthorized != 0 {
            // What the policy says is not the caller's to know: only that the facility is not theirs to use.
            out.append(MatchReason(code: .notAuthorized, field: "access", requested: "access", offered: "not available", facility: id))
        }
        if mask & ReasonBit.kindNotAccepted != 0 {
            let offered = f.accepts.map(\.rawValue).joined(separator: ",")
            let asked = shape.kind?.rawValue ?? shape.unsupportedKind ?? "unknown"
            out.append(MatchReason(code: .kindNotAccepted, field: "executable.kind", requested: asked, offered: offered, facility: id))
        }
        if mask & ReasonBit.architecture != 0, let asked = shape.architecture {
            let offered = (f.hardware?.architectures ?? []).map(\.rawValue).joined(separator: ",")
            out.append(MatchReason(code: .architectureNotSupported, field: "architecture", requested: asked.rawValue, offered: offered, facility: id))
        }
        if mask & ReasonBit.gpusLimit != 0, let asked = shape.gpus {
            out.append(MatchReason(code: .gpusExceedLimit, field: "gpus", requested: "\(asked)", offered: "\(f.limits.gpus ?? 0)", facility: id))
        }
        if mask & ReasonBit.gpusCapacity != 0, let asked = shape.gpus, let has = f.capacity.gpus {
            out.append(MatchReason(code: .gpusExceedCapacity, field: "gpus", requested: "\(asked)", offered: "\(has)", facility: id))
        }
        if mask & ReasonBit.gpuModel != 0 {
            out.append(MatchReason(
                code: .gpuModelNotAvailable, field: "gpus.models", requested: shape.gpuModels.joined(separator: "|"),
                offered: (f.hardware?.gpuModels ?? []).joined(separator: ","), facility: id))
        }
        if mask & ReasonBit.gpuMemory != 0, let asked = shape.gpuMemory, let has = f.hardware?.gpuMemory {
            out.append(MatchReason(code: .gpuMemoryTooSmall, field: "gpus.memory", requested: "\(asked)", offered: "\(has)", facility: id))
        }
        func amount(_ code: MatchReasonCode, _ bit: UInt32, _ field: String, _ asked: Int?, _ has: Int?) {
            guard mask & bit != 0, let asked, let has else { return }
            out.append(MatchReason(code: code, field: field, requested: "\(asked)", offered: "\(has)", facility: id))
        }
        amount(.coresExceedLimit, ReasonBit.coresLimit, "cores", shape.minCores, f.limits.cores)
        amount(.memoryExceedLimit, ReasonBit.memoryLimit, "memory", shape.minMemory, f.limits.memory)
        amount(.scratchExceedLimit, ReasonBit.scratchLimit, "storage", shape.minScratch, f.limits.scratch)
        if mask & ReasonBit.durationLimit != 0, let asked = shape.durationSeconds, let limit = f.limits.duration {
            out.append(MatchReason(
                code: .durationExceedLimit, field: "duration", requested: ISODuration(seconds: asked).description, offered: limit.description,
                facility: id))
        }
        amount(.coresExceedCapacity, ReasonBit.coresCapacity, "cores", shape.minCores, f.capacity.cores)
        amount(.memoryExceedCapacity, ReasonBit.memoryCapacity, "memory", shape.minMemory, f.capacity.memory)
        if mask & ReasonBit.runtime != 0 {
            let runtimes = f.software?.runtimes ?? []
            let offered = runtimes.map { rt in rt.versions.isEmpty ? rt.name : "\(rt.name) \(rt.versions.joined(separator: " "))" }.joined(separator: "; ")
            for need in shape.runtimeNeeds where !Self.provides(runtimes, need) {
                out.append(MatchReason(code: .runtimeNotAvailable, field: "runtimes", requested: need.label, offered: offered, facility: id))
            }
        }
        if mask & ReasonBit.environment != 0 {
            let have = f.software?.environments ?? []
            for env in shape.environments where !have.contains(where: { $0.lowercased() == env }) {
                out.append(MatchReason(code: .environmentNotAvailable, field: "environments", requested: env, offered: have.joined(separator: ","), facility: id))
            }
        }
        if mask & ReasonBit.registry != 0 {
            out.append(MatchReason(
                code: .imageRegistryNotAllowed, field: "executable.image.locations", requested: shape.imageRepositories.joined(separator: "|"),
                offered: (f.software?.registries ?? []).joined(separator: ","), facility: id))
        }
        if mask & ReasonBit.dataNotColocated != 0 {
            let held = Set(f.data.rses.map { $0.uppercased() })
            let offered = f.data.rses.joined(separator: "|")
            for item in shape.locatableItems where held.isDisjoint(with: item) {
                out.append(MatchReason(code: .dataNotColocated, field: "data", requested: item.joined(separator: "|"), offered: offered, facility: id))
            }
        }
        return out
    }

    func flags(_ mask: UInt16, facility f: Facility) -> [MatchFlag] {
        var out: [MatchFlag] = []
        let name = f.id.rawValue
        func add(_ bit: UInt16, _ code: MatchFlagCode, _ field: String, _ message: String) {
            if mask & bit != 0 { out.append(MatchFlag(code: code, field: field, message: message)) }
        }
        add(FlagBit.kindUnknown, .kindUnknown, "executable.kind", "the request does not say what kind of executable it is; facility \(name) may not run it")
        add(FlagBit.limitCores, .limitUnknown, "cores", "facility \(name) publishes no per-job core limit")
        add(FlagBit.limitMemory, .limitUnknown, "memory", "facility \(name) publishes no per-job memory limit")
        add(FlagBit.limitDuration, .limitUnknown, "duration", "facility \(name) publishes no per-job duration limit")
        add(FlagBit.capacityCores, .capacityUnknown, "cores", "facility \(name) publishes no total core capacity")
        add(FlagBit.capacityMemory, .capacityUnknown, "memory", "facility \(name) publishes no total memory capacity")
        if mask & FlagBit.dataLocationUnknown != 0 {
            let n = shape.rucioItems.filter(\.isEmpty).count
            out.append(MatchFlag(code: .dataLocationUnknown, field: "data", message: "\(n) Rucio item\(n == 1 ? " has" : "s have") no known replica locations"))
        }
        add(FlagBit.limitScratch, .limitUnknown, "storage", "facility \(name) publishes no per-job scratch limit")
        add(FlagBit.architectureUnknown, .architectureUnknown, "architecture", "facility \(name) declares no CPU architecture; the request needs \(shape.architecture?.rawValue ?? "one")")
        add(FlagBit.softwareUnknown, .softwareUnknown, "software", "facility \(name) does not declare all the runtimes, environments or image registries it offers; the request needs some")
        add(FlagBit.gpuUnknown, .gpuUnknown, "gpus", "facility \(name) declares no GPU models or GPU memory; the request names them")
        add(FlagBit.facilityDataUnknown, .facilityDataUnknown, "data", "facility \(name) declares no RSEs; the data would have to be fetched")
        if mask & FlagBit.dataPartly != 0 {
            let held = Set(f.data.rses.map { $0.uppercased() })
            for item in shape.locatableItems where held.isDisjoint(with: item) {
                out.append(MatchFlag(
                    code: .dataPartlyColocated, field: "data",
                    message: "a Rucio item on \(item.joined(separator: "|")) is not local to facility \(name) and would have to be fetched"))
            }
        }
        return out
    }

    /// Whether a facility's runtimes hold a version in the need's range (a runtime of unstated versions holds any).
    static func provides(_ runtimes: [FacilityRuntime], _ need: RuntimeNeed) -> Bool {
        runtimes.contains { rt in
            rt.name == need.name && (rt.versions.isEmpty || rt.versions.contains { Version($0).map(need.range.contains) == true })
        }
    }
}

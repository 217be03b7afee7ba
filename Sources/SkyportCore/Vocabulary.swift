import Foundation

// What facilities and requests can say beyond cores, memory and time: CPU architectures, GPUs, software runtimes
// and named environments, the image registries a facility pulls from. Names are normalised once, where they enter,
// so that matching compares plain values (`../shared/reference/compute-vocabulary.md`).

/// A CPU architecture, by one alias table: GOARCH and OCI (`amd64`, `arm64`), GLUE (`amd64`), HTCondor (`X86_64`),
/// `uname -m` and codemeta (`x86_64`, `aarch64`).
public enum Architecture: String, Sendable, Hashable, Codable, CaseIterable {
    case x86_64
    case aarch64
    case ppc64le
    case s390x
    case riscv64
    case i386
    /// 32-bit ARM, written `arm32`: a bare `arm` is not an alias (it may mean either ARM), though stores written
    /// before kept it so.
    case arm = "arm32"

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let architecture = Architecture(rawValue: text) ?? (text == "arm" ? .arm : nil) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not an architecture"))
        }
        self = architecture
    }

    /// The architecture an alias names, or nil (case-insensitive; `-` and `_` are the same).
    public init?(alias text: String) {
        let key = text.trimmingSpaces().lowercased().replacingOccurrences(of: "-", with: "_")
        switch key {
        case "x86_64", "amd64", "x64", "intel64", "em64t": self = .x86_64
        case "aarch64", "arm64", "armv8", "arm64v8", "aarch64_be": self = .aarch64
        case "ppc64le", "ppc64el", "powerpc64le": self = .ppc64le
        case "s390x": self = .s390x
        case "riscv64": self = .riscv64
        case "i386", "i686", "386": self = .i386
        case "armhf", "armv7", "armv7l", "armv6", "arm32": self = .arm
        default: return nil
        }
    }

    /// Bit `n` of a compact architecture set.
    var bit: UInt8 { UInt8(1) << UInt8(Self.allCases.firstIndex(of: self)!) }
}

/// A dotted version (`3.10.2`): its leading numbers; anything after them (`rc1`, `-2024-01-01`) is ignored.
public struct Version: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var parts: [Int]

    public init?(_ text: String) {
        var parts: [Int] = []
        for piece in text.trimmingSpaces().split(separator: ".", omittingEmptySubsequences: false) {
            let digits = piece.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let n = Int(digits.prefix(9)) else { break }
            parts.append(n)
            if digits.count < piece.count { break }
        }
        guard !parts.isEmpty else { return nil }
        self.parts = parts
    }

    /// Compares as if the shorter had trailing zeros (`3.10` == `3.10.0`).
    public static func < (a: Version, b: Version) -> Bool {
        for i in 0..<max(a.parts.count, b.parts.count) {
            let x = i < a.parts.count ? a.parts[i] : 0, y = i < b.parts.count ? b.parts[i] : 0
            if x != y { return x < y }
        }
        return false
    }

    public static func == (a: Version, b: Version) -> Bool { !(a < b) && !(b < a) }
    public func hash(into h: inout Hasher) {
        var p = parts
        while p.count > 1, p.last == 0 { p.removeLast() }
        h.combine(p)
    }

    public var description: String { parts.map(String.init).joined(separator: ".") }

    /// Whether `self` starts with `prefix`'s parts (`3.10.2` is in `3.10` and in `3`).
    func hasPrefix(_ prefix: Version) -> Bool { parts.count >= prefix.parts.count && Array(parts.prefix(prefix.parts.count)) == prefix.parts }
}

/// A version range as people write one: `>=3.9,<3.13`, `3.*`, `3`, `==3.10`, `~=3.9`, `3.8+`, `>3`, or empty (any).
/// A bare version is a prefix (`3.10` is any 3.10.x), as `python3.10` means.
public struct VersionRange: Sendable, Hashable, CustomStringConvertible {
    enum Op: String, Sendable, Hashable { case ge = ">=", gt = ">", le = "<=", lt = "<", eq = "==", ne = "!=", prefix = "=*", compatible = "~=" }
    struct Clause: Sendable, Hashable {
        var op: Op
        var version: Version
    }
    let clauses: [Clause]
    /// As written (trimmed).
    public let text: String

    /// Any version.
    public static let any = VersionRange(clauses: [], text: "")

    private init(clauses: [Clause], text: String) {
        self.clauses = clauses
        self.text = text
    }

    /// Parses a range; nil when a clause is not one.
    public init?(_ written: String) {
        let text = written.trimmingSpaces()
        var clauses: [Clause] = []
        for raw in text.split(whereSeparator: { $0 == "," || $0 == ";" }) {
            var c = raw.trimmingSpaces()
            if c.isEmpty || c == "*" { continue }
            var op = Op.prefix
            for candidate in [Op.ge, .le, .eq, .ne, .compatible, .gt, .lt] where c.hasPrefix(candidate.rawValue) {
                op = candidate
                c = String(c.dropFirst(candidate.rawValue.count)).trimmingSpaces()
                break
            }
            if op == .prefix, c.hasPrefix("=") { op = .eq; c = String(c.dropFirst()).trimmingSpaces() }
            if op == .prefix, c.hasSuffix("+") { op = .ge; c = String(c.dropLast()) }
            if op == .prefix || op == .eq, c.hasSuffix(".*") { op = .prefix; c = String(c.dropLast(2)) }
            guard let v = Version(c), c.allSatisfy({ $0.isNumber || $0 == "." }) else { return nil }
            clauses.append(Clause(op: op, version: v))
        }
        self.init(clauses: clauses, text: text)
    }

    public var description: String { text.isEmpty ? "any version" : text }

    /// Whether `v` is in the range.
    public func contains(_ v: Version) -> Bool {
        clauses.allSatisfy { c in
            switch c.op {
            case .ge: return v >= c.version
            case .gt: return v > c.version && !v.hasPrefix(c.version)
            case .le: return v <= c.version || v.hasPrefix(c.version)
            case .lt: return v < c.version
            case .eq: return v == c.version
            case .ne: return v != c.version
            case .prefix: return v.hasPrefix(c.version)
            case .compatible:
                // ~=3.9 is >=3.9 and 3.*; ~=3.9.2 is >=3.9.2 and 3.9.*.
                let head = Version(c.version.parts.dropLast().map(String.init).joined(separator: ".")) ?? c.version
                return v >= c.version && v.hasPrefix(head)
            }
        }
    }
}

/// A language runtime a request needs (`python` in `>=3.10`), with the request field that said so.
public struct RuntimeNeed: Sendable, Hashable {
    public var name: String
    public var range: VersionRange
    /// Where it was read (`runtimes[0]`, `software.runtimePlatform[1]`).
    public var field: String

    public init(name: String, range: VersionRange = .any, field: String) {
        self.name = name
        self.range = range
        self.field = field
    }

    /// `python >=3.10`, `r`.
    public var label: String { range.text.isEmpty ? name : "\(name) \(range.text)" }

    /// Runtime names, by alias (`python3` is python; `cpython` too).
    public static func canonicalName(_ text: String) -> String {
        let key = text.trimmingSpaces().lowercased()
        switch key {
        case "python", "python3", "python2", "cpython", "py": return "python"
        case "r", "rlang", "r-project", "gnu r": return "r"
        case "julia", "julialang": return "julia"
        case "node", "nodejs", "node.js": return "node"
        case "java", "jre", "jdk", "openjdk": return "java"
        default: return key
        }
    }

    /// The runtimes that facilities declare and that codemeta's free text can be read as; other languages (compiled
    /// ones, `Docker`, `GitHub Actions`) are no runtime a facility provides.
    public static let known: Set<String> = ["python", "r", "julia", "node", "java"]

    /// Reads `Python 3`, `python3.*`, `Python>=3.6`, `Python 3.5+`, `Python3.8`, `R (>= 4.1)`, `julia 1.9` as a
    /// runtime need; nil when the text names no known runtime or its version is not readable.
    public static func read(_ text: String, field: String) -> RuntimeNeed? {
        let trimmed = text.trimmingSpaces()
        let letters = trimmed.prefix { $0.isLetter }
        let name = canonicalName(String(letters))
        guard known.contains(name) else { return nil }
        // `python3.8` puts the version against the name; for any other name that is a package (`R6`), not a runtime.
        if name != "python", trimmed.dropFirst(letters.count).first?.isNumber == true { return nil }
        var rest = String(trimmed.dropFirst(letters.count)).trimmingCharacters(in: CharacterSet(charactersIn: " ()"))
        rest = rest.replacingOccurrences(of: " ", with: "")
        if rest.isEmpty { return RuntimeNeed(name: name, field: field) }
        guard let range = VersionRange(rest) else { return nil }
        return RuntimeNeed(name: name, range: range, field: field)
    }
}

/// A runtime a facility provides, with the versions it has.
public struct FacilityRuntime: Sendable, Hashable, Codable {
    /// Canonical name (`python`, `r`, `julia`).
    public var name: String
    /// Versions as written (`3.11`, `3.12`); empty: some version, unknown which.
    public var versions: [String]

    public init(name: String, versions: [String] = []) {
        self.name = RuntimeNeed.canonicalName(name)
        self.versions = versions
    }
}

/// What a facility can run beyond its executable kinds. Nil lists are unknown (never a reason to reject); an empty
/// list is "none".
public struct FacilitySoftware: Sendable, Hashable, Codable {
    /// Language runtimes it provides (repo2docker builds, installed modules).
    public var runtimes: [FacilityRuntime]?
    /// Named environments it has ready (`casa6`, `lofar-prefactor`), case-insensitive.
    public var environments: [String]?
    /// Image registries (with an optional namespace: `ghcr.io/ska-telescope`) it may pull container images from.
    public var registries: [String]?

    public init(runtimes: [FacilityRuntime]? = nil, environments: [String]? = nil, registries: [String]? = nil) {
        self.runtimes = runtimes
        self.environments = environments
        self.registries = registries
    }
}

/// A facility's hardware beyond cores and memory.
public struct FacilityHardware: Sendable, Hashable, Codable {
    /// The CPU architectures its jobs run on; nil is unknown.
    public var architectures: [Architecture]?
    /// GPU models (`A100`, `H100-80GB`), compared case-insensitively; nil is unknown.
    public var gpuModels: [String]?
    /// Memory per GPU, in GiB; nil is unknown.
    public var gpuMemory: Int?

    public init(architectures: [Architecture]? = nil, gpuModels: [String]? = nil, gpuMemory: Int? = nil) {
        self.architectures = architectures
        self.gpuModels = gpuModels
        self.gpuMemory = gpuMemory
    }

    // Written as operators write it: `{"architectures": [...], "gpu": {"models": [...], "memory": 40}}`.
    private enum Keys: String, CodingKey { case architectures, gpu }
    private enum GPUKeys: String, CodingKey { case models, memory }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        architectures = try c.decodeIfPresent([Architecture].self, forKey: .architectures)
        if c.contains(.gpu) {
            let g = try c.nestedContainer(keyedBy: GPUKeys.self, forKey: .gpu)
            gpuModels = try g.decodeIfPresent([String].self, forKey: .models)
            gpuMemory = try g.decodeIfPresent(Int.self, forKey: .memory)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encodeIfPresent(architectures, forKey: .architectures)
        if gpuModels != nil || gpuMemory != nil {
            var g = c.nestedContainer(keyedBy: GPUKeys.self, forKey: .gpu)
            try g.encodeIfPresent(gpuModels, forKey: .models)
            try g.encodeIfPresent(gpuMemory, forKey: .memory)
        }
    }
}

/// What a request asks beyond cores, memory, time and data: Skyport's own fields, the ExecutionBroker compute and
/// container fields, and what codemeta says.
public struct RequestNeeds: Sendable, Hashable, Codable {
    /// GPUs wanted (count).
    public var gpus: ResourceRange?
    /// Acceptable GPU models (any of them), as written.
    public var gpuModels: [String]
    /// The least memory per GPU, in GiB.
    public var gpuMemory: Int?
    public var architecture: Architecture?
    /// Runtimes as `name range` (`python >=3.10`), each needed.
    public var runtimes: [String]
    /// Named environments, each needed.
    public var environments: [String]
    /// `required`: only facilities holding the data locally; `preferred` (the default): a cost.
    public var locality: Locality
    /// How to order what fits (nil: the default, `locality`).
    public var rank: RankOrder?

    public init(
        gpus: ResourceRange? = nil, gpuModels: [String] = [], gpuMemory: Int? = nil, architecture: Architecture? = nil,
        runtimes: [String] = [], environments: [String] = [], locality: Locality = .preferred, rank: RankOrder? = nil
    ) {
        self.gpus = gpus
        self.gpuModels = gpuModels
        self.gpuMemory = gpuMemory
        self.architecture = architecture
        self.runtimes = runtimes
        self.environments = environments
        self.locality = locality
        self.rank = rank
    }

    /// Whether it asks nothing.
    public var isEmpty: Bool { self == RequestNeeds() }

    /// The runtimes as needs (what `runtimes` holds always reads back).
    public var runtimeNeeds: [RuntimeNeed] {
        runtimes.enumerated().compactMap { i, text in
            let name = text.prefix { $0 != " " }
            let range = VersionRange(String(text.dropFirst(name.count))) ?? .any
            return RuntimeNeed(name: String(name), range: range, field: "runtimes[\(i)]")
        }
    }
}

/// Whether data must be where the job runs.
public enum Locality: String, Sendable, Hashable, Codable, CaseIterable {
    /// Data that is elsewhere is staged in: its estimated transfer time is a cost in the ranking.
    case preferred
    /// Only facilities that hold the request's data locally (every locatable Rucio item) qualify.
    case required
}

/// How the facilities that fit a request are ordered (the offer set says which was used).
public enum RankOrder: String, Sendable, Hashable, Codable, CaseIterable {
    /// Least estimated data staging time, then the most data held locally, then headroom (the default).
    case locality
    /// The earliest start any facility can offer, then the default order.
    case earliestStart = "earliest-start"
    /// The most headroom above what is asked (limits and capacities), then the default order.
    case resources
    /// The least load its last health check saw (most free slots, then fewest queued jobs), then the default order.
    case load
    /// The lowest cost the facility declares (per core-hour), then the default order; undeclared costs come last.
    case cost
}

/// A container image reference's registry and path (`ghcr.io/ska/img:1` → `ghcr.io/ska/img`); Docker Hub names
/// without a registry are `docker.io/library/...` or `docker.io/...`.
public enum ImageReference {
    public static func repository(_ reference: String) -> String {
        var ref = reference.trimmingSpaces()
        let lower = ref.lowercased()
        // Singularity's own libraries live at their own hosts.
        if lower.hasPrefix("library://") { return "cloud.sylabs.io/library/" + untag(strip(String(ref.dropFirst(10)))).lowercased() }
        if lower.hasPrefix("shub://") { return "singularity-hub.org/" + untag(strip(String(ref.dropFirst(7)))).lowercased() }
        if let scheme = lower.range(of: "://"), !["docker", "oras"].contains(String(lower[..<scheme.lowerBound])) {
            // A URL (a .sif to download): its real host, not what a `user@` part pretends.
            guard let c = URLComponents(string: ref), let host = c.host?.lowercased(), !host.isEmpty else { return lower }
            return host + (c.port.map { ":\($0)" } ?? "") + c.path.lowercased()
        }
        if let scheme = ref.range(of: "://") { ref = String(ref[scheme.upperBound...]) }
        ref = untag(strip(ref))
        let first = ref.split(separator: "/").first.map(String.init) ?? ""
        if first == "index.docker.io" || first == "registry-1.docker.io" { return "docker.io" + ref.dropFirst(first.count).lowercased() }
        if first.contains(".") || first.contains(":") || first == "localhost" { return ref.lowercased() }
        return (ref.contains("/") ? "docker.io/" + ref : "docker.io/library/" + ref).lowercased()
    }

    /// A reference less the tag of its last component (`a/b:1` → `a/b`; a registry's port is not a tag).
    private static func untag(_ ref: String) -> String {
        var parts = ref.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count > 1 || !ref.contains("/"), let last = parts.last, let colon = last.lastIndex(of: ":") else { return ref }
        parts[parts.count - 1] = String(last[..<colon])
        return parts.joined(separator: "/")
    }

    /// A reference less its digest (`@sha256:…`; an `@` not followed by `algorithm:hex` is left, and spoils nothing).
    private static func strip(_ ref: String) -> String {
        guard let at = ref.lastIndex(of: "@") else { return ref }
        let digest = ref[ref.index(after: at)...]
        guard let colon = digest.firstIndex(of: ":"), digest[digest.index(after: colon)...].allSatisfy(\.isHexDigit) else { return ref }
        return String(ref[..<at])
    }

    /// Whether `reference` is under a registry prefix (`ghcr.io`, `ghcr.io/ska-telescope`), path component-wise.
    public static func isUnder(_ reference: String, prefix: String) -> Bool {
        let repo = repository(reference)
        let p = prefix.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "/ "))
        return repo == p || repo.hasPrefix(p + "/")
    }
}

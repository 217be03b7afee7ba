import SkyportCore
import Foundation

/// Deterministic, seeded facilities and requests with realistic variety, for benchmarks and property tests.
public enum SyntheticWorkload {
    /// RSE names in the style of the SKA regional centres and the ESCAPE data lake.
    public static let rsePool: [String] = {
        let sites = ["DESY", "PIC", "CERN", "SARA", "IN2P3-CC", "INFN-NA", "UKSRC-RAL", "UKSRC-MAN", "SPSRC", "CNSRC",
                     "CHSRC", "AUSRC", "JPSRC", "KRSRC", "NLSRC", "SESRC", "CASRC", "ITSRC", "DESRC", "FRSRC"]
        return sites.flatMap { ["\($0)-DCACHE", "\($0)-XRD"] }
    }()

    /// A kind only a few facilities run, given as a URI.
    public static let rareKind = ExecutableKind("https://example.org/kinds/gpu-batch-job") ?? .uwsJob

    /// The creation time every synthetic facility carries.
    public static let epoch = Date(timeIntervalSince1970: 1_800_000_000)

    /// `count` facilities: about 85% active, 10% draining, 5% disabled; 1 to 3 kinds; some unknown limits and
    /// capacities; about half declare 1 to 3 RSEs.
    public static func facilities(count: Int, seed: UInt64) -> [Facility] {
        var rng = SeededGenerator(seed: seed)
        return (0..<max(0, count)).map { n in
            let roll = rng.below(100)
            let status: FacilityStatus = roll < 85 ? .active : roll < 95 ? .draining : .disabled
            var accepts = rng.sample(ExecutableKind.knownAliases, count: 1 + rng.below(3)).compactMap { ExecutableKind($0) }
            if rng.below(100) < 3 { accepts.append(rareKind) }
            let limitCores = rng.below(10) == 0 ? nil : rng.pick([2, 4, 8, 16, 32, 64, 128])
            let limitMemory = rng.below(10) == 0 ? nil : (limitCores ?? 8) * rng.pick([2, 4, 8])
            let duration = rng.below(100) < 15 ? nil : ISODuration(seconds: rng.pick([3_600, 4 * 3_600, 12 * 3_600, 86_400, 7 * 86_400]))
            let scale = rng.pick([1, 2, 4, 8, 16, 64])
            let capCores = rng.below(10) == 0 ? nil : (limitCores ?? 32) * scale
            let capMemory = rng.below(10) == 0 ? nil : (limitMemory ?? 64) * scale
            let rses = rng.below(100) < 55 ? rng.sample(rsePool, count: 1 + rng.below(3)) : []
            let id = n % 3 == 0 ? "ivo://skyport.example/compute/f\(n)" : "facility-\(n)"
            return Facility(
                id: FacilityID(id), name: "Synthetic facility \(n)", status: status,
                endpoints: [Endpoint(kind: .uws, url: "https://f\(n).example.org/uws")], accepts: accepts,
                limits: FacilityLimits(cores: limitCores, memory: limitMemory, duration: duration),
                capacity: FacilityCapacity(cores: capCores, memory: capMemory), data: FacilityData(rses: rses),
                owner: "synthetic", created: epoch, modified: epoch)
        }
    }

    /// `count` requests drawn from `distinctShapes` templates (every template used once before any repeats),
    /// named `req-N`: some with unknown kinds, no minimums or no duration; 0 to 3 Rucio items, a quarter of them
    /// with unknown replicas; half with a URL item too.
    public static func requests(count: Int, distinctShapes: Int, seed: UInt64) -> [NormalisedRequest] {
        var rng = SeededGenerator(seed: seed)
        let templates = (0..<max(1, distinctShapes)).map { _ in template(&rng) }
        return (0..<max(0, count)).map { n in
            var r = templates[n < templates.count ? n : rng.below(templates.count)]
            r.name = "req-\(n)"
            return r
        }
    }

    private static func template(_ rng: inout SeededGenerator) -> NormalisedRequest {
        let kindRoll = rng.below(100)
        let kind: ExecutableKind? = kindRoll < 5 ? nil : kindRoll < 7 ? rareKind : ExecutableKind(rng.pick(ExecutableKind.knownAliases))
        var cores: ResourceRange?
        if rng.below(10) > 0 {
            let min = rng.pick([1, 1, 2, 4, 8, 16, 32, 64, 128, 256])
            cores = ResourceRange(min: min, max: rng.below(2) == 0 ? min * 2 : nil)
        }
        var memory: ResourceRange?
        if rng.below(10) > 0 {
            let min = rng.pick([1, 2, 4, 8, 16, 32, 64, 128, 512])
            memory = ResourceRange(min: min, max: rng.below(2) == 0 ? min * 4 : nil)
        }
        let duration = rng.below(5) == 0 ? nil : ISODuration(seconds: rng.pick([1_800, 3_600, 7_200, 8 * 3_600, 86_400, 3 * 86_400]))
        var data: [DataItem] = (0..<rng.below(4)).map { i in
            let rses = rng.below(4) == 0 ? [] : rng.sample(rsePool, count: 1 + rng.below(2))
            return DataItem(kind: .rucio, name: "file-\(i).fits", did: "skao:file-\(rng.below(1_000_000)).fits", rses: rses)
        }
        if rng.below(2) == 0 { data.append(DataItem(kind: .url, url: "https://data.example.org/\(rng.below(1_000_000)).fits")) }
        return NormalisedRequest(
            executable: ExecutableRequest(kind: kind), cores: cores, memory: memory, duration: duration, data: data)
    }
}

/// SplitMix64: a small, fast, seeded generator whose sequence is fixed for a seed on every platform.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<n` (0 when `n` is not positive); slightly biased for huge `n`, which does not matter here.
    public mutating func below(_ n: Int) -> Int { n > 0 ? Int(next() % UInt64(n)) : 0 }

    /// One element of a non-empty array.
    mutating func pick<T>(_ xs: [T]) -> T { xs[below(xs.count)] }

    /// `count` distinct elements, in pool order.
    mutating func sample<T>(_ xs: [T], count: Int) -> [T] {
        var chosen = Set<Int>()
        while chosen.count < min(count, xs.count) { chosen.insert(below(xs.count)) }
        return chosen.sorted().map { xs[$0] }
    }
}

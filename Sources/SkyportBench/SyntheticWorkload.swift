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

    /// Facilities with the whole vocabulary (the workload of issue 15, modelled on a ClassAds pool): the facilities of
    /// `facilities(count:seed:)`, each also declaring an architecture (80% x86_64, 15% aarch64, 5% both), GPUs on a
    /// fifth (count, model, memory), scratch, runtimes (python and r versions) on most, named environments on some,
    /// image registries on container sites, a bandwidth and a cost.
    public static func vocabularyFacilities(count: Int, seed: UInt64) -> [Facility] {
        var rng = SeededGenerator(seed: seed ^ 0x5EED)
        return facilities(count: count, seed: seed).map { f in
            var f = f
            let arch = rng.below(100)
            var hw = FacilityHardware(architectures: arch < 80 ? [.x86_64] : arch < 95 ? [.aarch64] : [.x86_64, .aarch64])
            if rng.below(5) == 0 {
                let n = rng.pick([1, 2, 4, 8])
                f.limits.gpus = n
                f.capacity.gpus = n * rng.pick([1, 4, 16])
                hw.gpuModels = [rng.pick(gpuModels)]
                hw.gpuMemory = rng.pick([16, 24, 40, 80])
            } else if rng.below(2) == 0 {
                f.limits.gpus = 0
            }
            f.hardware = hw
            f.limits.scratch = rng.below(5) == 0 ? nil : rng.pick([10, 50, 100, 500, 2_000])
            var sw = FacilitySoftware()
            if rng.below(10) < 8 {
                sw.runtimes = [FacilityRuntime(name: "python", versions: rng.sample(pythonVersions, count: 1 + rng.below(3)))]
                if rng.below(2) == 0 { sw.runtimes?.append(FacilityRuntime(name: "r", versions: [rng.pick(["4.2", "4.3", "4.4"])])) }
            }
            if rng.below(3) == 0 { sw.environments = rng.sample(environmentPool, count: 1 + rng.below(2)) }
            if f.accepts.contains(where: \.isContainer) { sw.registries = rng.sample(registryPool, count: 1 + rng.below(2)) }
            f.software = sw
            f.data.bandwidth = rng.below(4) == 0 ? nil : Double(rng.pick([10, 100, 1_000, 10_000]))
            f.cost = rng.below(3) == 0 ? nil : Double(rng.pick([1, 2, 3, 5, 8])) / 4
            return f
        }
    }

    /// Requests with the whole vocabulary: those of `requests(count:distinctShapes:seed:)`, with sizes on their data,
    /// and needs drawn per template: GPUs on a tenth (some with a model or memory), an architecture on a quarter,
    /// runtimes (python ranges) on half, an environment on a tenth, scratch on a fifth, images for containers,
    /// `locality: required` on a tenth and a ranking choice on a third.
    public static func vocabularyRequests(count: Int, distinctShapes: Int, seed: UInt64) -> [NormalisedRequest] {
        var rng = SeededGenerator(seed: seed ^ 0xFEED)
        let base = requests(count: max(1, distinctShapes), distinctShapes: distinctShapes, seed: seed)
        let templates: [NormalisedRequest] = base.map { r in
            var r = r
            r.data = r.data.map { d in
                var d = d
                d.size = Int64(rng.pick([1, 10, 100, 1_000, 10_000, 100_000])) * 1_000_000
                return d
            }
            var needs = RequestNeeds()
            if rng.below(10) == 0 {
                needs.gpus = ResourceRange(min: rng.pick([1, 1, 2, 4]))
                if rng.below(2) == 0 { needs.gpuModels = [rng.pick(gpuModels)] }
                if rng.below(3) == 0 { needs.gpuMemory = rng.pick([16, 40]) }
            }
            if rng.below(4) == 0 { needs.architecture = rng.below(4) == 0 ? .aarch64 : .x86_64 }
            if rng.below(2) == 0 { needs.runtimes = [rng.pick(["python >=3.9", "python 3.11", "python >=3.10,<3.13", "python 3"])] }
            if rng.below(10) == 0 { needs.environments = [rng.pick(environmentPool)] }
            if rng.below(5) == 0 { r.storage = ResourceRange(min: rng.pick([5, 50, 200, 1_000])) }
            if r.executable.kind?.isContainer == true { r.executable.images = [rng.pick(imagePool)] }
            if rng.below(10) == 0 { needs.locality = .required }
            if rng.below(3) == 0 { needs.rank = rng.pick([.resources, .cost, .load]) }
            r.needs = needs.isEmpty ? nil : needs
            return r
        }
        return (0..<max(0, count)).map { n in
            var r = templates[n < templates.count ? n : rng.below(templates.count)]
            r.name = "req-\(n)"
            return r
        }
    }

    static let gpuModels = ["A100", "H100", "V100", "L40S", "MI250X"]
    static let pythonVersions = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]
    static let environmentPool = ["casa6", "lofar-prefactor", "ska-sdp", "ciao", "heasoft", "astropy-stack"]
    static let registryPool = ["docker.io", "ghcr.io/ska-telescope", "images.canfar.net", "quay.io"]
    static let imagePool = [
        "ghcr.io/ska-telescope/sdp-pipeline:1.2", "images.canfar.net/skaha/astroml:24.07", "astropy/astropy:6.1", "quay.io/lofar/prefactor:5",
    ]

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

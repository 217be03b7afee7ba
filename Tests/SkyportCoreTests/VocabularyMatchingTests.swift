import Foundation
import Testing
@testable import SkyportCore

/// GPUs, architectures, software environments, scratch, locality as a cost, ranking by choice and the funnel.
@Suite struct VocabularyMatchingTests {
    typealias F = MatchFixtures

    static func facility(
        _ id: String, hardware: FacilityHardware? = nil, software: FacilitySoftware? = nil, gpus: Int? = nil, gpuCapacity: Int? = nil,
        scratch: Int? = nil, rses: [String] = [], bandwidth: Double? = nil, cost: Double? = nil, kinds: [ExecutableKind] = [.jupyterNotebook, .dockerContainer]
    ) -> Facility {
        var f = F.facility(id, accepts: kinds, rses: rses)
        f.hardware = hardware
        f.software = software
        f.limits.gpus = gpus
        f.limits.scratch = scratch
        f.capacity.gpus = gpuCapacity
        f.data.bandwidth = bandwidth
        f.cost = cost
        return f
    }

    static func request(_ needs: RequestNeeds, kind: ExecutableKind = .jupyterNotebook, images: [String] = [], storage: Int? = nil) -> NormalisedRequest {
        var r = F.request(kind: kind)
        r.executable.images = images
        r.needs = needs
        r.storage = storage.map { ResourceRange(min: $0) }
        return r
    }

    // MARK: Values

    @Test(arguments: [
        (">=3.10,<3.13", "3.12.1", true), (">=3.10,<3.13", "3.13", false), (">=3.10,<3.13", "3.9", false),
        ("3", "3.11", true), ("3", "2.7", false), ("3.10", "3.10.4", true), ("3.10", "3.1", false), ("3.*", "3.0", true),
        ("==3.10", "3.10.0", true), ("==3.10", "3.10.1", false), ("~=3.9", "3.12", true), ("~=3.9", "4.0", false),
        ("~=3.9.2", "3.9.5", true), ("~=3.9.2", "3.10", false), ("3.8+", "3.11", true), ("3.8+", "3.7", false),
        ("<=3.10", "3.10.7", true), (">3.10", "3.10.2", false), (">3.10", "3.11", true), ("!=3.10", "3.10", false), ("", "9", true),
    ])
    func versionRanges(range: String, version: String, inside: Bool) throws {
        let r = try #require(VersionRange(range))
        #expect(r.contains(try #require(Version(version))) == inside)
    }

    @Test func unreadableRangesAreRefused() {
        #expect(VersionRange(">=three") == nil)
        #expect(VersionRange("3.x") == nil)
    }

    @Test(arguments: [
        ("Python 3", "python", "3"), ("python3.*", "python", "3.*"), ("Python>=3.6", "python", ">=3.6"), ("Python 3.5+", "python", "3.5+"),
        ("Python3.8", "python", "3.8"), ("R (>= 4.1)", "r", ">=4.1"), ("julia 1.9", "julia", "1.9"), ("Python", "python", ""),
    ])
    func codemetaRuntimeTexts(text: String, name: String, range: String) throws {
        let need = try #require(RuntimeNeed.read(text, field: "x"))
        #expect(need.name == name)
        #expect(need.range.text == range)
    }

    @Test func namesThatAreNoRuntimeAreNotRead() {
        for text in ["Docker", "GitHub Actions", "Rust", "C++", "numpy>=2.0"] { #expect(RuntimeNeed.read(text, field: "x") == nil, "\(text)") }
    }

    @Test(arguments: [("amd64", Architecture.x86_64), ("X86_64", .x86_64), ("x86-64", .x86_64), ("arm64", .aarch64), ("aarch64", .aarch64), ("ppc64el", .ppc64le)])
    func architectureAliases(alias: String, arch: Architecture) {
        #expect(Architecture(alias: alias) == arch)
    }

    @Test(arguments: [
        ("python:3.11", "docker.io/library/python"), ("ghcr.io/ska/img:1.2", "ghcr.io/ska/img"), ("me/tool@sha256:abc", "docker.io/me/tool"),
        ("localhost:5000/x:1", "localhost:5000/x"), ("docker://images.canfar.net/skaha/astroml:24", "images.canfar.net/skaha/astroml"),
    ])
    func imageRepositories(reference: String, repository: String) {
        #expect(ImageReference.repository(reference) == repository)
    }

    // MARK: Each clause rejects naming both values

    struct Case: Sendable, CustomTestStringConvertible {
        var facility: Facility
        var request: NormalisedRequest
        var code: MatchReasonCode
        var requested: String
        var offered: String
        var testDescription: String { code.rawValue }
    }

    static let cases: [Case] = [
        Case(facility: facility("x86", hardware: FacilityHardware(architectures: [.x86_64])), request: request(RequestNeeds(architecture: .aarch64)),
             code: .architectureNotSupported, requested: "aarch64", offered: "x86_64"),
        Case(facility: facility("no-gpus"), request: request(RequestNeeds(gpus: ResourceRange(min: 1))), code: .gpusExceedLimit, requested: "1", offered: "0"),
        Case(facility: facility("two-gpus", gpus: 2), request: request(RequestNeeds(gpus: ResourceRange(min: 4))), code: .gpusExceedLimit, requested: "4", offered: "2"),
        Case(facility: facility("few-gpus", gpus: 8, gpuCapacity: 2), request: request(RequestNeeds(gpus: ResourceRange(min: 4))),
             code: .gpusExceedCapacity, requested: "4", offered: "2"),
        Case(facility: facility("v100", hardware: FacilityHardware(gpuModels: ["V100"]), gpus: 4),
             request: request(RequestNeeds(gpus: ResourceRange(min: 1), gpuModels: ["A100", "H100"])), code: .gpuModelNotAvailable, requested: "a100|h100", offered: "V100"),
        Case(facility: facility("small-gpus", hardware: FacilityHardware(gpuMemory: 16), gpus: 4),
             request: request(RequestNeeds(gpus: ResourceRange(min: 1), gpuMemory: 40)), code: .gpuMemoryTooSmall, requested: "40", offered: "16"),
        Case(facility: facility("little-scratch", scratch: 10), request: request(RequestNeeds(), storage: 100), code: .scratchExceedLimit, requested: "100", offered: "10"),
        Case(facility: facility("old-python", software: FacilitySoftware(runtimes: [FacilityRuntime(name: "python", versions: ["3.8", "3.9"])])),
             request: request(RequestNeeds(runtimes: ["python >=3.10"])), code: .runtimeNotAvailable, requested: "python >=3.10", offered: "python 3.8 3.9"),
        Case(facility: facility("no-casa", software: FacilitySoftware(environments: ["lofar-prefactor"])),
             request: request(RequestNeeds(environments: ["casa6"])), code: .environmentNotAvailable, requested: "casa6", offered: "lofar-prefactor"),
        Case(facility: facility("ska-only", software: FacilitySoftware(registries: ["ghcr.io/ska-telescope"])),
             request: request(RequestNeeds(), kind: .dockerContainer, images: ["docker.io/astropy/astropy:6"]),
             code: .imageRegistryNotAllowed, requested: "docker.io/astropy/astropy", offered: "ghcr.io/ska-telescope"),
    ]

    @Test(arguments: cases)
    func eachClauseRejectsWithBothValues(_ c: Case) throws {
        let outcome = Matcher.match(c.request, against: [c.facility])
        let reasons = try #require(outcome.rejections.first).reasons
        #expect(reasons.map(\.code) == [c.code])
        #expect(reasons.first?.requested == c.requested)
        #expect(reasons.first?.offered == c.offered)
        let message = try #require(reasons.first).message
        #expect(message.contains(c.facility.id.rawValue))
        #expect(!outcome.isMatch)
    }

    @Test func whatFitsIsAccepted() {
        let f = Self.facility(
            "gpu-site", hardware: FacilityHardware(architectures: [.x86_64, .aarch64], gpuModels: ["A100-SXM4-80GB"], gpuMemory: 80),
            software: FacilitySoftware(
                runtimes: [FacilityRuntime(name: "Python3", versions: ["3.11", "3.12"]), FacilityRuntime(name: "r")], environments: ["CASA6"],
                registries: ["ghcr.io/ska-telescope", "docker.io"]),
            gpus: 4, gpuCapacity: 16, scratch: 500)
        let r = Self.request(
            RequestNeeds(gpus: ResourceRange(min: 2), gpuModels: ["a100"], gpuMemory: 40, architecture: .aarch64,
                         runtimes: ["python >=3.10,<3.13", "r 4.3"], environments: ["casa6"]),
            kind: .dockerContainer, images: ["quay.io/other:1", "astropy/astropy:6"], storage: 100)
        let outcome = Matcher.match(r, against: [f])
        #expect(outcome.rankedIDs == [f.id])
        #expect(outcome.candidates.first?.flags.isEmpty == true)
    }

    @Test func undeclaredVocabularyIsFlaggedNotRejected() throws {
        // A facility that says nothing about architectures or software (GPUs are different: never assumed)
        let f = Self.facility("vague")
        let r = Self.request(RequestNeeds(architecture: .aarch64, runtimes: ["python 3"], environments: ["casa6"]))
        let c = try #require(Matcher.match(r, against: [f]).candidates.first)
        #expect(Set(c.flags.map(\.code)).isSuperset(of: [.architectureUnknown, .softwareUnknown]))
    }

    // MARK: Locality as a cost

    static func gigabytes(_ n: Int64) -> Int64 { n * 1_000_000_000 }

    @Test func dataElsewhereIsStagedAndRankedByItsEstimatedTime() throws {
        let local = Self.facility("holds-big", rses: ["DESY-DCACHE"])
        let fast = Self.facility("fast-link", rses: ["CERN-EOS"], bandwidth: 1_000)
        let slow = Self.facility("slow-link", rses: ["PIC-DCACHE"], bandwidth: 10)
        var r = F.request()
        r.data = [
            DataItem(kind: .rucio, did: "a:big", rses: ["DESY-DCACHE"], size: Self.gigabytes(100)),
            DataItem(kind: .rucio, did: "a:small", rses: ["PIC-DCACHE"], size: Self.gigabytes(1)),
        ]
        let outcome = Matcher.match(r, against: [slow, fast, local])
        // Nothing is rejected for its data: each is ranked by how long staging would take.
        #expect(outcome.rejectedCount == 0)
        #expect(outcome.rankedIDs.map(\.rawValue) == ["holds-big", "fast-link", "slow-link"])
        // holds-big fetches 1 GB at the assumed 100 MB/s; fast-link both items at 1,000 MB/s; slow-link 100 GB at 10 MB/s.
        let staging = outcome.candidates.map { $0.score.staging ?? -1 }
        #expect(abs(staging[0] - 10) < 1e-9)
        #expect(abs(staging[1] - 101) < 1e-9)
        #expect(abs(staging[2] - 10_000) < 1e-6)
    }

    @Test func requiredLocalityRejectsAFacilityMissingAnyItem() throws {
        let both = Self.facility("both", rses: ["DESY-DCACHE", "PIC-DCACHE"])
        let one = Self.facility("one", rses: ["DESY-DCACHE"])
        var r = F.request(rucio: [["DESY-DCACHE"], ["PIC-DCACHE"]])
        r.needs = RequestNeeds(locality: .required)
        let outcome = Matcher.match(r, against: [both, one])
        #expect(outcome.rankedIDs.map(\.rawValue) == ["both"])
        let reasons = try #require(outcome.rejections.first).reasons
        #expect(reasons.map(\.code) == [.dataNotColocated])
        #expect(reasons.first?.requested == "PIC-DCACHE")
    }

    // MARK: Ranking by choice

    @Test func costAndResourcesReorderWhatFits() {
        let cheap = Self.facility("cheap", cost: 0.5)
        let dear = Self.facility("dear", cost: 3)
        var big = Self.facility("big", cost: nil)
        big.limits.cores = 1_024
        big.capacity.cores = 100_000
        let facilities = [dear, big, cheap]
        var r = F.request(cores: ResourceRange(min: 4))
        r.needs = RequestNeeds(rank: .cost)
        #expect(Matcher.match(r, against: facilities).rankedIDs.map(\.rawValue) == ["cheap", "dear", "big"])
        r.needs = RequestNeeds(rank: .resources)
        #expect(Matcher.match(r, against: facilities).rankedIDs.first?.rawValue == "big")
        #expect(MatchShape(r).rank == .resources)
    }

    @Test func loadRanksByWhatTheLastHealthCheckSaw() {
        let facilities = ["a-busy", "b-idle", "c-unknown", "d-queue"].map { Self.facility($0) }
        var board = HealthBoard(staleAfter: 600)
        let now = F.epoch
        board.record(HealthProbeResult(healthy: true, load: FacilityLoad(freeSlots: 1)), for: FacilityID("a-busy"), at: now)
        board.record(HealthProbeResult(healthy: true, load: FacilityLoad(freeSlots: 40)), for: FacilityID("b-idle"), at: now)
        board.record(HealthProbeResult(healthy: true, load: FacilityLoad(queued: 3)), for: FacilityID("d-queue"), at: now)
        var r = F.request()
        r.needs = RequestNeeds(rank: .load)
        let ranked = Matcher.match(r, against: facilities, health: board, now: now).rankedIDs.map(\.rawValue)
        #expect(ranked == ["b-idle", "a-busy", "d-queue", "c-unknown"])
        // The default order ignores load.
        r.needs = nil
        #expect(Matcher.match(r, against: facilities, health: board, now: now).rankedIDs.map(\.rawValue) == ["a-busy", "b-idle", "c-unknown", "d-queue"])
    }

    @Test func earliestStartPutsTheFacilityThatCanStartFirstFirst() {
        let busy = Self.facility("a-busy")
        let free = Self.facility("b-free")
        let now = F.epoch
        // a-busy is full for the next hour.
        let full = Booking(facility: busy.id, cores: 64, memory: 256, start: now, end: now.addingTimeInterval(3_600))
        var r = F.request(cores: ResourceRange(min: 2), duration: ISODuration(seconds: 600))
        var settings = OfferPlanner.Settings()
        settings.maxOffers = 2
        settings.maxOffersPerFacility = 1
        let planner = OfferPlanner(settings: settings)
        let outcome = Matcher.match(r, against: [busy, free])
        #expect(planner.plan(r, outcome: outcome, bookings: [full], now: now).offers.map(\.facility.rawValue) == ["a-busy", "b-free"])
        r.needs = RequestNeeds(rank: .earliestStart)
        let plan = planner.plan(r, outcome: Matcher.match(r, against: [busy, free]), bookings: [full], now: now)
        #expect(plan.offers.map(\.facility.rawValue) == ["b-free", "a-busy"])
        #expect(plan.offers[0].start < plan.offers[1].start)
        // The offers' ranks follow that order: the offer set lists, and /direct accepts, the earliest first.
        #expect(plan.offers[0].rank < plan.offers[1].rank)
    }

    @Test func aGPUOfferNeverExceedsTheFacilitysLimit() {
        let f = Self.facility("two-gpus", gpus: 2)
        var r = F.request()
        r.needs = RequestNeeds(gpus: ResourceRange(max: 4))
        let plan = OfferPlanner().plan(r, outcome: Matcher.match(r, against: [f]), bookings: [], now: F.epoch)
        #expect(plan.offers.first?.gpus == 2)
        r.needs = RequestNeeds(gpus: ResourceRange(min: 1, max: 1))
        #expect(OfferPlanner().plan(r, outcome: Matcher.match(r, against: [f]), bookings: [], now: F.epoch).offers.first?.gpus == 1)
    }

    @Test func requiredLocalityRejectsAFacilityThatDeclaresNoRSEs() throws {
        var r = F.request(rucio: [["DESY-DCACHE"]])
        r.needs = RequestNeeds(locality: .required)
        let outcome = Matcher.match(r, against: [Self.facility("nowhere")])
        #expect(try #require(outcome.rejections.first).reasons.map(\.code) == [.dataNotColocated])
    }

    @Test func aTinyBandwidthGivesAFiniteEstimate() throws {
        var r = F.request()
        r.data = [DataItem(kind: .url, url: "https://d.example.org/f", size: Int64.max / 2)]
        let c = try #require(Matcher.match(r, against: [Self.facility("slow", bandwidth: 1e-300)]).candidates.first)
        #expect(c.score.staging.map { $0.isFinite && $0 <= 10 * 366 * 86_400 } == true)
    }

    @Test func packagesAndProcessorNamesAreNotMisread() {
        #expect(RuntimeNeed.read("R6", field: "x") == nil)
        #expect(RuntimeNeed.read("julia1", field: "x") == nil)
        #expect(RuntimeNeed.read("python3.10", field: "x")?.range.text == "3.10")
        #expect(Architecture(alias: "intel") == nil && Architecture(alias: "x86") == nil && Architecture(alias: "arm") == nil)
    }

    @Test(arguments: [
        ("https://docker.io@evil.example/x.sif", "evil.example/x.sif"), ("library://sylabs/default/alpine:3", "cloud.sylabs.io/library/sylabs/default/alpine"),
        ("shub://vsoch/hello-world", "singularity-hub.org/vsoch/hello-world"), ("index.docker.io/astropy/astropy:6", "docker.io/astropy/astropy"),
        ("ghcr.io/a/b@docker.io", "ghcr.io/a/b@docker.io"),
    ])
    func imageReferencesThatTryToLookLikeAnotherRegistry(reference: String, repository: String) {
        #expect(ImageReference.repository(reference) == repository)
        #expect(!ImageReference.isUnder(reference, prefix: "docker.io") || repository.hasPrefix("docker.io/"))
    }

    @Test func aFullFacilityRanksAfterOneOfUnknownLoad() {
        #expect(FacilityLoad.lighter(FacilityLoad(queued: 0), FacilityLoad(freeSlots: 0)) == true)
        #expect(FacilityLoad.lighter(FacilityLoad(freeSlots: 1), FacilityLoad(queued: 0)) == true)
        #expect(FacilityLoad.lighter(FacilityLoad(freeSlots: 5), FacilityLoad(freeSlots: 2)) == true)
    }

    // MARK: The funnel

    @Test func theFunnelCountsWhatPassedEachClauseInTurn() {
        var facilities = [
            Self.facility("arm", hardware: FacilityHardware(architectures: [.aarch64])),
            Self.facility("x86-no-gpu", hardware: FacilityHardware(architectures: [.x86_64])),
            Self.facility("x86-gpu", hardware: FacilityHardware(architectures: [.x86_64]), gpus: 2),
            Self.facility("x86-gpu-old", hardware: FacilityHardware(architectures: [.x86_64]),
                          software: FacilitySoftware(runtimes: [FacilityRuntime(name: "python", versions: ["3.6"])]), gpus: 2),
            Self.facility("tap-only", kinds: [.tapQuery]),
        ]
        facilities[2].status = .draining
        var r = F.request()
        r.needs = RequestNeeds(gpus: ResourceRange(min: 1), architecture: .x86_64, runtimes: ["python >=3.10"])
        let outcome = Matcher.match(r, against: facilities)
        let steps = outcome.funnel.steps.map { "\($0.clause.rawValue) \($0.passed)" }
        #expect(steps == [
            "kind 4", "architecture 3", "gpus 2", "cores 2", "memory 2", "scratch 2", "duration 2", "software 1", "data 1", "policy 0", "health 0",
        ])
        #expect(outcome.funnel.emptiedBy == .policy)
        #expect(MatchReport.text(for: r, outcome: outcome).contains("Funnel: 5 facilities: kind 4 → architecture 3"))
    }

    @Test func aRequestNothingCanSatisfySaysWhichClauseEmptiedTheList() {
        let facilities = (0..<5).map { Self.facility("f\($0)", hardware: FacilityHardware(architectures: [.x86_64])) }
        var r = F.request()
        r.needs = RequestNeeds(architecture: .ppc64le)
        #expect(Matcher.match(r, against: facilities).funnel.emptiedBy == .architecture)
    }
}

extension VocabularyMatchingTests {
    @Test func anEmptyArchitectureListDeclaresNone() throws {
        var r = F.request()
        r.needs = RequestNeeds(architecture: .x86_64)
        let outcome = Matcher.match(r, against: [Self.facility("none", hardware: FacilityHardware(architectures: []))])
        #expect(try #require(outcome.rejections.first).reasons.map(\.code) == [.architectureNotSupported])
    }
}

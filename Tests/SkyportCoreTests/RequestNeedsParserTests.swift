import Foundation
import Testing
@testable import SkyportCore

/// What requests say beyond cores and memory: Skyport's compute fields, an image's platform, runtimes, environments,
/// locality and ranking, and what codemeta implies.
@Suite struct RequestNeedsParserTests {
    typealias P = RequestParserTests

    @Test func computeGPUsAndArchitecture() throws {
        let r = try P.parse(P.notebook + #", "compute": {"cores": {"min": 4}, "gpus": {"count": {"min": 1, "max": 2}, "models": ["A100"], "memory": {"min": 40}}, "architecture": "arm64"}"#)
        let needs = try #require(r.needs)
        #expect(needs.gpus == ResourceRange(min: 1, max: 2))
        #expect(needs.gpuModels == ["A100"])
        #expect(needs.gpuMemory == 40)
        #expect(needs.architecture == .aarch64)
        #expect(try P.parse(P.notebook + #", "compute": {"gpus": 2}"#).needs?.gpus == ResourceRange(min: 2, max: 2))
    }

    @Test func anImagesPlatformIsItsArchitecture() throws {
        let image = #""executable": {"kind": "docker-container", "image": {"locations": ["ghcr.io/a/b:1"], "platform": {"architecture": "amd64", "os": "linux"}}}"#
        #expect(try P.parse(image).needs?.architecture == .x86_64)
        // A compute architecture that contradicts the image is named.
        #expect(P.errorFields(image + #", "compute": {"architecture": "aarch64"}"#) == ["executable.image.platform.architecture"])
    }

    @Test func runtimesEnvironmentsLocalityAndRank() throws {
        let r = try P.parse(P.notebook + #", "runtimes": [{"name": "Python3", "version": ">=3.10,<3.13"}, "r 4.3", "julia"], "environments": ["casa6"], "locality": "required", "rank": "earliest-start""#)
        let needs = try #require(r.needs)
        #expect(needs.runtimes == ["python >=3.10,<3.13", "r 4.3", "julia"])
        #expect(needs.environments == ["casa6"])
        #expect(needs.locality == .required)
        #expect(needs.rank == .earliestStart)
    }

    @Test(arguments: [
        (#""compute": {"architecture": "z80"}"#, "compute.architecture"),
        (#""compute": {"gpus": -1}"#, "compute.gpus"),
        (#""compute": {"gpus": {"count": {"min": 3, "max": 1}}}"#, "compute.gpus.count.min"),
        (#""runtimes": [{"name": "python", "version": ">=three"}]"#, "runtimes[0].version"),
        (#""runtimes": [{"version": "3"}]"#, "runtimes[0].name"),
        (#""runtimes": [{"name": "Python 3", "version": ">=3.12"}]"#, "runtimes[0].name"),
        (#""environments": ["two words"]"#, "environments[0]"),
        (#""locality": "somewhere""#, "locality"),
        (#""rank": "best""#, "rank"),
    ])
    func badValuesAreNamed(body: String, field: String) {
        #expect(P.errorFields(P.notebook + ", " + body).contains(field), "\(body)")
    }

    @Test func codemetaRuntimesAndArchitectureBecomeNeeds() throws {
        let software = #""software": {"name": "x", "codeRepository": "https://github.com/a/b", "runtimePlatform": ["Python3.8", "Docker"], "programmingLanguage": ["Python 3", "Rust"], "softwareRequirements": ["numpy>=2.0", "Python>=3.6"], "processorRequirements": "x86_64", "keywords": ["jupyter-notebook"]}"#
        let r = try P.parse(software)
        let needs = try #require(r.needs)
        #expect(Set(needs.runtimes) == ["python 3.8", "python 3", "python >=3.6"])
        #expect(needs.architecture == .x86_64)
        #expect(r.notes.contains { $0.field == "software" && $0.message.contains("Docker") && $0.message.contains("Rust") })
        #expect(r.notes.contains { $0.field == "software.softwareRequirements" && $0.message.contains("1 package") })
    }

    @Test func aRequestAskingNothingNewHasNoNeeds() throws {
        #expect(try P.parse(P.notebook).needs == nil)
    }
}

extension RequestNeedsParserTests {
    @Test func aCodemetaRuntimeObjectKeepsItsVersion() throws {
        let r = try P.parse(#""executable": {"kind": "jupyter-notebook", "location": "https://example.org/a.ipynb"}, "software": {"name": "x", "programmingLanguage": {"@type": "ComputerLanguage", "name": "R", "version": ">= 4.1"}, "softwareRequirements": [{"name": "R6"}]}"#)
        #expect(r.needs?.runtimes == ["r >=4.1"])
    }
}

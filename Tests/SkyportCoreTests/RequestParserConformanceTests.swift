import Foundation
import Testing
import SkyportCore

/// What one recorded ExecutionBroker request yields. `failsOn` names the first field error of a document that is
/// not an execution request (the transcripts' accept and reject updates).
struct TranscriptCase: Sendable, CustomTestStringConvertible {
    var file: String
    var kind: ExecutableKind? = nil
    var cores: ResourceRange? = nil
    var memory: ResourceRange? = nil
    var duration: String? = nil
    var data = 0
    var failsOn: String? = nil

    var testDescription: String { file }

    static func fails(_ file: String, on field: String) -> TranscriptCase { TranscriptCase(file: file, failsOn: field) }
}

/// Every file whose name contains `request` under the recorded transcripts, parsed.
@Suite(.enabled(if: SharedSamples.available, Comment(rawValue: SharedSamples.absentMessage)))
struct RequestParserConformanceTests {
    static let now = Date(timeIntervalSince1970: 1_764_000_000)
    static let range5to15 = ResourceRange(min: 5, max: 15)
    static let range3to9 = ResourceRange(min: 3, max: 9)
    static let range8to16 = ResourceRange(min: 8, max: 16)

    static let cases: [TranscriptCase] = [
        .init(file: "001/001-001-offerset-request.yaml", kind: .jupyterNotebook, cores: range5to15, memory: range3to9, duration: "PT1H"),
        .fails("001/001-006-reject-00-request.yaml", on: "executable"),
        .fails("001/001-010-accept-01-request.json", on: "executable"),
        .init(file: "002/002-001-offerset-request.yaml", kind: .jupyterNotebook),
        .init(file: "003/003-001-offerset-request.json", kind: .jupyterNotebook),
        .init(file: "004/004-001-offerset-request.json", kind: .jupyterNotebook, cores: range5to15, memory: range3to9, duration: "PT1H"),
        .fails("004/004-004-reject-00-request.json", on: "executable"),
        .fails("004/004-007-accept-01-request.json", on: "executable"),
        .init(file: "005/005-001-offerset-request.yaml", kind: .jupyterNotebook, duration: "PT1H", data: 1),
        .init(file: "007/007-001-offerset-request.yaml", kind: .jupyterNotebook, cores: range8to16, memory: range8to16, duration: "PT1H", data: 3),
        .init(file: "example-006/example-006-001-offerset-request.yaml", kind: .dockerContainer, cores: range5to15, memory: range3to9),
        .init(file: "example-008/example-008-001-offerset-request.yaml", kind: .dockerContainer, data: 1),
        .init(file: "example-009/example-009-001-offerset-request.yaml", kind: .dockerContainer, data: 1),
        .init(file: "example-011/example-011-001-offerset-request.yaml", kind: .dockerContainer, data: 1),
        .init(file: "example-011/example-011-003-offerset-request.yaml", kind: .dockerContainer, data: 1),
        .init(file: "example-011/example-011-005-offerset-request.yaml", kind: .dockerContainer, data: 1),
        .init(file: "example-011/example-011-007-offerset-request.yaml", kind: .dockerContainer, data: 1),
        .init(file: "example-013/example-013-001-offerset-request.yaml", kind: .dockerContainer),
    ]

    static func load(_ file: String) throws -> JSONValue {
        try TestYAML.load(SharedSamples.transcripts.appendingPathComponent(file))
    }

    static func parse(_ file: String) throws -> NormalisedRequest {
        try ExecutionRequestParser.parse(load(file), now: now, strict: true)
    }

    @Test func everyRequestFileHasAnExpectation() {
        let found = SharedSamples.files(under: SharedSamples.transcripts, nameContaining: "request")
        #expect(!found.isEmpty)
        #expect(found == Self.cases.map(\.file).sorted())
    }

    @Test(arguments: cases)
    func yields(_ expected: TranscriptCase) throws {
        let document = try Self.load(expected.file)
        if let field = expected.failsOn {
            let failure = #expect(throws: ValidationFailure.self) { try ExecutionRequestParser.parse(document, now: Self.now, strict: true) }
            #expect(failure?.errors.first?.field == field)
            return
        }
        let request = try ExecutionRequestParser.parse(document, now: Self.now)
        #expect(request.executable.kind == expected.kind)
        #expect(request.cores == expected.cores)
        #expect(request.memory == expected.memory)
        #expect(request.duration?.description == expected.duration)
        #expect(request.data.count == expected.data)
        #expect(!request.notes.contains { $0.level == .warning }, "unexpected warnings: \(request.notes)")
    }

    @Test func updatesAreToldApartFromRequests() throws {
        let failure = #expect(throws: ValidationFailure.self) { try Self.parse("001/001-006-reject-00-request.yaml") }
        #expect(failure?.errors.map(\.field) == ["executable", "kind"])
        #expect(failure?.errors.first?.message.contains("executable is required") == true)
    }

    @Test func notebookLocationAndName() throws {
        let request = try Self.parse("001/001-001-offerset-request.yaml")
        #expect(request.executable.location == "https://raw.githubusercontent.com/Zarquan/binder-demo/main/02_dmhh.ipynb")
        #expect(request.name == nil)  // "#name: example-001" is commented out
    }

    @Test func storageIsSummedAndVolumesResolve() throws {
        let request = try Self.parse("007/007-001-offerset-request.yaml")
        #expect(request.storage == ResourceRange(min: 2048, max: nil))
        #expect(request.data.map(\.name) == ["data-007-01", "data-007-02", "data-007-03"])
        #expect(request.data.allSatisfy { $0.kind == .url && $0.source == "executionbroker" })
        #expect(request.data.first?.url == "https://example.org/data/data-007-01.vot")
    }

    @Test func dockerContainerOfTheFirstGeneration() throws {
        let request = try Self.parse("example-006/example-006-001-offerset-request.yaml")
        #expect(request.name == "example-006")
        #expect(request.executable.images == [
            "ghcr.io/ivoa/oligia-webtop:ubuntu-2022.01.13", "docker.io/ivoa/oligia-webtop:ubuntu-2022.01.13",
        ])
        #expect(request.executable.parameters == [
            "image.digest": "sha256:5d22a47f43b2b5efc433554092de724bd6c3cf01d2c74038f6569770a5dd5245",
            "container.entrypoint": "test-entrypoint",
            "container.ports": "3000/HTTP,3001/HTTPS",
            "USER_NAME": "albert",
            "USER_EMAIL": "albert@example.org",
        ])
    }

    @Test func ivoaDataTakesTheDataLinkURL() throws {
        let item = try #require(try Self.parse("example-008/example-008-001-offerset-request.yaml").data.first)
        #expect(item.kind == .ivoa)
        #expect(item.name == "example-008-data-01")
        #expect(item.url == "http://download.example.org/data/012345-000")
        #expect(item.size == 123)
    }

    @Test func skaoDataBecomesARucioDID() throws {
        let item = try #require(try Self.parse("example-009/example-009-001-offerset-request.yaml").data.first)
        #expect(item.kind == .rucio)
        #expect(item.did == "testing:zrq-test-20250509-082506")
        #expect(item.rses == ["SPSRC_STORM", "STFC_STORM", "SWESRC-OSO-T1", "SWESRC-OSO-T0"])
        #expect(item.size == 29)
        #expect(item.checksum == "adler32:6c9f06a7")
        #expect(item.name == "example-009-data-01")
    }

    @Test(arguments: [
        ("example-011/example-011-001-offerset-request.yaml", Int64(25_600), 3),
        ("example-011/example-011-003-offerset-request.yaml", Int64(26_214_400), 2),
        ("example-011/example-011-005-offerset-request.yaml", Int64(26_843_545_600), 2),
        ("example-011/example-011-007-offerset-request.yaml", Int64(27_487_790_694_400), 2),
    ])
    func skaoSizesGrow(file: String, size: Int64, replicas: Int) throws {
        let item = try #require(try Self.parse(file).data.first)
        #expect(item.size == size)
        #expect(item.rses.count == replicas)
    }

    @Test func containerCommandIsKeptInOrder() throws {
        let request = try Self.parse("example-013/example-013-001-offerset-request.yaml")
        #expect(request.executable.parameters["container.command"] == #"["10","0"]"#)
        #expect(request.executable.images == ["ghcr.io/zarquan/heliophorus-cantliei:sha-831ee57"])
    }

    @Test func abstractDataPlaceholderOfTheUksrcDemoIsRejected() throws {
        let document = try Self.load("uksrc-demo-ivoa-execution.yaml")
        let failure = #expect(throws: ValidationFailure.self) { try ExecutionRequestParser.parse(document, now: Self.now, strict: true) }
        #expect(failure?.errors.map(\.field) == ["data[0].kind"])
        #expect(failure?.errors.first?.message.contains("placeholder") == true)
    }

    @Test func theYAMLReaderKeepsBlockScalars() throws {
        let document = try Self.load("uksrc-demo-ivoa-execution.yaml")
        let description = document["executable"]?["meta"]?["description"]?.stringValue ?? ""
        #expect(description.hasPrefix("A simple Alpine based container"))
        #expect(description.contains("\n  1) HASH"))
        #expect(!description.hasSuffix("\n"))
        let folded = document["compute"]?["meta"]?["description"]?.stringValue
        #expect(folded == "A simple compute resource, with a volume mount for the input data. "
            + "You can add additional constraints for the number of cores and size of memory if needed.")
    }
}

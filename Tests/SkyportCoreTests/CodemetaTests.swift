import Foundation
import Testing
import SkyportCore

/// What one real codemeta.json yields.
struct CodemetaCase: Sendable, CustomTestStringConvertible {
    var file: String
    var name: String?
    var version: String?
    var repository: String?
    var languages: [String]
    var kind: ExecutableKind? = nil
    var codemetaVersion = "2.0"

    var testDescription: String { file }
}

@Suite(.enabled(if: SharedSamples.available, Comment(rawValue: SharedSamples.absentMessage)))
struct CodemetaSampleTests {
    /// None of the twelve real files says how to run it: none has a notebook keyword, a Jupyter runtimePlatform,
    /// a notebook path or Skyport's hint, so the kind is nil for every one (with a warning note).
    static let cases: [CodemetaCase] = [
        .init(file: "cds-escape-tutorials.codemeta.json", name: "cds-escape-tutorials", version: "1.1.0",
              repository: "https://github.com/cds-astro/tutorials", languages: ["python3.*"]),
        .init(file: "cds-moc-rust.codemeta.json", name: "MOC Lib Rust, MOCCLi, MOCWasm and MOCSet", version: "0.6.0",
              repository: "https://github.com/cds-astro/cds-moc-rust", languages: ["Rust"]),
        .init(file: "codemeta2zenodo.codemeta.json", name: "codemeta2zenodo", version: "1.3.0",
              repository: "https://github.com/escape2020/codemeta2zenodo", languages: ["Shell"]),
        .init(file: "ctaplot.codemeta.json", name: "ctaplot", version: "0.6.5",
              repository: "https://github.com/cta-observatory/ctaplot.git", languages: ["Python 3"]),
        .init(file: "eossr-sample-v3.codemeta.json", name: "eOSSR test", version: "1.0.0",
              repository: "https://gitlab.com/escape-ossr/eossr", languages: ["Python"], codemetaVersion: "3.0"),
        .init(file: "eossr-sample-valid.codemeta.json", name: "supernovae", version: "0.3.3",
              repository: nil, languages: []),
        .init(file: "gammapy.codemeta.json", name: "Gammapy: Python toolbox for gamma-ray astronomy", version: "2.0",
              repository: "https://github.com/gammapy/gammapy", languages: []),
        .init(file: "hcg-16.codemeta.json", name: "Pipeline for HCG-16 Project", version: "1.2.1",
              repository: "https://github.com/AMIGA-IAA/hcg-16.git", languages: ["Python"]),
        .init(file: "irdb.codemeta.json", name: "Instrument Reference Database", version: nil,
              repository: "https://github.com/AstarVienna/irdb.git", languages: ["Python 3"]),
        .init(file: "lstmcpipe.codemeta.json", name: "lstmcpipe", version: "0.11.3",
              repository: "https://github.com/cta-observatory/lstmcpipe.git", languages: ["Python 3"]),
        .init(file: "lstosa.codemeta.json", name: "lstosa", version: "0.9.4",
              repository: "https://github.com/cta-observatory/lstosa", languages: ["Python 3"]),
        .init(file: "mocpy.codemeta.json", name: "MOCpy", version: "0.20.0",
              repository: "https://github.com/cds-astro/mocpy", languages: ["Python 3", "Rust"]),
    ]

    static func normalise(_ file: String, kindHint: ExecutableKind? = nil) throws -> CodemetaResult {
        try Codemeta.normalise(TestYAML.load(SharedSamples.codemeta.appendingPathComponent(file)), kindHint: kindHint)
    }

    @Test func everySampleHasAnExpectation() {
        let found = SharedSamples.files(under: SharedSamples.codemeta, nameContaining: ".json")
        #expect(found == Self.cases.map(\.file).sorted())
    }

    @Test(arguments: cases)
    func yields(_ expected: CodemetaCase) throws {
        let result = try Self.normalise(expected.file)
        #expect(result.software.name == expected.name)
        #expect(result.software.version == expected.version)
        #expect(result.software.repository == expected.repository)
        #expect(result.software.languages == expected.languages)
        #expect(result.executable.kind == expected.kind)
        #expect(result.executable.repository == expected.repository)
        #expect(result.codemetaVersion == expected.codemetaVersion)
        #expect(result.notes.contains { $0.field == Codemeta.executableKindKey })
    }

    @Test(arguments: cases)
    func theRequestsKindWins(_ expected: CodemetaCase) throws {
        #expect(try Self.normalise(expected.file, kindHint: .jupyterNotebook).executable.kind == .jupyterNotebook)
    }

    @Test func onlyTheVersion3SampleStatesRequirements() throws {
        let result = try Self.normalise("eossr-sample-v3.codemeta.json")
        #expect(result.memory == ResourceRange(min: 2))  // "2GB"
        #expect(result.storage == ResourceRange(min: 1))  // "500MB", rounded up
        #expect(result.cores == nil)  // "x86_64" is an architecture
        #expect(result.software.processorRequirements == "x86_64")
        #expect(result.notes.contains { $0.field == "processorRequirements" && $0.message.contains("architecture") })
        #expect(result.software.operatingSystems == ["windows"])
        #expect(result.software.runtimePlatforms == ["Python3.8"])
        for file in Self.cases.map(\.file) where file != "eossr-sample-v3.codemeta.json" {
            let other = try Self.normalise(file)
            #expect(other.cores == nil && other.memory == nil && other.storage == nil, "\(file)")
        }
    }

    @Test func listsObjectsAndOperatingSystems() throws {
        let tutorials = try Self.normalise("cds-escape-tutorials.codemeta.json")
        #expect(tutorials.software.operatingSystems == ["linux", "windows", "macos"])
        #expect(tutorials.software.keywords == ["virtual-observatory databases python"])
        #expect(tutorials.notes.contains { $0.message.contains("description mentions Jupyter") })
        let zenodo = try Self.normalise("codemeta2zenodo.codemeta.json")
        #expect(zenodo.software.runtimePlatforms == ["GitHub Actions", "Docker"])
        #expect(zenodo.notes.contains { $0.message.contains("Docker") })
        let moc = try Self.normalise("cds-moc-rust.codemeta.json")
        #expect(moc.software.operatingSystems == ["linux", "macos", "windows"])
    }

    @Test func differingVersionsAreNoted() throws {
        let result = try Self.normalise("eossr-sample-valid.codemeta.json")
        #expect(result.notes.contains { $0.field == "version" && $0.message.contains("'2.0'") })
    }
}

@Suite struct CodemetaTests {
    static func normalise(_ text: String, kindHint: ExecutableKind? = nil) throws -> CodemetaResult {
        try Codemeta.normalise(requestJSON(text), kindHint: kindHint)
    }

    @Test(arguments: [
        (#"{"keywords": ["Astronomy", "jupyter-notebook"]}"#, ExecutableKind.jupyterNotebook),
        (#"{"keywords": "astronomy, Notebook"}"#, .jupyterNotebook),
        (#"{"keywords": "binder; astronomy"}"#, .binderNotebook),
        (#"{"keywords": ["binder", "notebook"]}"#, .jupyterNotebook),
        (#"{"runtimePlatform": "JupyterLab 4"}"#, .jupyterNotebook),
        (#"{"skyport:path": "notebooks/Intro.ipynb"}"#, .jupyterNotebook),
        (#"{"skyport:executableKind": "docker-container", "keywords": ["jupyter-notebook"]}"#, .dockerContainer),
        (#"{"skyport:executableKind": "https://www.purl.org/ivoa.net/EB/schema/v1.0/types/executable/jupyter-notebook-1.0"}"#, .jupyterNotebook),
    ])
    func kindDerivation(document: String, kind: ExecutableKind) throws {
        #expect(try Self.normalise(document).executable.kind == kind)
    }

    @Test func hintBeatsEverything() throws {
        let result = try Self.normalise(#"{"skyport:executableKind": "docker-container", "keywords": ["jupyter-notebook"]}"#, kindHint: .binderNotebook)
        #expect(result.executable.kind == .binderNotebook)
    }

    @Test func noKindIsANoteNotAnError() throws {
        let result = try Self.normalise(#"{"skyport:executableKind": "spaceship", "runtimePlatform": ["Docker"]}"#)
        #expect(result.executable.kind == nil)
        #expect(result.notes.map(\.field) == [Codemeta.executableKindKey, Codemeta.executableKindKey])
    }

    @Test(arguments: [
        ("git+https://github.com/AMIGA-IAA/hcg-16.git", "https://github.com/AMIGA-IAA/hcg-16.git"),
        ("https://github.com/cds-astro/mocpy/", "https://github.com/cds-astro/mocpy"),
        (" git+ssh://git@example.org/a/b.git ", "ssh://git@example.org/a/b.git"),
        ("https://gitlab.com/escape-ossr/eossr", "https://gitlab.com/escape-ossr/eossr"),
    ])
    func repositories(raw: String, clean: String) {
        #expect(Codemeta.cleanRepository(raw) == clean)
    }

    @Test func valuesInEveryShape() throws {
        let result = try Self.normalise("""
            {"name": ["First", "Second"], "softwareVersion": "v2.1", "codeRepository": ["git+https://github.com/a/b"],
             "programmingLanguage": [{"@type": "ComputerLanguage", "name": "Python", "version": "3.11"}, "Rust", "python"],
             "operatingSystem": "Linux, Mac OS X", "keywords": "a, b;c,,A", "skyport:ref": "v1.0",
             "memoryRequirements": "16 GiB", "processorRequirements": {"name": "2 CPUs"}, "storageRequirements": ["1.5 TB"]}
            """)
        #expect(result.software.name == "First")
        #expect(result.software.version == "2.1")
        // An object's version is kept with its name (a runtime's range matters to matching).
        #expect(result.software.languages == ["Python 3.11", "Rust", "python"])
        #expect(result.software.operatingSystems == ["linux", "macos"])
        #expect(result.software.keywords == ["a", "b", "c"])
        #expect(result.executable.ref == "v1.0")
        #expect(result.executable.repository == "https://github.com/a/b")
        #expect(result.memory == ResourceRange(min: 16))
        #expect(result.cores == ResourceRange(min: 2))
        #expect(result.storage == ResourceRange(min: 1_536))
    }

    @Test(arguments: [
        ("memoryRequirements", "8GB", 8), ("memoryRequirements", "16 GiB", 16), ("memoryRequirements", "512MB", 1),
        ("memoryRequirements", "at least 4 GB of RAM", 4), ("processorRequirements", "4 cores", 4),
        ("processorRequirements", "2 CPUs", 2), ("processorRequirements", "8 vCPU", 8),
    ])
    func parseableRequirements(term: String, text: String, value: Int) throws {
        let result = try Self.normalise(#"{"\#(term)": "\#(text)"}"#)
        let range = term == "memoryRequirements" ? result.memory : result.cores
        #expect(range == ResourceRange(min: value))
    }

    @Test(arguments: [
        ("memoryRequirements", "plenty"), ("memoryRequirements", "2048"), ("memoryRequirements", "https://example.org/req.txt"),
        ("processorRequirements", "a fast one"), ("storageRequirements", "0 GB"),
    ])
    func unparseableRequirementsAreKeptAsText(term: String, text: String) throws {
        let result = try Self.normalise(#"{"\#(term)": "\#(text)"}"#)
        #expect(result.memory == nil && result.cores == nil && result.storage == nil)
        #expect(result.notes.contains { $0.field == term && $0.message.contains("kept as text") })
        let kept = [result.software.memoryRequirements, result.software.processorRequirements, result.software.storageRequirements]
        #expect(kept.contains(text))
    }

    @Test func notAnObject() {
        #expect(throws: ValidationFailure.self) { try Codemeta.normalise(.string("codemeta.json")) }
    }

    @Test func codemeta3Context() throws {
        #expect(try Self.normalise(#"{"@context": "https://w3id.org/codemeta/3.0"}"#).codemetaVersion == "3.0")
        #expect(try Self.normalise(#"{"@context": ["https://doi.org/10.5063/schema/codemeta-2.0", {"x": "y"}]}"#).codemetaVersion == "2.0")
    }
}

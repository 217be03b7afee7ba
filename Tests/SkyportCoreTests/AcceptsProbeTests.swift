import Foundation
import Testing
import SkyportCore

@Suite struct AcceptsProbeTests {
    static func fields(_ text: String) -> [String] {
        do {
            _ = try AcceptsProbe.parse(document: requestJSON(text))
            return []
        } catch let failure as ValidationFailure {
            return failure.errors.map(\.field)
        } catch {
            return ["unexpected \(error)"]
        }
    }

    /// The note's own example: `mincores: 8, minmemory: 8G`, `maxstartup: 60s, minduration: 5m`.
    @Test func queryOfTheNote() throws {
        let request = try AcceptsProbe.parse(query: [
            "tasktype": "uri://jupyter-notebook", "taskinfo.languages": "{md,python,pyspark}",
            "taskinfo.notebook-url": "https://example.org/a.ipynb", "mincores": "8", "resources.minmemory": "8G",
            "maxstartup": "60s", "minduration": "5m", "colour": "blue",
        ])
        #expect(request.executable == ExecutableRequest(
            kind: .jupyterNotebook, location: "https://example.org/a.ipynb", parameters: ["languages": "{md,python,pyspark}"]))
        #expect(request.cores == ResourceRange(min: 8))
        #expect(request.memory == ResourceRange(min: 8))
        #expect(request.duration == ISODuration(seconds: 300))
        #expect(request.notes.map(\.field) == ["resources.maxstartup", "colour"])
    }

    @Test func documentWithEveryResourceTerm() throws {
        let request = try AcceptsProbe.parse(document: requestJSON("""
            {"tasktype": "uri://docker-container", "taskinfo": {"image": "ghcr.io/a/b:1", "languages": ["md", "python"]},
             "resources": {"mincores": 8, "maxcores": 12, "minmemory": "8G", "maxmemory": "16GiB",
                           "minduration": "5m", "maxduration": "PT10M"}}
            """))
        #expect(request.executable == ExecutableRequest(kind: .dockerContainer, images: ["ghcr.io/a/b:1"], parameters: ["languages": "md,python"]))
        #expect(request.cores == ResourceRange(min: 8, max: 12))
        #expect(request.memory == ResourceRange(min: 8, max: 16))
        #expect(request.duration == ISODuration(seconds: 300))
        #expect(request.notes.isEmpty)
    }

    @Test func binderTaskinfo() throws {
        let request = try AcceptsProbe.parse(document: requestJSON("""
            {"tasktype": "https://www.purl.org/ivoa.net/EP/task-type/binder-notebook",
             "taskinfo": {"repository-type": "github", "repository-url": "git+https://github.com/a/b", "ref": "main", "path": "x.ipynb"}}
            """))
        #expect(request.executable == ExecutableRequest(
            kind: .binderNotebook, repository: "https://github.com/a/b", ref: "main", path: "x.ipynb",
            parameters: ["repository-type": "github"]))
    }

    @Test(arguments: [
        ("uri://jupyter-notebook", ExecutableKind.jupyterNotebook), ("uri://binder-notebook", .binderNotebook),
        ("uri://esap-notebook", .jupyterNotebook), ("uri://docker-container", .dockerContainer),
        ("jupyter-notebook", .jupyterNotebook),
    ])
    func taskTypes(tasktype: String, kind: ExecutableKind) throws {
        #expect(try AcceptsProbe.parse(query: ["tasktype": tasktype]).executable.kind == kind)
    }

    @Test(arguments: ["uri://zeppelin-notebook", "uri://docker-compose", "uri://portainer-container", "spaceship"])
    func unknownTaskTypeReadsNothingElse(tasktype: String) throws {
        let request = try AcceptsProbe.parse(document: requestJSON(#"{"tasktype": "\#(tasktype)", "resources": {"mincores": 4}}"#))
        #expect(request.executable.kind == nil)
        #expect(request.cores == nil)
        #expect(request.notes.map(\.field) == ["tasktype"])
    }

    /// The answer to an unknown task type is NO, but its resources are still held to their types.
    @Test func anUnknownTaskTypesResourcesAreStillTyped() {
        #expect(throws: ValidationFailure.self) {
            try AcceptsProbe.parse(document: requestJSON(#"{"tasktype": "x", "resources": {"maxcores": true}}"#))
        }
    }

    @Test(arguments: [
        ("8G", 8), ("16GiB", 16), ("512M", 1), ("2048M", 2), ("1.5T", 1_536), ("4", 4), ("16 GB", 16), ("1025Mi", 2),
    ])
    func memorySizes(text: String, gib: Int) throws {
        let request = try AcceptsProbe.parse(query: ["tasktype": "uri://jupyter-notebook", "minmemory": text])
        #expect(request.memory == ResourceRange(min: gib))
    }

    @Test(arguments: [
        ("5m", 300), ("60s", 60), ("1h", 3_600), ("2d", 172_800), ("1h30m", 5_400), ("90 minutes", 5_400), ("PT1H", 3_600),
    ])
    func durations(text: String, seconds: Int) throws {
        let request = try AcceptsProbe.parse(query: ["tasktype": "uri://jupyter-notebook", "minduration": text])
        #expect(request.duration == ISODuration(seconds: seconds))
    }

    @Test(arguments: [
        (#"{}"#, ["tasktype"]),
        (#"{"tasktype": 7}"#, ["tasktype"]),
        (#"{"tasktype": "uri://jupyter-notebook", "resources": {"minmemory": "8X"}}"#, ["resources.minmemory"]),
        (#"{"tasktype": "uri://jupyter-notebook", "resources": {"minmemory": "-1G"}}"#, ["resources.minmemory"]),
        (#"{"tasktype": "uri://jupyter-notebook", "resources": {"minduration": "300"}}"#, ["resources.minduration"]),
        (#"{"tasktype": "uri://jupyter-notebook", "resources": {"maxstartup": "soon"}}"#, ["resources.maxstartup"]),
        (#"{"tasktype": "uri://jupyter-notebook", "taskinfo": "x"}"#, ["taskinfo"]),
    ])
    func errors(text: String, fields: [String]) {
        #expect(Self.fields(text) == fields)
    }

    /// Well-typed values the broker cannot honour are answered NO (the refusals become its reasons), not refused.
    @Test(arguments: [
        (#"{"tasktype": "uri://jupyter-notebook", "resources": {"minmemory": "0G"}}"#, ["resources.minmemory"]),
        (#"{"tasktype": "uri://jupyter-notebook", "resources": {"mincores": 12, "maxcores": 8}}"#, ["resources.mincores"]),
        (#"{"tasktype": "uri://jupyter-notebook", "resources": {"minmemory": "16G", "maxmemory": "8G"}}"#, ["resources.minmemory"]),
        (#"{"tasktype": "uri://jupyter-notebook", "resources": {"minduration": "10m", "maxduration": "5m"}}"#, ["resources.minduration"]),
        (#"{"tasktype": "uri://jupyter-notebook", "resources": {"mincores": 0}}"#, ["resources.mincores"]),
    ])
    func refusals(text: String, fields: [String]) throws {
        let request = try AcceptsProbe.parse(document: try JSONValue.parse(Data(text.utf8)))
        #expect(request.refusals?.map(\.field) == fields)
    }

    @Test func minGreaterThanMaxNamesBothTerms() throws {
        let request = try AcceptsProbe.parse(query: ["tasktype": "uri://jupyter-notebook", "mincores": "12", "maxcores": "8"])
        #expect(request.refusals?.map(\.message) == ["mincores 12 is greater than maxcores 8"])
    }

    @Test func onlyMaxDurationIsUsedWithANote() throws {
        let request = try AcceptsProbe.parse(query: ["tasktype": "uri://jupyter-notebook", "maxduration": "1h"])
        #expect(request.duration == ISODuration(seconds: 3_600))
        #expect(request.notes.map(\.field) == ["resources.maxduration"])
    }
}

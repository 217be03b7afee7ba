import Foundation

/// What `Codemeta.normalise` made of a codemeta.json document.
public struct CodemetaResult: Sendable, Hashable {
    /// The software as described.
    public var software: SoftwareDescription
    /// What to run, as far as the file tells: kind, repository, ref and notebook path.
    public var executable: ExecutableRequest
    /// Minimum cores from `processorRequirements`, when it names a count.
    public var cores: ResourceRange?
    /// Minimum memory in GiB from `memoryRequirements`, when it names a size.
    public var memory: ResourceRange?
    /// Minimum storage in GiB from `storageRequirements`, when it names a size.
    public var storage: ResourceRange?
    /// The codemeta version named by `@context` (`2.0`, `3.0`), when recognised.
    public var codemetaVersion: String?
    /// What could not be used or was assumed, each naming its codemeta term.
    public var notes: [RequestNote]
}

/// Normalises codemeta.json (2.0 and 3.0) as found in the wild: values as strings, lists or objects,
/// comma-joined keywords, `git+https://` repositories, `v`-prefixed versions, free-text requirements.
///
/// Skyport reads three extension terms, none of them part of codemeta:
/// `skyport:executableKind` (an alias such as `jupyter-notebook` or a kind URI), `skyport:ref` (a git ref)
/// and `skyport:path` (the notebook or script inside the repository).
public enum Codemeta {
    /// The extension term naming the executable kind (`jupyter-notebook`, or a kind URI).
    public static let executableKindKey = "skyport:executableKind"
    /// The extension term naming the git ref (branch, tag or commit) to run.
    public static let refKey = "skyport:ref"
    /// The extension term naming the notebook or script inside the repository.
    public static let pathKey = "skyport:path"

    /// Normalises one codemeta document. `kindHint` (the request's own `executable.kind`) wins over anything the
    /// file says. Throws only when the document is not a JSON object; everything else becomes a note.
    public static func normalise(_ document: JSONValue, kindHint: ExecutableKind? = nil) throws -> CodemetaResult {
        guard let object = document.objectValue else {
            throw ValidationFailure([FieldError("codemeta", "must be a JSON object (a codemeta.json document)")])
        }
        return read(object, kindHint: kindHint)
    }

    /// The non-throwing core, for callers that have already checked the document is an object.
    static func read(_ doc: [String: JSONValue], kindHint: ExecutableKind?) -> CodemetaResult {
        var notes: [RequestNote] = []
        var sw = SoftwareDescription()
        sw.name = texts(doc["name"]).first
        sw.version = version(doc, &notes)
        sw.repository = texts(doc["codeRepository"]).first.map(cleanRepository)
        sw.languages = unique(versioned(doc["programmingLanguage"]).flatMap { split($0, ",") })
        sw.operatingSystems = unique(texts(doc["operatingSystem"]).flatMap { split($0, ",") }.map(operatingSystem))
        sw.runtimePlatforms = unique(texts(doc["runtimePlatform"]).flatMap { split($0, ",") })
        sw.keywords = unique(texts(doc["keywords"]).flatMap { split($0, ",;") })
        sw.memoryRequirements = requirement(doc, "memoryRequirements")
        sw.processorRequirements = requirement(doc, "processorRequirements")
        sw.storageRequirements = requirement(doc, "storageRequirements")
        let requirements = unique(versioned(doc["softwareRequirements"]).flatMap { split($0, ",;\n") })
        sw.requirements = requirements.isEmpty ? nil : requirements

        var executable = ExecutableRequest(
            repository: sw.repository, ref: texts(doc[refKey]).first, path: texts(doc[pathKey]).first)
        executable.kind = kind(doc, sw, path: executable.path, hint: kindHint, &notes)
        if sw.repository == nil, doc["codeRepository"] != nil {
            notes.append(RequestNote(.warning, "codeRepository", "not a usable repository URL"))
        }

        return CodemetaResult(
            software: sw, executable: executable,
            cores: cores(sw.processorRequirements, &notes),
            memory: size(sw.memoryRequirements, "memoryRequirements", &notes),
            storage: size(sw.storageRequirements, "storageRequirements", &notes),
            codemetaVersion: contextVersion(doc["@context"]), notes: notes)
    }

    /// `git+https://host/repo.git` → `https://host/repo.git`: the `git+` prefix pip uses goes, the rest (a `.git`
    /// suffix included, which git and BinderHub both accept) stays as written, less a trailing slash.
    public static func cleanRepository(_ url: String) -> String {
        var u = url.trimmingSpaces()
        if u.lowercased().hasPrefix("git+") { u.removeFirst(4) }
        while u.hasSuffix("/") { u.removeLast() }
        return u
    }

    // MARK: Terms

    private static func version(_ doc: [String: JSONValue], _ notes: inout [RequestNote]) -> String? {
        let software = texts(doc["softwareVersion"]).first.map(stripV)
        let plain = texts(doc["version"]).first.map(stripV)
        if let software, let plain, software != plain {
            notes.append(RequestNote(
                .info, "version", "version '\(plain)' and softwareVersion '\(software)' differ; softwareVersion is used"))
        }
        return software ?? plain
    }

    private static func stripV(_ version: String) -> String {
        guard let first = version.first, first == "v" || first == "V",
            version.dropFirst().first?.isNumber == true
        else { return version }
        return String(version.dropFirst())
    }

    private static func requirement(_ doc: [String: JSONValue], _ term: String) -> String? {
        let values = texts(doc[term])
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }

    private static func operatingSystem(_ name: String) -> String {
        let lower = name.lowercased()
        switch lower {
        case "mac", "macos", "mac os", "mac os x", "macosx", "osx", "os x", "darwin": return "macos"
        case "linux", "gnu/linux": return "linux"
        case "windows", "win", "win32", "win64", "microsoft windows": return "windows"
        default: return lower
        }
    }

    private static func contextVersion(_ context: JSONValue?) -> String? {
        let all = texts(context).joined(separator: " ")
        if all.contains("codemeta-3.0") || all.contains("codemeta/3.0") { return "3.0" }
        if all.contains("codemeta-2.0") || all.contains("codemeta/2.0") { return "2.0" }
        if all.contains("codemeta-1.0") || all.contains("codemeta/1.0") { return "1.0" }
        return nil
    }

    // MARK: Executable kind

    private static let notebookKeywords: Set<String> = [
        "jupyter-notebook", "jupyter-notebooks", "jupyter notebook", "jupyter notebooks", "notebook", "notebooks",
    ]
    private static let binderKeywords: Set<String> = ["binder", "mybinder", "binder-notebook"]

    private static func kind(
        _ doc: [String: JSONValue], _ sw: SoftwareDescription, path: String?, hint: ExecutableKind?,
        _ notes: inout [RequestNote]
    ) -> ExecutableKind? {
        if let hint { return hint }
        if let text = texts(doc[executableKindKey]).first {
            if let kind = ExecutableKind(text) { return kind }
            notes.append(RequestNote(.warning, executableKindKey, "'\(text)' is neither a known kind nor a kind URI"))
        }
        let keywords = sw.keywords.map { $0.lowercased() }
        if keywords.contains(where: notebookKeywords.contains) {
            notes.append(RequestNote(.info, "keywords", "executable kind jupyter-notebook, from the keywords"))
            return .jupyterNotebook
        }
        if keywords.contains(where: binderKeywords.contains) {
            notes.append(RequestNote(.info, "keywords", "executable kind binder-notebook, from the keywords"))
            return .binderNotebook
        }
        if sw.runtimePlatforms.contains(where: { $0.lowercased().contains("jupyter") }) {
            notes.append(RequestNote(.info, "runtimePlatform", "executable kind jupyter-notebook, from runtimePlatform"))
            return .jupyterNotebook
        }
        if let path, path.lowercased().hasSuffix(".ipynb") {
            notes.append(RequestNote(.info, pathKey, "executable kind jupyter-notebook, from the notebook path"))
            return .jupyterNotebook
        }
        var hints = ""
        if texts(doc["description"]).joined().lowercased().contains("jupyter") {
            hints = " The description mentions Jupyter: add the keyword jupyter-notebook if these are notebooks."
        } else if sw.runtimePlatforms.contains(where: { $0.lowercased().contains("docker") }) {
            hints = " runtimePlatform names Docker, but no image is given."
        }
        notes.append(RequestNote(
            .warning, executableKindKey,
            "the executable kind could not be told: set \(executableKindKey) or the keyword jupyter-notebook.\(hints)"))
        return nil
    }

    // MARK: Requirements

    private static func cores(_ text: String?, _ notes: inout [RequestNote]) -> ResourceRange? {
        guard let text else { return nil }
        if let n = Quantities.cores(text), n >= 1, n <= DocumentReader.absurd { return ResourceRange(min: n) }
        let architecture = text.split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != "_" && $0 != "-" })
            .contains { Architecture(alias: String($0)) != nil }
        // An architecture is read as one by the request parser (`RequestNeeds.architecture`).
        notes.append(RequestNote(.info, "processorRequirements", architecture
            ? "'\(text)' names a processor architecture, not a core count; facilities are matched on it"
            : "'\(text)' names no core count (such as '4 cores') or architecture; kept as text"))
        return nil
    }

    private static func size(_ text: String?, _ term: String, _ notes: inout [RequestNote]) -> ResourceRange? {
        guard let text else { return nil }
        if let gib = Quantities.gibibytes(text, strict: false), gib >= 1, gib <= DocumentReader.absurd {
            return ResourceRange(min: gib)
        }
        let message = text.contains("://")
            ? "'\(text)' is a link, not a size; kept as text"
            : "'\(text)' names no size (such as '8 GB'); kept as text"
        notes.append(RequestNote(.info, term, message))
        return nil
    }

    // MARK: Values

    /// Every text in a value: a string, the strings of a list, or the `name` (else `@id`, `url`) of an object.
    static func texts(_ value: JSONValue?) -> [String] {
        guard let value else { return [] }
        switch value {
        case .array(let items):
            return items.flatMap { texts($0) }
        case .object(let o):
            for key in ["name", "@id", "identifier", "url"] {
                if let found = texts(o[key]).first { return [found] }
            }
            return []
        default:
            return DocumentReader.text(of: value).flatMap { $0.isEmpty ? nil : [$0] } ?? []
        }
    }

    /// Like `texts`, but an object's `version` follows its name (`{"name": "R", "version": ">= 4.1"}` is `R >= 4.1`),
    /// so that a runtime's version range is not lost.
    static func versioned(_ value: JSONValue?) -> [String] {
        guard let value else { return [] }
        switch value {
        case .array(let items): return items.flatMap { versioned($0) }
        case .object(let o):
            guard let name = texts(.object(o)).first else { return [] }
            guard let version = o["version"].flatMap({ texts($0).first }), !version.isEmpty else { return [name] }
            return ["\(name) \(version)"]
        default: return texts(value)
        }
    }

    private static func split(_ text: String, _ separators: String) -> [String] {
        text.split(whereSeparator: { separators.contains($0) })
            .map { $0.trimmingWhitespace() }
            .filter { !$0.isEmpty }
    }

    /// The values in their first order, without case-insensitive repeats.
    private static func unique(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0.lowercased()).inserted }
    }
}

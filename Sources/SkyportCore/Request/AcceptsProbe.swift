import Foundation

/// The 2022 IVOA ExecutionPlanner note's probe: `GET /accepts?tasktype=uri://jupyter-notebook&taskinfo.x=…` and
/// `POST /accepts {tasktype, taskinfo, resources{mincores, maxcores, minmemory, maxmemory, minduration, maxduration}}`.
/// Memory may be written `8G`, `16GiB`, `512M` (whole GiB, rounded up; a bare number is GiB); durations `5m`,
/// `60s`, `1h` or ISO-8601. An unknown `tasktype` gives an executable with no kind and a note, and nothing else is
/// read (the note says the answer is then NO).
public enum AcceptsProbe {
    /// Reads the query parameters of `GET /accepts`: `tasktype`, `taskinfo.*`, and the resource terms either bare
    /// (`mincores=8`) or as `resources.mincores=8`.
    public static func parse(query: [String: String]) throws -> NormalisedRequest {
        var document: [String: JSONValue] = [:]
        var taskinfo: [String: JSONValue] = [:]
        var resources: [String: JSONValue] = [:]
        var unknown: [String] = []
        for (key, value) in query {
            if key == "tasktype" {
                document["tasktype"] = .string(value)
            } else if key.hasPrefix("taskinfo.") {
                taskinfo[String(key.dropFirst("taskinfo.".count))] = .string(value)
            } else if resourceKeys.contains(key) {
                resources[key] = .string(value)
            } else if key.hasPrefix("resources."), resourceKeys.contains(String(key.dropFirst("resources.".count))) {
                resources[String(key.dropFirst("resources.".count))] = .string(value)
            } else {
                unknown.append(key)
            }
        }
        if !taskinfo.isEmpty { document["taskinfo"] = .object(taskinfo) }
        if !resources.isEmpty { document["resources"] = .object(resources) }
        var request = try parse(document: .object(document))
        request.notes += unknown.sorted().map { RequestNote(.warning, $0, "not a parameter of /accepts; ignored") }
        return request
    }

    /// Reads the body of `POST /accepts`.
    public static func parse(document: JSONValue) throws -> NormalisedRequest {
        guard let doc = document.objectValue else {
            throw ValidationFailure([FieldError("request", "must be an object with tasktype, taskinfo and resources")])
        }
        var r = DocumentReader()
        guard let tasktype = r.string(doc["tasktype"], "tasktype") else {
            if doc["tasktype"] == nil || doc["tasktype"]?.isNull == true { r.error("tasktype", "is required, such as uri://jupyter-notebook") }
            try r.check()
            return NormalisedRequest(executable: ExecutableRequest())
        }
        guard let kind = ExecutableKind(tasktype), kind.isKnown else {
            // The answer is NO, but what the probe says is still held to its types.
            var ignored = NormalisedRequest(executable: ExecutableRequest())
            if let resources = r.object(doc["resources"], "resources") { read(resources, into: &ignored, &r) }
            try r.checkTypes()
            r.note(.warning, "tasktype", "task type '\(tasktype)' is not understood; nothing else was used")
            return NormalisedRequest(executable: ExecutableRequest(), notes: r.notes)
        }
        var request = NormalisedRequest(executable: taskinfo(doc["taskinfo"], kind, &r))
        if let resources = r.object(doc["resources"], "resources") {
            read(resources, into: &request, &r)
        }
        // Well-typed values the broker cannot honour (no cores, a minimum above the maximum) are answered NO.
        try r.checkTypes()
        request.notes = r.notes
        request.refusals = r.refusals.isEmpty ? nil : r.refusals
        return request
    }

    // MARK: Taskinfo

    private static let locationKeys = ["notebook-url", "notebook_url", "notebookurl", "location", "url"]
    private static let repositoryKeys = ["repository-url", "repository_url", "repository", "repo"]
    private static let imageKeys = ["image", "image-name", "imagename", "image_name"]

    private static func taskinfo(_ value: JSONValue?, _ kind: ExecutableKind, _ r: inout DocumentReader) -> ExecutableRequest {
        var exec = ExecutableRequest(kind: kind)
        guard let info = r.object(value, "taskinfo") else { return exec }
        for key in info.keys.sorted() {
            guard let value = info[key], !value.isNull else { continue }
            let field = "taskinfo.\(key)"
            let text: String?
            if case .array(let items) = value {
                text = items.compactMap(DocumentReader.text(of:)).joined(separator: ",")
            } else {
                text = r.scalarText(value, field)
            }
            guard let text else { continue }
            switch key.lowercased() {
            case let k where locationKeys.contains(k): exec.location = text
            case let k where repositoryKeys.contains(k): exec.repository = Codemeta.cleanRepository(text)
            case let k where imageKeys.contains(k): exec.images.append(text)
            case "ref", "branch": exec.ref = text
            case "path", "filepath": exec.path = text
            default: exec.parameters[key] = text
            }
        }
        return exec
    }

    // MARK: Resources

    private static let resourceKeys: Set<String> = [
        "mincores", "maxcores", "minmemory", "maxmemory", "minduration", "maxduration", "minstartup", "maxstartup",
    ]

    private static func read(_ resources: [String: JSONValue], into request: inout NormalisedRequest, _ r: inout DocumentReader) {
        let minCores = r.bound(resources["mincores"], "resources.mincores")
        let maxCores = r.bound(resources["maxcores"], "resources.maxcores")
        request.cores = r.checkedRange(min: minCores, max: maxCores, "resources", minName: "mincores", maxName: "maxcores")
        let minMemory = memory(resources["minmemory"], "resources.minmemory", &r)
        let maxMemory = memory(resources["maxmemory"], "resources.maxmemory", &r)
        request.memory = r.checkedRange(min: minMemory, max: maxMemory, "resources", minName: "minmemory", maxName: "maxmemory")
        let minDuration = duration(resources["minduration"], "resources.minduration", &r)
        let maxDuration = duration(resources["maxduration"], "resources.maxduration", &r)
        if let minDuration, let maxDuration, minDuration > maxDuration {
            r.refuse("resources.minduration", "minduration \(minDuration) is longer than maxduration \(maxDuration)")
        }
        request.duration = minDuration ?? maxDuration
        if minDuration == nil, maxDuration != nil {
            r.note(.info, "resources.maxduration", "no minduration given; maxduration is the duration asked for")
        }
        for key in ["minstartup", "maxstartup"] where resources[key] != nil {
            if duration(resources[key], "resources.\(key)", &r) != nil {
                r.note(.info, "resources.\(key)", "start-up bounds are recorded but not used for matching")
            }
        }
        for key in resources.keys.sorted() where !resourceKeys.contains(key) {
            r.note(.warning, "resources.\(key)", "not a resource term of the ExecutionPlanner note; ignored")
        }
    }

    private static func memory(_ value: JSONValue?, _ field: String, _ r: inout DocumentReader) -> Int? {
        guard let value, !value.isNull else { return nil }
        if case .number = value { return r.bound(value, field) }
        // An empty size is no size (as an empty duration is no duration).
        if value.stringValue?.trimmingSpaces().isEmpty == true {
            r.error(field, "is empty: give a memory size such as 8G, 16GiB or 512M, or leave it out")
            return nil
        }
        guard let text = r.string(value, field) else { return nil }
        guard let written = value.stringValue, SpecPattern.matches(written, SpecPattern.memorySize),
              let gib = Quantities.gibibytes(text, strict: true) else {
            r.error(field, "'\(text)' is not a memory size such as 8G, 16GiB or 512M")
            return nil
        }
        return r.checkedBound(gib, field)
    }

    private static func duration(_ value: JSONValue?, _ field: String, _ r: inout DocumentReader) -> ISODuration? {
        guard let text = r.scalarText(value, field) else { return nil }
        guard let written = value?.stringValue, SpecPattern.matches(written, SpecPattern.plannerDuration),
              let parsed = Quantities.duration(text) else {
            r.error(field, "'\(text)' is not a duration such as 5m, 60s, 1h or PT1H")
            return nil
        }
        return parsed
    }
}

import Foundation

/// Reads an IVOA ExecutionBroker v1.0 request document, in any of its three schema generations, into a
/// `NormalisedRequest`:
/// - discriminators `kind` (2025-11 on) or `type` (2025-06), with the kind URIs of all three generations;
/// - `compute` or the older `computer`; the request's name at the top level or in `meta.name`;
/// - volumes under `compute.volumes` or at the top level;
/// - Skyport's extensions: `software` (an inline codemeta.json object) and `basket` (ESAP basket items), beside or
///   instead of `executable` and `data`.
///
/// Every problem is reported at once, as a `ValidationFailure` whose errors name dotted field paths
/// (`compute.cores.min`, `data[2].rucio.scope`).
public enum ExecutionRequestParser {
    /// Parses one request document. `now` decides whether a requested start window has already passed; `egress`
    /// judges the URLs the broker will call or clone (`callback`, the repository), as far as they can be judged
    /// before they are resolved.
    /// With `strict`, what Skyport cannot honour is thrown too (as a `ValidationFailure`), for callers that cannot
    /// answer `result: NO` (the command line); the API answers it with an offer set that says why.
    public static func parse(_ document: JSONValue, now: Date, egress: EgressPolicy = EgressPolicy(), strict: Bool = false) throws -> NormalisedRequest {
        guard let doc = document.objectValue else {
            throw ValidationFailure([FieldError("request", "must be an object (an ExecutionBroker request document)")])
        }
        var r = DocumentReader()
        var request = NormalisedRequest(executable: ExecutableRequest())
        let meta = r.object(doc["meta"], "meta")
        let (name, metaName) = (r.string(doc["name"], "name"), r.string(meta?["name"], "meta.name"))  // both type-checked
        request.name = name ?? metaName

        let software = doc["software"].flatMap { $0.isNull ? nil : $0 }
        if let executable = r.object(doc["executable"], "executable") {
            request.executable = readExecutable(executable, "executable", kindRequired: software == nil, &r)
        } else if doc["executable"]?.isNull ?? true, software == nil {
            missingExecutable(doc, &r)
        }

        let computeKey = doc["compute"] == nil && doc["computer"] != nil ? "computer" : "compute"
        if computeKey == "compute", doc["computer"] != nil {
            r.note(.warning, "computer", "both compute and computer given; computer (the 2025-06 name) is ignored")
        }
        let compute = r.object(doc[computeKey], computeKey)
        if let compute {
            request.cores = r.range(compute["cores"], "\(computeKey).cores")
            request.memory = r.range(compute["memory"], "\(computeKey).memory")
        }
        request.storage = storage(doc["storage"], &r)
        request.data = readData(doc["data"], "data", &r)
        let dataCount = request.data.count
        checkVolumes(doc, compute?["volumes"], "\(computeKey).volumes", &r)
        (request.duration, request.start) = schedule(doc["schedule"], now: now, &r)

        if let software {
            merge(software: software, into: &request, &r)
        }
        let needs = readNeeds(doc, compute: compute, computeField: computeKey, request: request, &r)
        request.needs = needs.isEmpty ? nil : needs
        let components = RequestComponents.read(doc, computeKey: computeKey, &r)
        request.components = components.isEmpty ? nil : components
        if let basket = doc["basket"], !basket.isNull {
            request.data += Basket.read(basket, "basket", &r)
        }
        if let given = doc["callback"], !given.isNull {
            // Checked as written (not trimmed): the spec's pattern is the rule.
            if let callback = given.stringValue {
                if let problem = FacilityDocument.httpURLProblem(callback) {
                    r.error("callback", callback.isEmpty ? "is empty: give an http or https URL, or leave it out" : problem)
                } else if let refusal = egress.check(url: callback) {
                    r.error("callback", "the broker does not call this URL: \(refusal)")
                } else {
                    request.callback = callback
                }
            } else {
                r.error("callback", "must be a string")
            }
        }
        // Data the facility (or the staging postBuild) downloads: an internal address is nobody's data.
        for (i, item) in request.data.enumerated() {
            guard let url = item.url, let scheme = URLComponents(string: url)?.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  let refusal = egress.check(url: url) else { continue }
            r.refuse(i < dataCount ? "data[\(i)]" : "basket[\(i - dataCount)]", "no data is fetched from this URL: \(refusal)")
        }
        if let repository = request.executable.repository, let refusal = egress.check(repository: repository) {
            let given = doc["executable"]?.objectValue?["repository"] != nil
            r.refuse(given ? "executable.repository" : "software.codeRepository", "the broker does not clone this repository: \(refusal)")
        }
        checkRequired(request.executable, "executable", &r)
        noteUnknownKeys(doc, &r)
        if request.duration == nil {
            r.note(.info, "schedule.requested.duration", "no duration requested; the broker's default applies")
        }
        if request.cores == nil, request.memory == nil {
            r.note(.info, computeKey, "no cores or memory requested; the facility's defaults apply")
        }
        if strict { try r.check() } else { try r.checkTypes() }
        request.notes = r.notes
        request.refusals = r.refusals.isEmpty ? nil : r.refusals
        return request
    }

    // MARK: Executable

    private static func missingExecutable(_ doc: [String: JSONValue], _ r: inout DocumentReader) {
        r.refuse("executable", "executable is required: describe what to run, or give a codemeta 'software' object")
        if let kind = doc["kind"]?.stringValue, kind.hasSuffix("-update") {
            r.refuse("kind", "'\(kind)' is a session update, not an execution request: send it to /sessions/{uuid}")
        }
    }

    /// Fills what the request left open from its `software` codemeta object: kind, repository, ref, path, and
    /// cores, memory and storage minimums.
    private static func merge(software: JSONValue, into request: inout NormalisedRequest, _ r: inout DocumentReader) {
        guard let object = r.object(software, "software") else { return }
        let codemeta = Codemeta.read(object, kindHint: request.executable.kind)
        r.notes += codemeta.notes.prefixed("software")
        request.software = bounded(codemeta.software, "software", &r)
        var exec = request.executable
        exec.kind = exec.kind ?? codemeta.executable.kind
        if exec.repository == nil, let repository = codemeta.executable.repository {
            if let problem = RepositoryURL.problem(repository) {
                r.refuse("software.codeRepository", problem)
            } else {
                exec.repository = repository
            }
        }
        exec.ref = exec.ref ?? codemeta.executable.ref
        exec.path = exec.path ?? codemeta.executable.path
        request.executable = exec
        if request.cores == nil, let cores = codemeta.cores {
            request.cores = cores
            r.note(.info, "software.processorRequirements", "cores.min \(cores.min ?? 0) taken from the software")
        }
        if request.memory == nil, let memory = codemeta.memory {
            request.memory = memory
            r.note(.info, "software.memoryRequirements", "memory.min \(memory.min ?? 0) GiB taken from the software")
        }
        if request.storage == nil, let storage = codemeta.storage {
            request.storage = storage
            r.note(.info, "software.storageRequirements", "storage.min \(storage.min ?? 0) GiB taken from the software")
        }
    }

    /// The codemeta texts the broker keeps, bounded as other fields are (`FieldLimits`). codemeta is another party's
    /// document, read only for what it says about running the software: a longer text is cut to its bound and a
    /// longer list to its first items, each with a note, rather than refusing the request.
    private static func bounded(_ software: SoftwareDescription, _ field: String, _ r: inout DocumentReader) -> SoftwareDescription {
        var sw = software
        func cut(_ value: String?, _ key: String, _ limit: Int) -> String? {
            guard let value, value.unicodeScalars.count > limit else { return value }
            r.note(.warning, "\(field).\(key)", "longer than \(limit) characters: cut to that")
            return String(String.UnicodeScalarView(value.unicodeScalars.prefix(limit)))
        }
        func cut(_ items: [String], _ key: String) -> [String] {
            if items.count > FieldLimits.listItems { r.note(.warning, "\(field).\(key)", "\(items.count) items: the first \(FieldLimits.listItems) are kept") }
            return items.prefix(FieldLimits.listItems).enumerated().map { i, item in cut(item, "\(key)[\(i)]", FieldLimits.name) ?? item }
        }
        sw.name = cut(sw.name, "name", FieldLimits.name)
        sw.version = cut(sw.version, "version", FieldLimits.name)
        sw.memoryRequirements = cut(sw.memoryRequirements, "memoryRequirements", FieldLimits.text)
        sw.processorRequirements = cut(sw.processorRequirements, "processorRequirements", FieldLimits.text)
        sw.storageRequirements = cut(sw.storageRequirements, "storageRequirements", FieldLimits.text)
        sw.keywords = cut(sw.keywords, "keywords")
        sw.languages = cut(sw.languages, "programmingLanguage")
        sw.operatingSystems = cut(sw.operatingSystems, "operatingSystem")
        sw.runtimePlatforms = cut(sw.runtimePlatforms, "runtimePlatform")
        sw.requirements = sw.requirements.map { cut($0, "softwareRequirements") }
        // A repository is a URL: cut, it would name another one; too long is not one the broker clones.
        if let repository = sw.repository, repository.unicodeScalars.count > FieldLimits.text {
            r.refuse("\(field).codeRepository", "longer than \(FieldLimits.text) characters: not a repository the broker clones")
            sw.repository = nil
        }
        return sw
    }

    // MARK: Storage and volumes

    /// All storage items' sizes added up; the maximum only when every item states one.
    private static func storage(_ value: JSONValue?, _ r: inout DocumentReader) -> ResourceRange? {
        guard let items = r.array(value, "storage") else { return nil }
        var minimum: Int?
        var maximum: Int? = 0
        for (i, item) in items.enumerated() {
            guard let o = r.object(item, "storage[\(i)]") else { continue }
            let size = r.range(o["size"], "storage[\(i)].size")
            if let min = size?.min { minimum = (minimum ?? 0) + min }
            if let max = size?.max { maximum = maximum.map { $0 + max } } else { maximum = nil }
        }
        guard minimum != nil || maximum != nil, !items.isEmpty else { return nil }
        return ResourceRange(min: minimum, max: maximum)
    }

    /// Volumes name data and storage items (and compute's volumes may name top-level volumes); a name that matches
    /// nothing is flagged, not rejected.
    private static func checkVolumes(
        _ doc: [String: JSONValue], _ computeVolumes: JSONValue?, _ computeField: String, _ r: inout DocumentReader
    ) {
        let resources = names(doc["data"]).union(names(doc["storage"]))
        let volumes = names(doc["volumes"])
        func check(_ list: JSONValue?, _ field: String, _ r: inout DocumentReader) {
            for (i, volume) in (list?.arrayValue ?? []).enumerated() {
                if let name = volume.stringValue {
                    if !volumes.contains(name) {
                        r.note(.warning, "\(field)[\(i)]", "names '\(name)', which is no volume in 'volumes'")
                    }
                    continue
                }
                var referenced = volume["resource"]?.stringValue.map { [$0] } ?? []
                referenced += volume["resources"]?.arrayValue?.compactMap(\.stringValue) ?? []
                for name in referenced where !resources.contains(name) {
                    r.note(.warning, "\(field)[\(i)]", "names '\(name)', which is no data or storage item")
                }
            }
        }
        check(computeVolumes, computeField, &r)
        check(doc["volumes"], "volumes", &r)
    }

    /// The `meta.name` (or older top-level `name`) of each item in a list.
    private static func names(_ list: JSONValue?) -> Set<String> {
        Set((list?.arrayValue ?? []).compactMap { $0["meta"]?["name"]?.stringValue ?? $0["name"]?.stringValue })
    }

    // MARK: Schedule

    private static func schedule(_ value: JSONValue?, now: Date, _ r: inout DocumentReader) -> (ISODuration?, TimeWindow?) {
        guard let schedule = r.object(value, "schedule"),
            let requested = r.object(schedule["requested"], "schedule.requested")
        else { return (nil, nil) }
        var duration: ISODuration?
        let durationField = "schedule.requested.duration"
        if let text = r.string(requested["duration"], durationField) {
            if let written = requested["duration"]?.stringValue, SpecPattern.matches(written, SpecPattern.isoDuration), let parsed = ISODuration(text) {
                if parsed.seconds > 0 { duration = parsed } else { r.refuse(durationField, "must be longer than zero") }
            } else {
                r.error(durationField, "'\(text)' is not an ISO-8601 duration such as PT2H")
            }
        }
        var start: TimeWindow?
        let startField = "schedule.requested.start"
        if let text = r.string(requested["start"], startField) {
            guard let written = requested["start"]?.stringValue, SpecPattern.matches(written, SpecPattern.isoInterval) else {
                r.error(startField, "'\(text)' is not an ISO-8601 interval such as 2026-06-01T10:00:00Z/PT2H (start/end, start/duration or duration/end; dates with seconds and a zone)")
                return (duration, nil)
            }
            switch ISOInterval.parse(text) {
            case .success(let window) where window.latest < now:
                r.refuse(startField, "the start window ended at \(Timestamp.format(window.latest)), before now (\(Timestamp.format(now)))")
            case .success(let window):
                start = window
            case .failure(let problem):
                // Written as the spec says, but no window (a date that does not exist, an end before the start):
                // a request the broker cannot honour.
                r.refuse(startField, problem.message)
            }
        }
        return (duration, start)
    }

    // MARK: Unknown keys

    private static let knownKeys: Set<String> = [
        "kind", "type", "meta", "name", "description", "uuid", "phase", "executable", "compute", "computer",
        "storage", "data", "volumes", "schedule", "costs", "metrics", "options", "software", "basket", "callback",
        "runtimes", "environments", "locality", "rank",
    ]

    private static func noteUnknownKeys(_ doc: [String: JSONValue], _ r: inout DocumentReader) {
        for key in ["uuid", "phase", "options"] where doc[key] != nil {
            r.note(.info, key, "not used in a request: the broker assigns identifiers and phases, and offers no options")
        }
        for key in doc.keys.sorted() where !knownKeys.contains(key) {
            r.note(.warning, key, "not part of an ExecutionBroker request; ignored")
        }
    }
}

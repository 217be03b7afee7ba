import Foundation

/// What a request needs beyond cores, memory, time and data: GPUs and the CPU architecture (Skyport's fields of a
/// compute resource, and a container image's platform), runtimes and named environments (Skyport's top-level
/// `runtimes` and `environments`, and what the codemeta `software` says), where the data must be (`locality`) and how
/// facilities are ranked (`rank`).
extension ExecutionRequestParser {
    static func readNeeds(
        _ doc: [String: JSONValue], compute: [String: JSONValue]?, computeField: String, request: NormalisedRequest, _ r: inout DocumentReader
    ) -> RequestNeeds {
        var needs = RequestNeeds()
        if let compute {
            if let gpus = compute["gpus"], !gpus.isNull { readGPUs(gpus, "\(computeField).gpus", &needs, &r) }
            if let text = r.string(compute["architecture"], "\(computeField).architecture") {
                needs.architecture = architecture(text, "\(computeField).architecture", &r)
            }
        }
        if let text = request.executable.parameters["image.architecture"] {
            let platform = architecture(text, "executable.image.platform.architecture", &r)
            if let given = needs.architecture, let platform, given != platform {
                r.refuse("executable.image.platform.architecture", "the image is \(platform.rawValue), but \(computeField).architecture asks for \(given.rawValue)")
            }
            needs.architecture = needs.architecture ?? platform
        }
        var runtimes: [RuntimeNeed] = []
        for (i, item) in (r.array(doc["runtimes"], "runtimes") ?? []).enumerated() {
            let field = "runtimes[\(i)]"
            if let text = item.stringValue {
                guard SpecPattern.matches(text, SpecPattern.runtimeText),
                      let need = RuntimeNeed.read(text, field: field) ?? plainRuntime(text, field: field) else {
                    r.error(field, "'\(text)' is not a runtime with an optional version range, such as 'python >=3.10'")
                    continue
                }
                runtimes.append(need)
                continue
            }
            guard let o = r.object(item, field) else { continue }
            guard let name = r.string(o["name"], "\(field).name"), let written = o["name"]?.stringValue,
                  SpecPattern.matches(written, SpecPattern.runtimeName) else {
                r.error("\(field).name", "is required: a runtime such as python, r or julia (letters, digits, - _ . +; its version goes in version)")
                continue
            }
            var range = VersionRange.any
            if let text = r.string(o["version"], "\(field).version") {
                guard let written = o["version"]?.stringValue, SpecPattern.matches(written, SpecPattern.versionRange),
                      let parsed = VersionRange(text) else {
                    r.error("\(field).version", "'\(text)' is not a version range such as '>=3.10,<3.13', '3.11' or '3.*'")
                    continue
                }
                range = parsed
            }
            runtimes.append(RuntimeNeed(name: RuntimeNeed.canonicalName(name), range: range, field: field))
        }
        for (i, item) in (r.array(doc["environments"], "environments") ?? []).enumerated() {
            guard let text = item.stringValue, text.unicodeScalars.count <= 128, SpecPattern.matches(text, SpecPattern.vocabularyName) else {
                r.error("environments[\(i)]", "\(item.stringValue.map { "'\($0.prefix(200))'" } ?? "this") is not an environment name (1 to 128 characters, no spaces or control characters)")
                continue
            }
            if !needs.environments.contains(where: { $0.caseInsensitiveCompare(text) == .orderedSame }) {
                needs.environments.append(text)
            }
        }
        if let software = request.software {
            let (fromCodemeta, arch) = codemetaNeeds(software, &r)
            if request.executable.kind?.isContainer == true {
                // A container brings its own runtime: what the software needs is inside the image.
                if !fromCodemeta.isEmpty { r.note(.info, "software", "the runtimes the software names come with the container image; not matched") }
            } else {
                runtimes += fromCodemeta
            }
            if needs.architecture == nil, let arch {
                needs.architecture = arch
                r.note(.info, "software.processorRequirements", "architecture \(arch.rawValue) taken from the software")
            }
        }
        if runtimes.count > FieldLimits.listItems { r.error("runtimes", "at most \(FieldLimits.listItems) runtimes") }
        needs.runtimes = unique(runtimes.prefix(FieldLimits.listItems).map(\.label))
        if let text = r.string(doc["locality"], "locality") {
            if let locality = Locality(rawValue: text.lowercased()) { needs.locality = locality }
            else { r.error("locality", "'\(text)' is neither required nor preferred") }
        }
        if let text = r.string(doc["rank"], "rank") {
            if let rank = RankOrder(rawValue: text.lowercased()) { needs.rank = rank }
            else { r.error("rank", "'\(text)' is none of \(RankOrder.allCases.map(\.rawValue).joined(separator: ", "))") }
        }
        return needs
    }

    /// `compute.gpus`: a count (`2`), a range (`{"min": 1, "max": 2}`), or `{"count": ..., "models": [...], "memory": ...}`
    /// with the least memory per GPU in GiB (a number, or `{"min": n}`).
    private static func readGPUs(_ value: JSONValue, _ field: String, _ needs: inout RequestNeeds, _ r: inout DocumentReader) {
        if case .number(let n) = value {
            // Zero GPUs asks for none.
            if n != 0 { needs.gpus = r.bound(value, field).map { ResourceRange(min: $0, max: $0) } }
            return
        }
        guard let o = r.object(value, field) else { return }
        if o["count"] != nil {
            if case .number? = o["count"] {
                needs.gpus = r.bound(o["count"], "\(field).count").map { ResourceRange(min: $0, max: $0) }
            } else {
                needs.gpus = r.range(o["count"], "\(field).count")
            }
        } else if o["min"] != nil || o["max"] != nil {
            needs.gpus = r.checkedRange(min: r.bound(o["min"], "\(field).min"), max: r.bound(o["max"], "\(field).max"), field)
        }
        needs.gpuModels = r.strings(o["models"] ?? o["model"], "\(field).models").filter { !$0.isEmpty }.prefix(FieldLimits.listItems).map { $0 }
        if let memory = o["memory"], !memory.isNull {
            needs.gpuMemory = memory.objectValue != nil ? r.bound(memory["min"], "\(field).memory.min") : r.bound(memory, "\(field).memory")
        }
        if needs.gpus == nil, !needs.gpuModels.isEmpty || needs.gpuMemory != nil { needs.gpus = ResourceRange(min: 1) }
        for key in o.keys.sorted() where !["count", "min", "max", "models", "model", "memory"].contains(key) {
            r.note(.warning, "\(field).\(key)", "not a GPU field Skyport knows (count, models, memory); ignored")
        }
    }

    private static func architecture(_ text: String, _ field: String, _ r: inout DocumentReader) -> Architecture? {
        guard let a = Architecture(alias: text) else {
            // Well written (an image may name any platform), but no facility here runs it: answered NO.
            r.refuse(field, "'\(text)' is no CPU architecture Skyport knows: use one of \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")) (or amd64, arm64)")
            return nil
        }
        return a
    }

    /// A runtime of any name (not only the known ones), as `name` or `name range`.
    private static func plainRuntime(_ text: String, field: String) -> RuntimeNeed? {
        let trimmed = text.trimmingSpaces()
        let name = trimmed.prefix { $0.isLetter || $0 == "-" || $0 == "_" }
        guard !name.isEmpty, let range = VersionRange(String(trimmed.dropFirst(name.count))) else { return nil }
        return RuntimeNeed(name: RuntimeNeed.canonicalName(String(name)), range: range, field: field)
    }

    /// What codemeta's free text says a facility must provide: `runtimePlatform`, `programmingLanguage` and
    /// `softwareRequirements` entries that name a runtime (`Python 3`, `python3.*`, `Python>=3.6`), and the
    /// architecture `processorRequirements` names. Anything else (packages, `Docker`, compiled languages) is noted,
    /// never a filter.
    static func codemetaNeeds(_ sw: SoftwareDescription, _ r: inout DocumentReader) -> ([RuntimeNeed], Architecture?) {
        var needs: [RuntimeNeed] = []
        var notMatched: [String] = []
        let terms: [(String, [String])] = [
            ("runtimePlatform", sw.runtimePlatforms), ("programmingLanguage", sw.languages), ("softwareRequirements", sw.requirements ?? []),
        ]
        for (term, items) in terms {
            for (i, text) in items.prefix(FieldLimits.listItems).enumerated() {
                if let need = RuntimeNeed.read(text, field: "software.\(term)[\(i)]") {
                    needs.append(need)
                } else if term != "softwareRequirements" {
                    notMatched.append(text)
                }
            }
        }
        if !notMatched.isEmpty {
            r.note(.info, "software", "not a runtime a facility provides, so not matched: \(notMatched.prefix(8).joined(separator: ", "))")
        }
        let packages = (sw.requirements ?? []).count - needs.filter { $0.field.hasPrefix("software.softwareRequirements") }.count
        if packages > 0 {
            r.note(.info, "software.softwareRequirements", "\(packages) package requirement(s) are installed with the software, not matched against facilities")
        }
        let arch = sw.processorRequirements.flatMap { text in
            text.split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != "_" && $0 != "-" }).lazy.compactMap { Architecture(alias: String($0)) }.first
        }
        return (needs, arch)
    }

    private static func unique(_ labels: [String]) -> [String] {
        var seen = Set<String>()
        return labels.filter { seen.insert($0).inserted }
    }
}

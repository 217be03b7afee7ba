import Foundation

extension FacilityDocument {
    /// Checks `hardware` and `software`: architectures by the alias table, runtimes by name with readable versions,
    /// names without control characters. A list given empty says "none" (a facility without GPUs lists no models).
    func vocabulary(_ errors: inout FieldErrors) -> (FacilityHardware?, FacilitySoftware?) {
        func names(_ list: [String]?, _ field: String) -> [String]? {
            guard let list else { return nil }
            if list.count > Bounds.maxVocabulary { errors.add(field, "at most \(Bounds.maxVocabulary) entries") }
            var out: [String] = []
            for (i, raw) in list.prefix(Bounds.maxVocabulary).enumerated() {
                let name = raw
                if name.unicodeScalars.count > 128 || !SpecPattern.matches(name, SpecPattern.vocabularyName) {
                    errors.add("\(field)[\(i)]", "must be 1 to 128 characters without spaces or control characters")
                } else if !out.contains(where: { $0.caseInsensitiveCompare(name) == .orderedSame }) {
                    out.append(name)
                }
            }
            return out
        }
        var hw: FacilityHardware?
        if let h = hardware {
            var out = FacilityHardware()
            if let list = h.architectures {
                var archs: [Architecture] = []
                for (i, text) in list.enumerated() {
                    if let a = Architecture(alias: text) {
                        if !archs.contains(a) { archs.append(a) }
                    } else {
                        errors.add("hardware.architectures[\(i)]", "'\(text)' is no CPU architecture Skyport knows: use one of \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")) (or amd64, arm64)")
                    }
                }
                out.architectures = archs
            }
            out.gpuModels = names(h.gpuModels, "hardware.gpu.models")
            out.gpuMemory = Self.checkCount(h.gpuMemory, "hardware.gpu.memory", max: 1 << 20, &errors)
            hw = out
        }
        var sw: FacilitySoftware?
        if let s = software {
            var out = FacilitySoftware()
            if let list = s.runtimes {
                var runtimes: [FacilityRuntime] = []
                if list.count > Bounds.maxVocabulary { errors.add("software.runtimes", "at most \(Bounds.maxVocabulary) runtimes") }
                for (i, entry) in list.prefix(Bounds.maxVocabulary).enumerated() {
                    guard let name = entry.name, SpecPattern.matches(name, SpecPattern.runtimeName) else {
                        errors.add("software.runtimes[\(i)].name", "is required: a runtime name such as python, r or julia (letters, digits, - _ . +)")
                        continue
                    }
                    let versions = entry.versions ?? []
                    for (j, v) in versions.enumerated() where !SpecPattern.matches(v, SpecPattern.version) || Version(v) == nil {
                        errors.add("software.runtimes[\(i)].versions[\(j)]", "'\(v)' is not a version such as 3.11")
                    }
                    let runtime = FacilityRuntime(name: name, versions: versions.filter { SpecPattern.matches($0, SpecPattern.version) && Version($0) != nil })
                    if let k = runtimes.firstIndex(where: { $0.name == runtime.name }) {
                        runtimes[k].versions += runtime.versions.filter { !runtimes[k].versions.contains($0) }
                    } else {
                        runtimes.append(runtime)
                    }
                }
                out.runtimes = runtimes
            }
            out.environments = names(s.environments, "software.environments")
            if let registries = names(s.registries, "software.registries") {
                for (i, r) in registries.enumerated() where r.contains("://") || r.contains(":") && !r.split(separator: "/")[0].contains(":") {
                    errors.add("software.registries[\(i)]", "'\(r)' is not a registry such as ghcr.io or ghcr.io/ska-telescope (no scheme, no tag)")
                }
                out.registries = registries.map { $0.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "/")) }
            }
            sw = out
        }
        return (hw, sw)
    }
}

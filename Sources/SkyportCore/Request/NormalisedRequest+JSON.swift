import Foundation

// A request as its synthesized `Codable` form reads through `CanonicalJSON.encoder()` (keys sorted, nil optionals
// left out, empty lists and dictionaries kept), written by hand: every offer set the API serves holds one.
// A field added to these types must be written here too (ExecutionViewsJSONTests compares both forms, every field set).

extension NormalisedRequest: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("callback", callback)
            w.field("components", components)
            w.field("cores", cores)
            w.field("data", data)
            w.field("duration", duration?.description)
            w.field("executable", executable)
            w.field("memory", memory)
            w.field("name", name)
            w.field("needs", needs)
            w.field("notes", notes)
            w.field("refusals", refusals)
            w.field("software", software)
            w.field("start", start)
            w.field("storage", storage)
        }
    }
}

extension ExecutableRequest: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("images", images)
            w.field("kind", kind?.rawValue)
            w.field("location", location)
            w.field("parameters", parameters)
            w.field("path", path)
            w.field("ref", ref)
            w.field("repository", repository)
            w.field("unsupportedKind", unsupportedKind)
        }
    }
}

extension ResourceRange: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("max", max)
            w.field("min", min)
        }
    }
}

extension TimeWindow: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("earliest", earliest)
            w.field("latest", latest)
        }
    }
}

extension DataItem: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("checksum", checksum)
            w.field("did", did)
            w.field("kind", kind.rawValue)
            w.field("name", name)
            w.field("rses", rses)
            w.field("size", size)
            w.field("source", source)
            w.field("url", url)
        }
    }
}

extension SoftwareDescription: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("keywords", keywords)
            w.field("languages", languages)
            w.field("memoryRequirements", memoryRequirements)
            w.field("name", name)
            w.field("operatingSystems", operatingSystems)
            w.field("processorRequirements", processorRequirements)
            w.field("repository", repository)
            w.field("requirements", requirements)
            w.field("runtimePlatforms", runtimePlatforms)
            w.field("storageRequirements", storageRequirements)
            w.field("version", version)
        }
    }
}

extension RequestNote: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("field", field)
            w.field("level", level.rawValue)
            w.field("message", message)
        }
    }
}

extension BrokerMessage: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("kind", kind)
            w.field("level", level.rawValue)
            w.field("message", message)
            w.field("time", time)
        }
    }
}

extension RequestNeeds: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("architecture", architecture?.rawValue)
            w.field("environments", environments)
            w.field("gpuMemory", gpuMemory)
            w.field("gpuModels", gpuModels)
            w.field("gpus", gpus)
            w.field("locality", locality.rawValue)
            w.field("rank", rank?.rawValue)
            w.field("runtimes", runtimes)
        }
    }
}

extension RequestComponents: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("compute", compute)
            w.field("costs", costs)
            w.field("data", data)
            w.field("executable", executable)
            w.field("metrics", metrics)
            w.field("storage", storage)
        }
    }
}

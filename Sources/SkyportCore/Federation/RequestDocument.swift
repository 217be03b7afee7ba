import Foundation

/// Writes a `NormalisedRequest` back out as an ExecutionBroker v1.0 request document (the 2026-06 kind URIs), so
/// that Skyport can ask another broker the question it was asked. What another Skyport reads from it is the same
/// request (`ExecutionRequestParser.parse(RequestDocument.write(r))` gives `r` back, less the parser's notes);
/// a plain ExecutionBroker reads the standard fields and ignores Skyport's few extensions:
/// - a URL data item's `size` and `checksum` (beside its `location`);
/// - a Rucio item is written as an SKAO data resource, which carries its size, checksum and replicas;
/// - the user's `callback` is not passed on: the remote broker's session is followed by this broker.
public enum RequestDocument {
    static let kinds = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds"

    public static func write(_ r: NormalisedRequest) -> JSONValue {
        var doc: [String: JSONValue] = ["kind": .string("\(kinds)/request/execution-request.yaml")]
        if let name = r.name { doc["meta"] = .object(["name": .string(name)]) }
        // The components as the user wrote them, when the request was an ExecutionBroker document: the other broker
        // reads what this one read, volumes, costs and metrics included.
        let c = r.components
        // Skyport's own kinds (tap-query, uws-job, binder-notebook) are written as this broker read them, defaults
        // resolved, so that another Skyport reads them without notes of its own.
        let specKind = [ExecutableKind.dockerContainer, .jupyterNotebook, .singularityContainer].contains { $0 == r.executable.kind }
        if specKind, var written = c?.executable?.objectValue {
            // What codemeta filled in (the kind, a repository, ref or path) is passed on too.
            let read = executable(r.executable)
            for key in ["kind", "repository", "ref", "path"] where written[key] == nil { written[key] = read[key] }
            doc["executable"] = .object(written)
        } else {
            doc["executable"] = .object(executable(r.executable))
        }
        var compute = c?.compute?.objectValue ?? ["kind": .string("\(kinds)/compute/simple-compute-resource.yaml")]
        if let cores = r.cores { compute["cores"] = range(cores) }
        if let memory = r.memory { compute["memory"] = range(memory) }
        // A compute resource as written already says its GPUs and architecture; one rebuilt says what was read.
        if let needs = r.needs, c?.compute == nil {
            if let gpus = needs.gpus {
                var g = range(gpus).objectValue ?? [:]
                if !needs.gpuModels.isEmpty { g["models"] = .array(needs.gpuModels.map(JSONValue.string)) }
                if let memory = needs.gpuMemory { g["memory"] = .number(Double(memory)) }
                compute["gpus"] = .object(g)
            }
            if let architecture = needs.architecture { compute["architecture"] = .string(architecture.rawValue) }
        }
        if compute.keys.contains(where: { $0 != "kind" }) { doc["compute"] = .object(compute) }
        if let storage = c?.storage, !storage.isEmpty {
            doc["storage"] = .array(storage)
        } else if let storage = r.storage {
            doc["storage"] = .array([.object([
                "kind": .string("\(kinds)/storage/simple-storage-resource.yaml"), "size": range(storage),
            ])])
        }
        var requested: [String: JSONValue] = [:]
        if let duration = r.duration { requested["duration"] = .string(duration.description) }
        if let start = r.start {
            requested["start"] = .string("\(Timestamp.format(start.earliest))/\(Timestamp.format(start.latest))")
        }
        if !requested.isEmpty { doc["schedule"] = .object(["requested": .object(requested)]) }
        // The request's own data items as written, then what the basket (or codemeta) added, rebuilt.
        let written = c?.data ?? []
        let data = written + r.data.dropFirst(written.count).map(dataItem)
        if !data.isEmpty { doc["data"] = .array(data) }
        if let costs = c?.costs, !costs.isEmpty { doc["costs"] = .array(costs) }
        if let metrics = c?.metrics, !metrics.isEmpty { doc["metrics"] = .array(metrics) }
        if let needs = r.needs {
            if !needs.runtimes.isEmpty { doc["runtimes"] = .array(needs.runtimes.map(JSONValue.string)) }
            if !needs.environments.isEmpty { doc["environments"] = .array(needs.environments.map(JSONValue.string)) }
            if needs.locality != .preferred { doc["locality"] = .string(needs.locality.rawValue) }
            if let rank = needs.rank { doc["rank"] = .string(rank.rawValue) }
        }
        return .object(doc)
    }

    static func range(_ r: ResourceRange) -> JSONValue {
        var o: [String: JSONValue] = [:]
        if let min = r.min { o["min"] = .number(Double(min)) }
        if let max = r.max { o["max"] = .number(Double(max)) }
        return .object(o)
    }

    // MARK: Executable

    public static func executable(_ e: ExecutableRequest) -> [String: JSONValue] {
        var o: [String: JSONValue] = [:]
        if let kind = e.kind { o["kind"] = .string(kind.uri) }
        if let repository = e.repository { o["repository"] = .string(repository) }
        if let ref = e.ref { o["ref"] = .string(ref) }
        if let path = e.path { o["path"] = .string(path) }
        var parameters = e.parameters
        switch e.kind {
        case .dockerContainer?:
            docker(e, &o)
            parameters = [:]
        case .singularityContainer?:
            if let image = e.images.first { o["location"] = .string(image) }
        case .tapQuery?:
            if let location = e.location { o["location"] = .string(location) }
            for (key, field) in [("QUERY", "query"), ("LANG", "lang"), ("FORMAT", "format")] {
                if let value = parameters.removeValue(forKey: key) { o[field] = .string(value) }
            }
            if let maxrec = parameters["MAXREC"].flatMap(Int.init) {
                parameters["MAXREC"] = nil
                o["maxrec"] = .number(Double(maxrec))
            }
        default:
            if let location = e.location { o["location"] = .string(location) }
        }
        if !parameters.isEmpty { o["parameters"] = .object(parameters.mapValues(JSONValue.string)) }
        return o
    }

    /// A Docker container's standard fields, from the dotted parameters the parser keeps them in.
    static func docker(_ e: ExecutableRequest, _ o: inout [String: JSONValue]) {
        let p = e.parameters
        var image: [String: JSONValue] = ["locations": .array(e.images.map(JSONValue.string))]
        if let digest = p["image.digest"] { image["digest"] = .string(digest) }
        var platform: [String: JSONValue] = [:]
        if let architecture = p["image.architecture"] { platform["architecture"] = .string(architecture) }
        if let os = p["image.os"] { platform["os"] = .string(os) }
        if !platform.isEmpty { image["platform"] = .object(platform) }
        o["image"] = .object(image)
        if let command = p["container.command"] { o["command"] = list(command) ?? .array([.string(command)]) }
        if let entrypoint = p["container.entrypoint"] { o["entrypoint"] = list(entrypoint) ?? .string(entrypoint) }
        if p["container.privileged"] == "true" { o["privileged"] = .bool(true) }
        let environment = p.filter { !$0.key.contains(".") }
        if !environment.isEmpty { o["environment"] = .object(environment.mapValues(JSONValue.string)) }
        if let ports = p["container.ports"] {
            o["network"] = .object(["ports": .array(ports.split(separator: ",").compactMap { spec in
                let parts = spec.split(separator: "/")
                guard let number = parts.first.flatMap({ Int($0) }) else { return nil }
                return .object([
                    "internal": .object(["port": .number(Double(number))]),
                    "protocol": .string(parts.count > 1 ? String(parts[1]) : "TCP"),
                ])
            })])
        }
    }

    /// A JSON list of strings kept as text (`["sleep","10"]`), back as a list.
    static func list(_ text: String) -> JSONValue? {
        guard text.hasPrefix("["), let items = (try? JSONValue.parse(text))?.arrayValue else { return nil }
        let strings = items.compactMap(\.stringValue)
        return strings.count == items.count ? .array(items) : nil
    }

    // MARK: Data

    public static func dataItem(_ d: DataItem) -> JSONValue {
        var o: [String: JSONValue] = [:]
        if let name = d.name { o["meta"] = .object(["name": .string(name)]) }
        switch d.kind {
        case .rucio:
            let (namespace, object) = d.did.map(splitDID) ?? ("", d.name ?? "")
            var skao: [String: JSONValue] = [
                "namespace": .string(namespace), "objectname": .string(object),
                "replicas": .array(d.rses.map { .object(["rsename": .string($0)]) }),
            ]
            if let size = d.size { skao["datasize"] = .number(Double(size)) }
            if let checksum = d.checksum, let colon = checksum.firstIndex(of: ":") {
                skao["checksum"] = .object([
                    "type": .string(String(checksum[..<colon])), "value": .string(String(checksum[checksum.index(after: colon)...])),
                ])
            }
            o["kind"] = .string("\(kinds)/data/skao-data-resource.yaml")
            o["skao"] = .object(skao)
            if let url = d.url { o["ivoa"] = .object(["datalink": .object(["access_url": .string(url)])]) }
        case .ivoa:
            var datalink: [String: JSONValue] = [:]
            if let url = d.url { datalink["access_url"] = .string(url) }
            if let size = d.size { datalink["content_length"] = .number(Double(size)) }
            o["kind"] = .string("\(kinds)/data/ivoa-data-resource.yaml")
            o["ivoa"] = .object(["ivoid": .string(d.name ?? ""), "datalink": .object(datalink)])
            o["meta"] = nil
        case .url, .s3:
            o["kind"] = .string("\(kinds)/data/simple-data-resource.yaml")
            if let url = d.url { o["location"] = .string(url) }
            if let size = d.size { o["size"] = .number(Double(size)) }
            if let checksum = d.checksum { o["checksum"] = .string(checksum) }
        case .other:
            o["kind"] = .string("urn:skyport:kinds:data:other")
            if let url = d.url { o["location"] = .string(url) }
        }
        return .object(o)
    }

    static func splitDID(_ did: String) -> (String, String) {
        guard let colon = did.firstIndex(of: ":") else { return ("", did) }
        return (String(did[..<colon]), String(did[did.index(after: colon)...]))
    }
}

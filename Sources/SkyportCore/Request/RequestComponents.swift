import Foundation

/// The request's ExecutionBroker components as the spec shapes them, kept whole so that every offer carries them back
/// (the matcher and the executors read `NormalisedRequest`'s own fields; this is what the user wrote). Normalised
/// only where the older schema generations differ: `type` is `kind`, kind URIs are the 2026-06 ones, a top-level
/// `name` is `meta.name`, `compute.volumes` entries that name a top-level volume hold that volume. What the broker
/// owns (a component's `meta.uuid`, `url`, `created`, `modified`, `messages`, its `phase` and `schedule`) is dropped
/// with a note: each offer says its own.
public struct RequestComponents: Sendable, Hashable, Codable {
    public var executable: JSONValue?
    public var compute: JSONValue?
    public var storage: [JSONValue]
    public var data: [JSONValue]
    public var costs: [JSONValue]
    public var metrics: [JSONValue]

    public init(
        executable: JSONValue? = nil, compute: JSONValue? = nil, storage: [JSONValue] = [], data: [JSONValue] = [], costs: [JSONValue] = [],
        metrics: [JSONValue] = []
    ) {
        self.executable = executable
        self.compute = compute
        self.storage = storage
        self.data = data
        self.costs = costs
        self.metrics = metrics
    }

    public var isEmpty: Bool { self == RequestComponents() }

    /// Reads the components of a request document (`computeKey` is `compute` or the 2025-06 `computer`).
    static func read(_ doc: [String: JSONValue], computeKey: String, _ r: inout DocumentReader) -> RequestComponents {
        var dropped: Set<String> = []
        var out = RequestComponents()
        out.executable = doc["executable"].flatMap { component($0, category: "executable", &dropped) }
        let volumes = Dictionary(
            (doc["volumes"]?.arrayValue ?? []).compactMap { v in (v["meta"]?["name"]?.stringValue ?? v["name"]?.stringValue).map { ($0, v) } },
            uniquingKeysWith: { a, _ in a })
        var c = doc[computeKey].flatMap { component($0, category: "compute", &dropped)?.objectValue }
        if let list = c?["volumes"]?.arrayValue {
            c?["volumes"] = .array(list.flatMap { v in mounts(v.stringValue.flatMap { volumes[$0] } ?? v, &dropped) })
        } else if let list = doc["volumes"]?.arrayValue, !list.isEmpty {
            // The 2025-06 documents put volumes beside the container; the 2026-06 schema mounts them on the compute resource.
            var compute = c ?? ["kind": .string(SpecKinds.computeKind)]
            compute["volumes"] = .array(list.flatMap { mounts($0, &dropped) })
            c = compute
        }
        out.compute = c.map(JSONValue.object)
        out.storage = (doc["storage"]?.arrayValue ?? []).compactMap { component($0, category: "storage", &dropped) }
        out.data = (doc["data"]?.arrayValue ?? []).compactMap { component($0, category: "data", &dropped) }
        out.costs = (doc["costs"]?.arrayValue ?? []).compactMap { component($0, category: "costs", &dropped, owned: false) }
        out.metrics = (doc["metrics"]?.arrayValue ?? []).compactMap { component($0, category: "metrics", &dropped, owned: false) }
        for (key, items) in [("costs", out.costs), ("metrics", out.metrics)] where !items.isEmpty {
            r.note(.warning, key, "\(items.count) \(key == "costs" ? "cost" : "metric") item(s) carried into each offer as given; Skyport does not evaluate \(key)")
        }
        for field in dropped.sorted() {
            r.note(.info, field, "assigned by the broker: the value in the request is replaced in each offer")
        }
        return out
    }

    /// A volume as the 2026-06 mounts: one `resource` each (an older `resources` list gives one mount per resource);
    /// the older `cardinality` has no place in it and is dropped.
    private static func mounts(_ value: JSONValue, _ dropped: inout Set<String>) -> [JSONValue] {
        guard var o = component(value, category: "volume", &dropped)?.objectValue else { return [] }
        if o.removeValue(forKey: "cardinality") != nil { dropped.insert("volumes.cardinality") }
        guard let resources = o.removeValue(forKey: "resources")?.arrayValue, !resources.isEmpty else { return [.object(o)] }
        return resources.map { r in
            var m = o
            m["resource"] = r
            return .object(m)
        }
    }

    /// One component, normalised; nil for something that is not an object. Cost and metric items are no components
    /// (`owned` false): they keep their own `description` and have no meta, phase or schedule.
    private static func component(_ value: JSONValue, category: String, _ dropped: inout Set<String>, owned: Bool = true) -> JSONValue? {
        guard var o = value.objectValue else { return nil }
        if o["kind"] == nil, let type = o.removeValue(forKey: "type") { o["kind"] = type }
        if let kind = o["kind"]?.stringValue { o["kind"] = .string(SpecKinds.uri(kind, category: category)) }
        // The older generations put a component's name and description beside its fields; now they are its meta's.
        for key in ["name", "description"] where owned {
            guard let value = o.removeValue(forKey: key), value.stringValue != nil else { continue }
            var meta = o["meta"]?.objectValue ?? [:]
            if meta[key] == nil { meta[key] = value }
            o["meta"] = .object(meta)
        }
        if owned {
            if var meta = o["meta"]?.objectValue {
                for key in ["uuid", "url", "created", "modified", "messages"] where meta.removeValue(forKey: key) != nil {
                    dropped.insert("\(category).meta.\(key)")
                }
                o["meta"] = meta.isEmpty ? nil : .object(meta)
            }
            for key in ["phase", "schedule"] where o.removeValue(forKey: key) != nil { dropped.insert("\(category).\(key)") }
        }
        if category == "executable", let command = o["command"]?.arrayValue {
            // Numbers in a command line (example-013 writes `sleep 10` as ["sleep", 10]) are its words too.
            o["command"] = .array(command.map { $0.stringValue.map(JSONValue.string) ?? DocumentReader.text(of: $0).map(JSONValue.string) ?? $0 })
        }
        return .object(o)
    }
}

/// The kind URIs of the 2026-06 ExecutionBroker schema, by the names every generation's URIs reduce to.
public enum SpecKinds {
    public static let base = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds"

    static let known: [String: String] = [
        "docker-container": "executable/docker-container.yaml", "jupyter-notebook": "executable/jupyter-notebook.yaml",
        "singularity-container": "executable/singularity-container.yaml", "simple-compute-resource": "compute/simple-compute-resource.yaml",
        "simple-volume-mount": "volume/simple-volume-mount.yaml", "simple-storage-resource": "storage/simple-storage-resource.yaml",
        "simple-data-resource": "data/simple-data-resource.yaml", "s3-data-resource": "data/S3-data-resource.yaml",
        "rucio-data-resource": "data/rucio-data-resource.yaml", "ivoa-data-resource": "data/ivoa-data-resource.yaml",
        "skao-data-resource": "data/skao-data-resource.yaml", "abstract-cost-item": "costs/abstract-cost-item.yaml",
        "simple-minmax-float-cost": "costs/simple-minmax-float-cost.yaml", "abstract-metric-item": "metrics/abstract-metric-item.yaml",
        "simple-minmax-float-metric": "metrics/simple-minmax-float-metric.yaml",
    ]

    /// The current URI of a kind written in any generation (or an alias); a kind the spec does not know is kept as
    /// written, except Skyport's own executable kinds, which get their `urn:skyport:` URI.
    public static func uri(_ kind: String, category: String) -> String {
        if let path = known[KindName.of(kind)] { return "\(base)/\(path)" }
        if category == "executable", let k = ExecutableKind(kind), k.isKnown { return k.uri }
        return kind
    }

    public static let computeKind = "\(base)/compute/simple-compute-resource.yaml"
}

/// What a facility runs and what a request asks to run. Known kinds have a short alias
/// (`jupyter-notebook`); the ExecutionBroker's kind URIs from all three schema generations map onto them:
/// `.../EB/schema/types/executable/docker-container-1.0`, `.../EB/schema/v1.0/types/executable/jupyter-notebook-1.0`
/// and `.../Calycopis-openapi/schema/v1.0/kinds/executable/docker-container.yaml`. Any other absolute URI is
/// kept as it is and compared exactly.
public struct ExecutableKind: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The alias for a known kind, or the URI as given for any other.
    public let rawValue: String

    public static let jupyterNotebook = ExecutableKind(known: "jupyter-notebook")
    public static let binderNotebook = ExecutableKind(known: "binder-notebook")
    public static let dockerContainer = ExecutableKind(known: "docker-container")
    public static let singularityContainer = ExecutableKind(known: "singularity-container")
    public static let tapQuery = ExecutableKind(known: "tap-query")
    public static let uwsJob = ExecutableKind(known: "uws-job")

    /// The short aliases Skyport knows.
    public static let knownAliases: [String] = [
        "jupyter-notebook", "binder-notebook", "docker-container", "singularity-container", "tap-query", "uws-job",
    ]

    private init(known: String) { rawValue = known }

    /// Parses an alias or a kind URI; nil for a bare word that is not a known alias.
    public init?(_ text: String) {
        let t = text.trimmingSpaces()
        let lower = t.lowercased()
        if Self.knownAliases.contains(lower) { rawValue = lower; return }
        guard t.contains(":"), !t.contains(" ") else { return nil }
        // The last path or URN segment, less a file suffix and a version: docker-container-1.0, jupyter-notebook.yaml.
        var tail = Substring(lower)
        if let cut = tail.lastIndex(where: { $0 == "/" || $0 == ":" }) { tail = tail[tail.index(after: cut)...] }
        for suffix in [".yaml", ".yml", ".json"] where tail.hasSuffix(suffix) { tail = tail.dropLast(suffix.count) }
        if let dash = tail.lastIndex(of: "-"), tail[tail.index(after: dash)...].allSatisfy({ $0.isNumber || $0 == "." }),
           tail.index(after: dash) != tail.endIndex {
            tail = tail[..<dash]
        }
        // The 2022 ExecutionPlanner note spells some kinds differently.
        let aliases = ["esap-notebook": "jupyter-notebook", "singularity": "singularity-container", "docker": "docker-container"]
        let name = aliases[String(tail)] ?? String(tail)
        rawValue = Self.knownAliases.contains(name) ? name : t
    }

    public var isKnown: Bool { Self.knownAliases.contains(rawValue) }

    /// Whether it runs a container image (whose registry a facility may restrict).
    public var isContainer: Bool { self == .dockerContainer || self == .singularityContainer }

    /// The kind URI of the current ExecutionBroker schema (2026-06), for the documents Skyport writes.
    public var uri: String {
        switch rawValue {
        case "jupyter-notebook", "docker-container", "singularity-container":
            return "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/executable/\(rawValue).yaml"
        case let alias where isKnown:
            return "urn:skyport:kinds:executable:\(alias)"
        default:
            return rawValue
        }
    }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        guard let kind = ExecutableKind(text) else {
            throw DecodingError.dataCorruptedError(
                in: c, debugDescription: "unknown executable kind '\(text)': use one of \(Self.knownAliases.joined(separator: ", ")) or a kind URI")
        }
        self = kind
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}

import Foundation

/// The executable part of a request. Parameters whose key holds a dot are Skyport's own
/// (`image.digest`, `image.architecture`, `image.os`, `container.command`, `container.entrypoint`,
/// `container.privileged`, `container.ports`); plain keys are the user's (environment variables of a container,
/// `QUERY`/`LANG`/`FORMAT`/`MAXREC` of a TAP query, UWS job parameters).
extension ExecutionRequestParser {
    static func readExecutable(
        _ o: [String: JSONValue], _ field: String, kindRequired: Bool, _ r: inout DocumentReader
    ) -> ExecutableRequest {
        var exec = ExecutableRequest()
        (exec.kind, exec.unsupportedKind) = kind(o, field, required: kindRequired, &r)
        exec.repository = r.string(o["repository"], "\(field).repository").map(Codemeta.cleanRepository)
        if let repository = exec.repository, let problem = RepositoryURL.problem(repository) {
            r.refuse("\(field).repository", problem)
        }
        exec.ref = r.string(o["ref"], "\(field).ref")
        exec.path = r.string(o["path"], "\(field).path")
        exec.parameters = parameters(o["parameters"], "\(field).parameters", &r)
        let location = url(o["location"], "\(field).location", &r)
        switch exec.kind {
        case .dockerContainer?:
            docker(o, field, &exec, &r)
        case .singularityContainer?:
            exec.images = location.map { [$0] } ?? []
        case .tapQuery?:
            exec.location = location
            tap(o, field, &exec, &r)
        default:
            exec.location = location
        }
        return exec
    }

    /// Each kind's required fields, checked once codemeta has had its say.
    static func checkRequired(_ exec: ExecutableRequest, _ field: String, _ r: inout DocumentReader) {
        if r.hasError("\(field).location") || r.hasError("\(field).image.locations") { return }
        switch exec.kind {
        case .jupyterNotebook? where exec.location == nil && exec.repository == nil:
            r.refuse("\(field).location", "is required for a Jupyter notebook: the notebook's URL (or give a repository)")
        case .binderNotebook? where exec.repository == nil:
            r.refuse("\(field).repository", "is required for a Binder notebook: the git repository to build")
        case .dockerContainer? where exec.images.isEmpty:
            r.refuse("\(field).image.locations", "is required for a Docker container: at least one image reference")
        case .singularityContainer? where exec.images.isEmpty:
            r.refuse("\(field).location", "is required for a Singularity container: the image's URL")
        case .tapQuery? where exec.parameters["QUERY"] == nil:
            r.refuse("\(field).query", "is required for a TAP query: the query text")
        default:
            break
        }
    }

    /// `kind` (or the 2025-06 `type`). An unknown URI is kept with a warning (only facilities listing it exactly match);
    /// an unknown bare word is an unsupported kind, which no facility runs.
    private static func kind(
        _ o: [String: JSONValue], _ field: String, required: Bool, _ r: inout DocumentReader
    ) -> (ExecutableKind?, unsupported: String?) {
        let kindText = r.string(o["kind"], "\(field).kind")
        let typeText = r.string(o["type"], "\(field).type")
        if let kindText, let typeText, kindText != typeText {
            r.note(.warning, "\(field).type", "both kind and type given; kind is used")
        }
        guard let text = kindText ?? typeText else {
            if required {
                r.refuse("\(field).kind", "is required: the kind of executable, such as jupyter-notebook or its kind URI")
            }
            return (nil, nil)
        }
        let kindField = kindText == nil ? "\(field).type" : "\(field).kind"
        guard let kind = ExecutableKind(text) else {
            let known = ExecutableKind.knownAliases.joined(separator: ", ")
            r.note(.warning, kindField, "'\(text)' is neither a known kind (\(known)) nor a kind URI: no facility runs it")
            return (nil, String(text.prefix(200)))
        }
        if !kind.isKnown {
            r.note(.warning, kindField, "unknown executable kind '\(text)': kept as given; only facilities listing it exactly match")
        }
        return (kind, nil)
    }

    /// A generic `parameters` object: string values, numbers and booleans written as text.
    private static func parameters(_ value: JSONValue?, _ field: String, _ r: inout DocumentReader) -> [String: String] {
        guard let o = r.object(value, field) else { return [:] }
        var out: [String: String] = [:]
        for key in o.keys.sorted() {
            guard let v = o[key], !v.isNull else { continue }
            guard !key.trimmingSpaces().isEmpty else {
                r.refuse(field, "parameter names must not be empty")
                continue
            }
            if let text = r.scalarText(v, "\(field).\(key)") { out[key] = text }
        }
        return out
    }

    /// An absolute URL (`https://…`, `s3://…`, `davs://…`).
    static func url(_ value: JSONValue?, _ field: String, _ r: inout DocumentReader) -> String? {
        guard let text = r.string(value, field) else { return nil }
        guard let scheme = URL(string: text)?.scheme, !scheme.isEmpty, text.contains("://") else {
            r.refuse(field, "'\(text)' is not an absolute URL such as https://example.org/file")
            return nil
        }
        return text
    }

    // MARK: Kinds

    private static func docker(
        _ o: [String: JSONValue], _ field: String, _ exec: inout ExecutableRequest, _ r: inout DocumentReader
    ) {
        if let image = r.object(o["image"], "\(field).image") {
            exec.images = r.strings(image["locations"], "\(field).image.locations")
            if let digest = r.string(image["digest"], "\(field).image.digest") {
                if digest.contains(":") {
                    exec.parameters["image.digest"] = digest
                } else {
                    r.refuse("\(field).image.digest", "'\(digest)' is not a digest such as sha256:5d22…")
                }
            }
            if let platform = r.object(image["platform"], "\(field).image.platform") {
                exec.parameters["image.architecture"] = r.string(platform["architecture"], "\(field).image.platform.architecture")
                exec.parameters["image.os"] = r.string(platform["os"], "\(field).image.platform.os")
            }
        }
        if o["command"].map({ !$0.isNull }) ?? false {
            exec.parameters["container.command"] = jsonList(r.strings(o["command"], "\(field).command"))
        }
        switch o["entrypoint"] {
        case .array?: exec.parameters["container.entrypoint"] = jsonList(r.strings(o["entrypoint"], "\(field).entrypoint"))
        default: exec.parameters["container.entrypoint"] = r.string(o["entrypoint"], "\(field).entrypoint")
        }
        if let environment = r.object(o["environment"], "\(field).environment") {
            for name in environment.keys.sorted() {
                guard let value = environment[name], !value.isNull else { continue }
                exec.parameters[name] = r.scalarText(value, "\(field).environment.\(name)")
            }
        }
        switch o["privileged"] {
        case .bool(true)?:
            exec.parameters["container.privileged"] = "true"
            r.refuse("\(field).privileged", "privileged containers are run by no facility of this broker")
        case .bool?, .null?, nil: break
        default: r.error("\(field).privileged", "must be true or false")
        }
        if let network = r.object(o["network"], "\(field).network") {
            let ports = (r.array(network["ports"], "\(field).network.ports") ?? []).enumerated().compactMap {
                port($1, "\(field).network.ports[\($0)]", &r)
            }
            if !ports.isEmpty { exec.parameters["container.ports"] = ports.joined(separator: ",") }
        }
    }

    /// One published port as `3000/HTTP`.
    private static func port(_ value: JSONValue, _ field: String, _ r: inout DocumentReader) -> String? {
        guard let o = r.object(value, field) else { return nil }
        let internalPort = r.object(o["internal"], "\(field).internal")
        guard let number = r.int(internalPort?["port"], "\(field).internal.port") else {
            if internalPort?["port"] == nil { r.refuse("\(field).internal.port", "is required") }
            return nil
        }
        guard (1...65_535).contains(number) else {
            r.refuse("\(field).internal.port", "must be from 1 to 65535 (got \(number))")
            return nil
        }
        let proto = r.string(o["protocol"], "\(field).protocol")?.uppercased() ?? "TCP"
        if !["TCP", "UDP", "HTTP", "HTTPS"].contains(proto) {
            r.note(.warning, "\(field).protocol", "'\(proto)' is none of TCP, UDP, HTTP, HTTPS; kept as given")
        }
        return "\(number)/\(proto)"
    }

    /// Skyport's `tap-query` kind: `query`, `lang` (ADQL when absent), `format`, `maxrec`.
    private static func tap(
        _ o: [String: JSONValue], _ field: String, _ exec: inout ExecutableRequest, _ r: inout DocumentReader
    ) {
        if let query = r.string(o["query"], "\(field).query") { exec.parameters["QUERY"] = query }
        if let lang = r.string(o["lang"], "\(field).lang") {
            exec.parameters["LANG"] = lang
        } else if exec.parameters["LANG"] == nil {
            exec.parameters["LANG"] = "ADQL"
            r.note(.info, "\(field).lang", "no query language given; ADQL assumed")
        }
        if let format = r.string(o["format"], "\(field).format") { exec.parameters["FORMAT"] = format }
        if let maxrec = r.int(o["maxrec"], "\(field).maxrec") {
            if maxrec < 0 {
                r.error("\(field).maxrec", "must not be negative (got \(maxrec))")
            } else {
                exec.parameters["MAXREC"] = String(maxrec)
            }
        }
    }

    private static func jsonList(_ items: [String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return (try? encoder.encode(items)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }
}

import Foundation

/// Why a registry record gives no facility.
public struct SkipReason: Error, Sendable, Hashable, CustomStringConvertible {
    /// Machine-readable reasons.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// The record is deleted (the harvest disables a facility it made from it).
        case deleted
        /// No TAP, UWS, ExecutionBroker or BinderHub capability: nothing Skyport could run work on.
        case noExecutableCapability = "no-executable-capability"
        /// An executable capability, but no interface with a usable http(s) accessURL.
        case noUsableAccessURL = "no-usable-access-url"
        /// The ivoid is not acceptable as a facility identifier.
        case invalidIdentifier = "invalid-identifier"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
}

/// The rules that turn VOResource records into facilities, and merge a harvested facility into a stored one.
///
/// Capability rules (standardIDs compared lower-cased, `#fragment` ignored, so `ivo://ivoa.net/std/TAP#async-1.0` is TAP):
/// - `ivo://ivoa.net/std/tap` → a `uws` endpoint at the TAP base accessURL + `/async`, accepting `tap-query`.
/// - `ivo://ivoa.net/std/uws` → a `uws` endpoint at the accessURL as is, accepting `uws-job`.
/// - ExecutionBroker: no IVOA standardID exists, so any standardID whose text contains `executionbroker` or
///   `execution-broker` (e.g. `ivo://esap.escape.eu/std/ExecutionBroker#offers-1.0`) → an `executionbroker` endpoint.
/// - BinderHub/JupyterHub: a standardID containing `binderhub` or `jupyterhub`, or a `WebBrowser`/`WebService`
///   interface whose accessURL host starts with a `binder`, `mybinder`, `binderhub` or `jupyterhub` label, or whose
///   first path segment is `binder`, `binderhub` or `jupyterhub` → a `binderhub` endpoint accepting `binder-notebook`
///   and `jupyter-notebook`.
/// Among the interfaces of a capability, anonymous ones (no `securityMethod`) with `role="std"` are preferred.
public enum RegistryMapping {
    /// The facility a resource describes, or why it describes none. Its provenance gives every field it sets
    /// (name, description, status, endpoints, accepts, limits.duration) to the registry, `record` (the OAI-PMH
    /// source and header; by default the resource's own identifier), and the VOSI capabilities URL the record names.
    public static func facility(
        from resource: RegistryResource, owner: String, now: Date, record: FacilityProvenance.RegistryRecord? = nil
    ) -> Result<Facility, SkipReason> {
        let id = resource.ivoid
        if resource.status == .deleted { return .failure(SkipReason(.deleted, "the registry marks \(id) deleted")) }
        if let problem = id.problem { return .failure(SkipReason(.invalidIdentifier, "'\(id)' \(problem)")) }

        let mapped: Capabilities
        switch capabilities(resource.capabilities) {
        case .failure(let reason): return .failure(reason)
        case .success(let m): mapped = m
        }
        let bounds = FacilityDocument.Bounds.self
        let title = resource.title.trimmingWhitespace()
        let stamp = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let record = record ?? FacilityProvenance.RegistryRecord(source: nil, identifier: id.rawValue, datestamp: resource.updated)
        var provenance = FacilityProvenance(
            registry: record, lastHarvested: stamp, capabilities: capabilitiesURL(in: resource.capabilities))
        for field in harvestedFields { provenance[field] = FacilityProvenance.Origin(.registry, by: record.source, at: stamp) }
        return .success(Facility(
            id: id, name: String((title.isEmpty ? id.rawValue : title).prefix(bounds.maxNameLength)),
            description: String(resource.description.trimmingWhitespace().prefix(bounds.maxDescriptionLength)),
            status: resource.status == .inactive ? .disabled : .active,
            endpoints: mapped.endpoints, accepts: mapped.accepts,
            limits: FacilityLimits(duration: mapped.duration), owner: owner, created: stamp, modified: stamp, provenance: provenance))
    }

    /// The fields a registry record sets.
    public static let harvestedFields: [FacilityProvenance.Field] = [.name, .description, .status, .endpoints, .accepts, .limitsDuration]

    /// The fields a harvest never changes on a stored facility, whoever set them: the registry never states capacity,
    /// data or the core and memory limits, and a facility's status is its operator's (a deleted record disables it).
    public static let keptFields: [FacilityProvenance.Field] = [.status, .capacity, .data, .limitsCores, .limitsMemory]

    /// The fields a VOSI capabilities refresh sets.
    public static let refreshedFields: [FacilityProvenance.Field] = [.endpoints, .accepts, .limitsDuration]

    /// A harvested facility merged into the stored one: name, description, endpoints, accepts and the duration limit
    /// come from the registry, unless the operator set them (their provenance says so); what an operator set
    /// (status, capacity, data.rses, the core and memory limits the registry never states) and the owner and creation
    /// time are kept. The provenance records the harvest; the last refresh is kept.
    public static func merge(harvested: Facility, existing: Facility?) -> Facility {
        guard let existing else { return harvested }
        var merged = harvested
        merged.id = existing.id
        merged.owner = existing.owner
        merged.created = existing.created
        // Who may use it is the operator's alone to say: no registry record carries it.
        merged.access = existing.access
        var provenance = harvested.provenance ?? FacilityProvenance()
        let before = existing.provenance ?? FacilityProvenance()
        provenance.refreshed = before.refreshed
        provenance.capabilities = provenance.capabilities ?? before.capabilities
        for field in FacilityProvenance.Field.allCases where keptFields.contains(field) || before.isOperators(field) {
            field.copy(from: existing, to: &merged)
            provenance[field] = before[field]
        }
        merged.provenance = provenance
        return merged
    }

    /// The stored facility refreshed from the VOSI capabilities document at `url`: endpoints, accepts and the duration
    /// limit are mapped by the same rules as a registry record's capabilities, and taken unless the operator set them;
    /// the provenance records the refresh. Fails, changing nothing, when the document describes nothing executable.
    public static func refresh(
        _ existing: Facility, capabilities list: [RegistryCapability], from url: String, now: Date
    ) -> Result<Facility, SkipReason> {
        let mapped: Capabilities
        switch capabilities(list) {
        case .failure(let reason): return .failure(reason)
        case .success(let m): mapped = m
        }
        let stamp = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        var source = existing
        source.endpoints = mapped.endpoints
        source.accepts = mapped.accepts
        source.limits.duration = mapped.duration
        var refreshed = existing
        var provenance = existing.provenance ?? FacilityProvenance()
        for field in refreshedFields where !provenance.isOperators(field) {
            field.copy(from: source, to: &refreshed)
            provenance[field] = FacilityProvenance.Origin(.vosi, by: url, at: stamp)
        }
        provenance.refreshed = stamp
        refreshed.provenance = provenance
        refreshed.modified = stamp
        return .success(refreshed)
    }

    /// Where a facility's VOSI capabilities are: the URL its registry record names, else beside its first `uws`
    /// job list (`http://h/tap/async` → `http://h/tap/capabilities`, as DaCHS serves them); nil when it has neither.
    public static func capabilitiesURL(of facility: Facility) -> String? {
        if let named = facility.provenance?.capabilities { return named }
        guard let endpoint = facility.endpoints.first(where: { $0.kind == .uws }),
              var url = URL(string: endpoint.url), url.scheme != nil, url.host != nil else { return nil }
        if !url.path.isEmpty, url.path != "/" { url = url.deletingLastPathComponent() }
        return url.appending(path: "capabilities").absoluteString
    }

    /// The accessURL of a VOSI capabilities capability (`ivo://ivoa.net/std/VOSI#capabilities`), if one is given.
    static func capabilitiesURL(in list: [RegistryCapability]) -> String? {
        for capability in list where capability.standardBase == "ivo://ivoa.net/std/vosi"
            && capability.standardID?.lowercased().hasSuffix("#capabilities") == true {
            for interface in capability.interfaces {
                for access in interface.accessURLs {
                    let url = access.url.trimmingWhitespace()
                    if FacilityDocument.httpURLProblem(url) == nil { return url }
                }
            }
        }
        return nil
    }

    /// What a list of capabilities gives a facility.
    struct Capabilities {
        var endpoints: [Endpoint]
        var accepts: [ExecutableKind]
        var duration: ISODuration?
    }

    /// Endpoints, accepts and the duration limit from a list of capabilities (a registry record's, or a VOSI
    /// capabilities document's), or why they give nothing Skyport could run work on.
    static func capabilities(_ list: [RegistryCapability]) -> Result<Capabilities, SkipReason> {
        var endpoints: [Endpoint] = []
        var accepts: [ExecutableKind] = []
        var duration: ISODuration?
        var unusable: [String] = []
        for capability in list {
            guard let kind = executableKind(of: capability) else { continue }
            guard let url = accessURL(of: capability, kind: kind) else {
                unusable.append(capability.standardID ?? kind.endpoint.rawValue)
                continue
            }
            let endpoint = Endpoint(kind: kind.endpoint, url: url)
            if !endpoints.contains(endpoint) { endpoints.append(endpoint) }
            for k in kind.accepts where !accepts.contains(k) { accepts.append(k) }
            if kind == .tap || kind == .uws, duration == nil { duration = jobDuration(capability.executionDuration) }
        }
        if endpoints.isEmpty {
            if !unusable.isEmpty {
                return .failure(SkipReason(.noUsableAccessURL, "\(unusable.joined(separator: ", ")) has no interface with an http(s) accessURL"))
            }
            let standards = list.compactMap(\.standardID)
            let seen = standards.isEmpty ? "no standard capabilities" : "only \(standards.joined(separator: ", "))"
            return .failure(SkipReason(.noExecutableCapability, "no TAP, UWS, ExecutionBroker or BinderHub capability (\(seen))"))
        }
        return .success(Capabilities(
            endpoints: Array(endpoints.prefix(FacilityDocument.Bounds.maxEndpoints)), accepts: accepts, duration: duration))
    }

    /// What a capability lets Skyport run.
    enum CapabilityKind: Equatable {
        case tap, uws, executionBroker, binderHub

        var endpoint: EndpointKind {
            switch self {
            case .tap, .uws: .uws
            case .executionBroker: .executionbroker
            case .binderHub: .binderhub
            }
        }

        var accepts: [ExecutableKind] {
            switch self {
            case .tap: [.tapQuery]
            case .uws: [.uwsJob]
            // Another broker decides for itself what it runs: Skyport asks it about every request.
            case .executionBroker: ExecutableKind.knownAliases.compactMap(ExecutableKind.init)
            case .binderHub: [.binderNotebook, .jupyterNotebook]
            }
        }
    }

    static func executableKind(of capability: RegistryCapability) -> CapabilityKind? {
        let id = capability.standardBase ?? ""
        if id == "ivo://ivoa.net/std/tap" { return .tap }
        if id == "ivo://ivoa.net/std/uws" { return .uws }
        let full = capability.standardID?.lowercased() ?? ""
        if full.contains("executionbroker") || full.contains("execution-broker") { return .executionBroker }
        if full.contains("binderhub") || full.contains("jupyterhub") { return .binderHub }
        if capability.standardID == nil || !full.hasPrefix("ivo://ivoa.net/"),
           capability.interfaces.contains(where: { i in i.accessURLs.contains { looksLikeBinderHub($0.url) } && isWebInterface(i) }) {
            return .binderHub
        }
        return nil
    }

    static func isWebInterface(_ i: RegistryInterface) -> Bool {
        i.type.map { $0.local == "WebBrowser" || $0.local == "WebService" } ?? true
    }

    /// A BinderHub or JupyterHub by its URL: `https://mybinder.org/`, `https://binder.example.org/`, `https://example.org/binderhub/`.
    static func looksLikeBinderHub(_ text: String) -> Bool {
        guard let url = URL(string: text.trimmingWhitespace()), let host = url.host?.lowercased() else { return false }
        let names = ["binder", "mybinder", "binderhub", "jupyterhub"]
        if let label = host.split(separator: ".").first, names.contains(String(label)) { return true }
        let first = url.path.split(separator: "/").first.map { $0.lowercased() }
        return first.map { ["binder", "binderhub", "jupyterhub"].contains($0) } ?? false
    }

    /// The URL of the endpoint for a capability: the best interface's first http(s) accessURL (TAP: + `/async`).
    static func accessURL(of capability: RegistryCapability, kind: CapabilityKind) -> String? {
        let ranked = capability.interfaces.enumerated().sorted { a, b in
            let ra = (a.element.securityMethods.isEmpty ? 0 : 2) + (a.element.role == "std" ? 0 : 1)
            let rb = (b.element.securityMethods.isEmpty ? 0 : 2) + (b.element.role == "std" ? 0 : 1)
            return (ra, a.offset) < (rb, b.offset)
        }
        for (_, interface) in ranked {
            for access in interface.accessURLs {
                var url = access.url.trimmingWhitespace()
                if kind == .tap {
                    while url.hasSuffix("/") { url.removeLast() }
                    url += "/async"
                }
                if FacilityDocument.httpURLProblem(url) == nil { return url }
            }
        }
        return nil
    }

    /// The most a job may run, from TAPRegExt `executionDuration`: the hard limit, else the default (0 means unlimited).
    static func jobDuration(_ limit: RegistryLimit?) -> ISODuration? {
        guard let seconds = limit?.hard ?? limit?.defaultValue, seconds > 0 else { return nil }
        return ISODuration(seconds: min(seconds, FacilityDocument.Bounds.maxDuration.seconds))
    }
}

import Foundation

/// A facility as an operator writes it (`POST /facilities`, `PUT /facilities/{id}`): every field optional here,
/// so that validation can name each missing or wrong field instead of stopping at the first.
public struct FacilityDocument: Sendable {
    public struct EndpointDocument: Sendable {
        public var kind: String?
        public var url: String?
        public var launchTimeout: String?
        public var offerDeadline: String?
        /// `credentials.mode` and `credentials.audience`, as written.
        public var credentialsMode: String?
        public var credentialsAudience: String?
    }
    public struct LimitsDocument: Sendable {
        public var cores: Int?
        public var memory: Int?
        public var duration: String?
        public var gpus: Int?
        public var scratch: Int?
    }
    public struct CapacityDocument: Sendable {
        public var cores: Int?
        public var memory: Int?
        public var gpus: Int?
    }
    public struct DataDocument: Sendable {
        public var rses: [String]?
        public var bandwidth: Double?
    }
    public struct HardwareDocument: Sendable {
        public var architectures: [String]?
        public var gpuModels: [String]?
        public var gpuMemory: Int?
    }
    public struct SoftwareDocument: Sendable {
        /// `(name, versions)` as written.
        public var runtimes: [(name: String?, versions: [String]?)]?
        public var environments: [String]?
        public var registries: [String]?
    }
    public struct AccessDocument: Sendable {
        public var allowGroups: [String]?
        public var allowUsers: [String]?
        public var denyGroups: [String]?
        public var denyUsers: [String]?
        /// `(group, fraction)` as written (nil where a value is missing or of the wrong type, reported when read).
        public var shares: [(group: String?, fraction: Double?)]?
    }

    public var id: String?
    public var name: String?
    public var description: String?
    public var status: String?
    public var endpoints: [EndpointDocument]?
    public var accepts: [String]?
    public var limits: LimitsDocument?
    public var capacity: CapacityDocument?
    public var data: DataDocument?
    public var access: AccessDocument?
    public var hardware: HardwareDocument?
    public var software: SoftwareDocument?
    public var cost: Double?

    /// Reads a parsed JSON or YAML document; only a document that is not an object fails here. Fields of the
    /// wrong type and unknown fields are kept in `problems`, and reported by `validated` with every other problem.
    public init(_ value: JSONValue) throws {
        var r = DocumentReader()
        guard let root = r.object(value, "body") else { throw ValidationFailure(r.errors.all) }
        id = r.string(root["id"], "id")
        name = r.written(root["name"], "name")
        description = r.written(root["description"], "description", limit: Bounds.maxDescriptionLength)
        status = r.string(root["status"], "status")
        endpoints = r.array(root["endpoints"], "endpoints")?.enumerated().map { i, item in
            let o = r.object(item, "endpoints[\(i)]") ?? [:]
            let credentials = r.object(o["credentials"], "endpoints[\(i)].credentials")
            return EndpointDocument(
                kind: r.string(o["kind"], "endpoints[\(i)].kind"), url: r.written(o["url"], "endpoints[\(i)].url"),
                launchTimeout: r.written(o["launchTimeout"], "endpoints[\(i)].launchTimeout"),
                offerDeadline: r.written(o["offerDeadline"], "endpoints[\(i)].offerDeadline"),
                credentialsMode: credentials.flatMap { r.string($0["mode"], "endpoints[\(i)].credentials.mode") },
                credentialsAudience: credentials.flatMap { r.written($0["audience"], "endpoints[\(i)].credentials.audience") })
        }
        accepts = r.writtenItems(root["accepts"], "accepts")
        limits = r.object(root["limits"], "limits").map { o in
            LimitsDocument(
                cores: r.int(o["cores"], "limits.cores"), memory: r.int(o["memory"], "limits.memory"), duration: r.written(o["duration"], "limits.duration"),
                gpus: r.int(o["gpus"], "limits.gpus"), scratch: r.int(o["scratch"], "limits.scratch"))
        }
        capacity = r.object(root["capacity"], "capacity").map { o in
            CapacityDocument(cores: r.int(o["cores"], "capacity.cores"), memory: r.int(o["memory"], "capacity.memory"), gpus: r.int(o["gpus"], "capacity.gpus"))
        }
        func strings(_ value: JSONValue?, _ field: String) -> [String]? { r.writtenItems(value, field) }
        func number(_ value: JSONValue?, _ field: String) -> Double? {
            guard let value, !value.isNull else { return nil }
            if case .number(let n) = value { return n }
            r.error(field, "must be a number")
            return nil
        }
        data = r.object(root["data"], "data").map { o in
            DataDocument(rses: strings(o["rses"], "data.rses"), bandwidth: number(o["bandwidth"], "data.bandwidth"))
        }
        hardware = r.object(root["hardware"], "hardware").map { o in
            let gpu = r.object(o["gpu"], "hardware.gpu")
            return HardwareDocument(
                architectures: strings(o["architectures"], "hardware.architectures"), gpuModels: gpu.flatMap { strings($0["models"], "hardware.gpu.models") },
                gpuMemory: gpu.flatMap { r.int($0["memory"], "hardware.gpu.memory") })
        }
        software = r.object(root["software"], "software").map { o in
            let runtimes = r.array(o["runtimes"], "software.runtimes")?.enumerated().map { i, item -> (name: String?, versions: [String]?) in
                let rt = r.object(item, "software.runtimes[\(i)]") ?? [:]
                return (r.string(rt["name"], "software.runtimes[\(i)].name").flatMap { _ in rt["name"]?.stringValue }, strings(rt["versions"], "software.runtimes[\(i)].versions"))
            }
            return SoftwareDocument(
                runtimes: runtimes, environments: strings(o["environments"], "software.environments"), registries: strings(o["registries"], "software.registries"))
        }
        cost = number(root["cost"], "cost")
        access = r.object(root["access"], "access").map { o in
            // Entries are kept as written (an empty one too): `validated` names each bad one.
            func names(_ key: String) -> [String]? {
                r.array(o[key], "access.\(key)")?.enumerated().compactMap { i, item in
                    item.stringValue.map { $0.trimmingWhitespace() } ?? r.string(item, "access.\(key)[\(i)]")
                }
            }
            let shares = r.array(o["shares"], "access.shares")?.enumerated().map { i, item -> (group: String?, fraction: Double?) in
                let s = r.object(item, "access.shares[\(i)]") ?? [:]
                var fraction: Double?
                if let v = s["fraction"] {
                    if case .number(let n) = v { fraction = n } else { r.error("access.shares[\(i)].fraction", "must be a number") }
                }
                return (r.string(s["group"], "access.shares[\(i)].group"), fraction)
            }
            return AccessDocument(
                allowGroups: names("allowGroups"), allowUsers: names("allowUsers"), denyGroups: names("denyGroups"), denyUsers: names("denyUsers"),
                shares: shares)
        }
        problems = Self.unknownKeys(in: value) + r.errors.all
    }

    /// Fields of the wrong type and unknown fields, found while reading; `validated` reports them with the rest.
    public var problems: [FieldError] = []

    /// The facility fields this document writes (the operator's, in the facility's provenance). `capacity` and `data`
    /// count when present at all; each limit when present inside `limits`.
    public var writtenFields: Set<FacilityProvenance.Field> {
        var fields: Set<FacilityProvenance.Field> = []
        if name != nil { fields.insert(.name) }
        if description != nil { fields.insert(.description) }
        if status != nil { fields.insert(.status) }
        if endpoints != nil { fields.insert(.endpoints) }
        if accepts != nil { fields.insert(.accepts) }
        if limits?.cores != nil { fields.insert(.limitsCores) }
        if limits?.memory != nil { fields.insert(.limitsMemory) }
        if limits?.duration != nil { fields.insert(.limitsDuration) }
        if limits?.gpus != nil { fields.insert(.limitsGpus) }
        if limits?.scratch != nil { fields.insert(.limitsScratch) }
        if hardware != nil { fields.insert(.hardware) }
        if software != nil { fields.insert(.software) }
        if cost != nil { fields.insert(.cost) }
        if capacity != nil { fields.insert(.capacity) }
        if data != nil { fields.insert(.data) }
        return fields
    }

    /// The keys a facility document may hold at each level; anything else is a typo to report, not to drop.
    public static let allowedKeys: [String: Set<String>] = [
        "": [
            "id", "name", "description", "status", "endpoints", "accepts", "limits", "capacity", "data", "access", "hardware", "software", "cost",
            "owner", "created", "modified", "health", "provenance",
        ],
        "endpoints[]": ["kind", "url", "launchTimeout", "offerDeadline", "credentials"],
        "endpoints[].credentials": ["mode", "audience"],
        "limits": ["cores", "memory", "duration", "gpus", "scratch"],
        "capacity": ["cores", "memory", "gpus"],
        "data": ["rses", "bandwidth"],
        "hardware": ["architectures", "gpu"],
        "hardware.gpu": ["models", "memory"],
        "software": ["runtimes", "environments", "registries"],
        "software.runtimes[]": ["name", "versions"],
        "access": ["allowGroups", "allowUsers", "denyGroups", "denyUsers", "shares"],
        "access.shares[]": ["group", "fraction"],
    ]

    /// Reports keys the document should not have (a misspelt `acepts` would otherwise be silently ignored).
    public static func unknownKeys(in value: JSONValue) -> [FieldError] {
        var errors: [FieldError] = []
        func check(_ v: JSONValue?, _ scope: String, _ path: String) {
            guard let object = v?.objectValue, let allowed = allowedKeys[scope] else { return }
            for key in object.keys.sorted() where !allowed.contains(key) {
                errors.append(FieldError(path.isEmpty ? key : "\(path).\(key)", "unknown field"))
            }
        }
        check(value, "", "")
        for (i, e) in (value["endpoints"]?.arrayValue ?? []).enumerated() {
            check(e, "endpoints[]", "endpoints[\(i)]")
            check(e["credentials"], "endpoints[].credentials", "endpoints[\(i)].credentials")
        }
        for scope in ["limits", "capacity", "data", "access", "hardware", "software"] { check(value[scope], scope, scope) }
        check(value["hardware"]?["gpu"], "hardware.gpu", "hardware.gpu")
        for (i, s) in (value["software"]?["runtimes"]?.arrayValue ?? []).enumerated() { check(s, "software.runtimes[]", "software.runtimes[\(i)]") }
        for (i, s) in (value["access"]?["shares"]?.arrayValue ?? []).enumerated() { check(s, "access.shares[]", "access.shares[\(i)]") }
        return errors
    }

    /// Bounds beyond which a number is a mistake, not a facility.
    public enum Bounds {
        public static let maxCores = 10_000_000
        public static let maxMemoryGiB = 1 << 30
        public static let maxDuration = ISODuration(seconds: 366 * 86_400)
        public static let maxNameLength = 256
        public static let maxDescriptionLength = 16_384
        public static let maxEndpoints = 32
        public static let maxKinds = 64
        public static let maxRSEs = 1_024
        public static let maxURLLength = 2_048
        public static let maxAccessEntries = 1_024
        public static let maxAccessEntryLength = 512
        public static let maxShares = 64
        public static let maxGPUs = 1_000_000
        public static let maxScratchGiB = 1 << 30
        public static let maxVocabulary = 256
        public static let maxBandwidth = 1e7
        public static let minBandwidth = 0.001
    }

    /// Checks the document and builds the facility, or throws every problem found.
    /// - Parameters:
    ///   - pathID: the id from the URL of a `PUT`; the body's `id` must then be absent or the same.
    ///   - owner: the operator writing it.
    ///   - created: when the facility was first registered (now, for a new one).
    public func validated(pathID: FacilityID? = nil, owner: String, created: Date, now: Date) throws -> Facility {
        var errors = FieldErrors()
        // Times are kept to the second, as the API writes them.
        let created = Date(timeIntervalSince1970: created.timeIntervalSince1970.rounded(.down))
        let now = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))

        var facilityID = pathID
        switch (id, pathID) {
        case (nil, nil): errors.add("id", "is required")
        case (let body?, let path?) where FacilityID(body) != path:
            errors.add("id", "'\(body)' does not match the identifier in the URL ('\(path)')")
        case (let body?, nil): facilityID = FacilityID(body)
        default: break
        }
        if let fid = facilityID, let problem = fid.problem { errors.add("id", problem) }

        let trimmedName = name?.trimmingWhitespace() ?? ""
        if name.map({ !SpecPattern.matches($0, SpecPattern.notBlank) }) ?? true { errors.add("name", "is required") }
        else if name!.unicodeScalars.count > Bounds.maxNameLength { errors.add("name", "must be at most \(Bounds.maxNameLength) characters") }
        if (description?.unicodeScalars.count ?? 0) > Bounds.maxDescriptionLength {
            errors.add("description", "must be at most \(Bounds.maxDescriptionLength) characters")
        }

        var facilityStatus = FacilityStatus.active
        if let s = status {
            if let parsed = FacilityStatus(rawValue: s.lowercased()) { facilityStatus = parsed }
            else { errors.add("status", "'\(s)' is not one of active, draining, disabled") }
        }

        var parsedEndpoints: [Endpoint] = []
        if let eps = endpoints {
            if eps.isEmpty { errors.add("endpoints", "needs at least one endpoint") }
            if eps.count > Bounds.maxEndpoints { errors.add("endpoints", "at most \(Bounds.maxEndpoints) endpoints") }
            for (i, e) in eps.enumerated() {
                let field = "endpoints[\(i)]"
                var kind: EndpointKind?
                if let k = e.kind {
                    kind = EndpointKind(rawValue: k.lowercased())
                    if kind == nil {
                        errors.add("\(field).kind", "unknown endpoint kind '\(k)': use one of \(EndpointKind.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                } else {
                    errors.add("\(field).kind", "is required")
                }
                if let u = e.url {
                    if let problem = Self.httpURLProblem(u) { errors.add("\(field).url", problem) }
                } else {
                    errors.add("\(field).url", "is required")
                }
                var launchTimeout: ISODuration?
                if let text = e.launchTimeout {
                    if let seconds = SpecPattern.duration(text, clampedTo: SpecPattern.secondToLeapYear) {
                        launchTimeout = ISODuration(seconds: Int(seconds.rounded()))
                    } else {
                        errors.add("\(field).launchTimeout", "'\(text.prefix(200))' is not an ISO-8601 duration longer than zero, such as PT10M")
                    }
                }
                var offerDeadline: Double?
                if let text = e.offerDeadline {
                    if let seconds = SpecPattern.duration(text, clampedTo: SpecPattern.offerWait) {
                        offerDeadline = seconds
                    } else {
                        errors.add("\(field).offerDeadline", "'\(text.prefix(200))' is not an ISO-8601 duration longer than zero, such as PT2.5S")
                    }
                    if kind != nil, kind != .executionbroker {
                        errors.add("\(field).offerDeadline", "applies only to an executionbroker endpoint")
                    }
                }
                var credentials: EndpointCredentials?
                if let mode = e.credentialsMode {
                    let audience = e.credentialsAudience ?? ""
                    let audienceOK = SpecPattern.matches(audience, SpecPattern.notBlank) && audience.unicodeScalars.count <= Bounds.maxAccessEntryLength
                        && !audience.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
                    switch mode {
                    case "service":
                        if e.credentialsAudience != nil { errors.add("\(field).credentials.audience", "applies only to forward and exchange") }
                    case "forward", "exchange":
                        if !audienceOK {
                            errors.add("\(field).credentials.audience", "is required for \(mode): the 'aud' value the facility expects in a user's token (1 to \(Bounds.maxAccessEntryLength) characters, not blank)")
                        } else {
                            credentials = mode == "forward" ? .forward(audience: audience) : .exchange(audience: audience)
                        }
                        if kind == .binderhub { errors.add("\(field).credentials.mode", "a BinderHub endpoint takes Skyport's own token only: use service") }
                    default:
                        errors.add("\(field).credentials.mode", "'\(mode)' is none of service, forward, exchange")
                    }
                } else if e.credentialsAudience != nil {
                    errors.add("\(field).credentials.mode", "is required: service, forward or exchange")
                }
                if let kind, let u = e.url {
                    var endpoint = Endpoint(kind: kind, url: u, launchTimeout: launchTimeout, offerDeadline: offerDeadline)
                    endpoint.credentials = credentials
                    parsedEndpoints.append(endpoint)
                }
            }
        } else {
            errors.add("endpoints", "is required: at least one endpoint with a kind and a url")
        }

        var kinds: [ExecutableKind] = []
        if let acc = accepts {
            if acc.isEmpty { errors.add("accepts", "needs at least one executable kind") }
            if acc.count > Bounds.maxKinds { errors.add("accepts", "at most \(Bounds.maxKinds) kinds") }
            for (i, text) in acc.enumerated() {
                if SpecPattern.matches(text, SpecPattern.executableKind), let kind = ExecutableKind(text) {
                    if !kinds.contains(kind) { kinds.append(kind) }
                } else {
                    errors.add("accepts[\(i)]", "unknown executable kind '\(text)': use one of \(ExecutableKind.knownAliases.joined(separator: ", ")) or a kind URI")
                }
            }
        } else {
            errors.add("accepts", "is required: the executable kinds this facility runs")
        }

        var facilityLimits = FacilityLimits()
        if let l = limits {
            facilityLimits.cores = Self.checkCount(l.cores, "limits.cores", max: Bounds.maxCores, &errors)
            facilityLimits.memory = Self.checkCount(l.memory, "limits.memory", max: Bounds.maxMemoryGiB, &errors)
            if let text = l.duration {
                if let seconds = SpecPattern.duration(text, clampedTo: SpecPattern.secondToLeapYear) {
                    facilityLimits.duration = ISODuration(seconds: Int(seconds.rounded()))
                } else {
                    errors.add("limits.duration", "'\(text.prefix(200))' is not an ISO-8601 duration longer than zero, such as PT12H")
                }
            }
        }
        if let l = limits {
            // Zero GPUs is a real limit (a facility saying it has none), unlike zero cores.
            facilityLimits.gpus = Self.checkCount(l.gpus, "limits.gpus", max: Bounds.maxGPUs, allowZero: true, &errors)
            facilityLimits.scratch = Self.checkCount(l.scratch, "limits.scratch", max: Bounds.maxScratchGiB, &errors)
        }
        var facilityCapacity = FacilityCapacity()
        if let c = capacity {
            facilityCapacity.cores = Self.checkCount(c.cores, "capacity.cores", max: Bounds.maxCores, &errors)
            facilityCapacity.memory = Self.checkCount(c.memory, "capacity.memory", max: Bounds.maxMemoryGiB, &errors)
            facilityCapacity.gpus = Self.checkCount(c.gpus, "capacity.gpus", max: Bounds.maxGPUs, allowZero: true, &errors)
        }
        if let total = facilityCapacity.gpus, let one = facilityLimits.gpus, total < one {
            errors.add("capacity.gpus", "\(total) is below limits.gpus (\(one)): a job at the limit could never be booked")
        }
        let (facilityHardware, facilitySoftware) = vocabulary(&errors)
        var facilityCost: Double?
        if let cost {
            if cost.isFinite, cost >= 0, cost <= 1e9 { facilityCost = cost } else { errors.add("cost", "must be a number from 0 to 1e9 (per core-hour)") }
        }
        var bandwidth: Double?
        if let b = data?.bandwidth {
            if b.isFinite, b >= Bounds.minBandwidth, b <= Bounds.maxBandwidth { bandwidth = b } else { errors.add("data.bandwidth", "must be from \(Bounds.minBandwidth) to \(Int(Bounds.maxBandwidth)) MB/s") }
        }
        if let total = facilityCapacity.cores, let one = facilityLimits.cores, total < one {
            errors.add("capacity.cores", "\(total) is below limits.cores (\(one)): a job at the limit could never be booked")
        }
        if let total = facilityCapacity.memory, let one = facilityLimits.memory, total < one {
            errors.add("capacity.memory", "\(total) GiB is below limits.memory (\(one) GiB): a job at the limit could never be booked")
        }

        var rses: [String] = []
        if let list = data?.rses {
            if list.count > Bounds.maxRSEs { errors.add("data.rses", "at most \(Bounds.maxRSEs) storage elements") }
            let rseChars = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
            for (i, rse) in list.enumerated() {
                if rse.isEmpty || rse.count > 255 || rse.unicodeScalars.contains(where: { !rseChars.contains($0) }) {
                    errors.add("data.rses[\(i)]", "'\(rse)' is not a Rucio storage element name (letters, digits, '_' and '-')")
                } else if !rses.contains(where: { $0.caseInsensitiveCompare(rse) == .orderedSame }) {
                    rses.append(rse)
                }
            }
        }

        var facilityAccess: FacilityAccess?
        if let a = access {
            func names(_ list: [String]?, _ field: String) -> [String] {
                guard let list else { return [] }
                if list.count > Bounds.maxAccessEntries { errors.add("access.\(field)", "at most \(Bounds.maxAccessEntries) entries") }
                var out: [String] = []
                for (i, name) in list.enumerated() {
                    if name.isEmpty || name.unicodeScalars.count > Bounds.maxAccessEntryLength || name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                        errors.add("access.\(field)[\(i)]", "must be 1 to \(Bounds.maxAccessEntryLength) characters without control characters")
                    } else if !out.contains(name) {
                        out.append(name)
                    }
                }
                return out
            }
            let users = { (list: [String]?, field: String) -> [String] in
                let out = names(list, field)
                for (i, user) in out.enumerated() where !user.contains("#") {
                    errors.add("access.\(field)[\(i)]", "'\(user)' is not a user: name one as its token's issuer and subject, 'issuer#subject'")
                }
                return out
            }
            var shares: [FacilityShare] = []
            if let list = a.shares {
                if list.count > Bounds.maxShares { errors.add("access.shares", "at most \(Bounds.maxShares) shares") }
                for (i, entry) in list.enumerated() {
                    let field = "access.shares[\(i)]"
                    guard let group = entry.group, !group.isEmpty, group.unicodeScalars.count <= Bounds.maxAccessEntryLength,
                          !group.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                        errors.add(field + ".group", "is required: a group name of 1 to \(Bounds.maxAccessEntryLength) characters without control characters")
                        continue
                    }
                    guard let fraction = entry.fraction, fraction > 0, fraction <= 1 else {
                        errors.add(field + ".fraction", "is required: the group's part of the facility's cores, above 0 and at most 1")
                        continue
                    }
                    if shares.contains(where: { $0.group == group }) { errors.add(field + ".group", "'\(group)' has a share already") }
                    shares.append(FacilityShare(group: group, fraction: fraction))
                }
                let sum = shares.reduce(0) { $0 + $1.fraction }
                if sum > 1 + 1e-9 { errors.add("access.shares", "the fractions add up to \(sum), more than the whole facility (1)") }
                if !shares.isEmpty, facilityCapacity.cores == nil {
                    errors.add("access.shares", "shares are parts of capacity.cores, which is not given")
                }
            }
            let policy = FacilityAccess(
                allowGroups: names(a.allowGroups, "allowGroups"), allowUsers: users(a.allowUsers, "allowUsers"),
                denyGroups: names(a.denyGroups, "denyGroups"), denyUsers: users(a.denyUsers, "denyUsers"), shares: shares)
            facilityAccess = policy.isEmpty ? nil : policy
        }

        let all = problems + errors.all.filter { e in !problems.contains { $0.field == e.field } }
        if !all.isEmpty { throw ValidationFailure(all) }
        var facility = Facility(
            id: facilityID!, name: trimmedName, description: description ?? "", status: facilityStatus,
            endpoints: parsedEndpoints, accepts: kinds, limits: facilityLimits, capacity: facilityCapacity,
            data: FacilityData(rses: rses, bandwidth: bandwidth), owner: owner, created: created, modified: now)
        facility.access = facilityAccess
        facility.hardware = facilityHardware
        facility.software = facilitySoftware
        facility.cost = facilityCost
        return facility
    }

    static func checkCount(_ value: Int?, _ field: String, max: Int, allowZero: Bool = false, _ errors: inout FieldErrors) -> Int? {
        guard let value else { return nil }
        if allowZero, value < 0 { errors.add(field, "must be zero or a positive whole number, not \(value)"); return nil }
        if !allowZero, value <= 0 { errors.add(field, "must be a positive whole number, not \(value)"); return nil }
        if value > max { errors.add(field, "\(value) is beyond any real facility (at most \(max))"); return nil }
        return value
    }

    /// Why a string is not an absolute http(s) URL with a host, or nil when it is one.
    public static func httpURLProblem(_ text: String) -> String? {
        if text.utf8.count > Bounds.maxURLLength { return "must be at most \(Bounds.maxURLLength) bytes" }
        guard SpecPattern.matches(text, SpecPattern.httpURLSyntax) else {
            return "'\(text.prefix(200))' is not an http or https URL with a host name or a dotted IPv4 address, an optional "
                + "port and RFC 3986 characters (anything else percent-encoded), without a user name or password"
        }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased() else {
            return "'\(text)' is not an absolute URL"
        }
        guard scheme == "http" || scheme == "https" else { return "'\(text)' must be an http or https URL, not \(scheme)" }
        guard let host = url.host, !host.isEmpty else { return "'\(text)' has no host" }
        if url.user != nil || url.password != nil { return "must not carry credentials in the URL" }
        return nil
    }
}

/// Why a facility cannot take a request: one code per hard filter the facility fails.
public enum MatchReasonCode: String, Sendable, Hashable, Codable, CaseIterable {
    /// The facility is draining or disabled.
    case facilityNotActive = "facility-not-active"
    /// The facility does not run this kind of executable (or runs no kind at all).
    case kindNotAccepted = "kind-not-accepted"
    /// The request's minimum cores exceed the facility's per-job limit.
    case coresExceedLimit = "cores-exceed-limit"
    /// The request's minimum memory exceeds the facility's per-job limit.
    case memoryExceedLimit = "memory-exceed-limit"
    /// The request's duration exceeds the facility's per-job limit.
    case durationExceedLimit = "duration-exceed-limit"
    /// The request's minimum cores exceed everything the facility has.
    case coresExceedCapacity = "cores-exceed-capacity"
    /// The request's minimum memory exceeds everything the facility has.
    case memoryExceedCapacity = "memory-exceed-capacity"
    /// The facility declares RSEs but holds none of the request's locatable Rucio items (one reason per item).
    case dataNotColocated = "data-not-colocated"
    /// The facility failed its last health check (VOSI availability, BinderHub `/health`, or not reachable).
    case facilityUnavailable = "facility-unavailable"
    /// Another broker (a federated facility) answered without offers.
    case brokerNoOffers = "broker-no-offers"
    /// Another broker did not answer within its deadline: its answer, if any came later, was dropped.
    case brokerLate = "broker-late"
    /// Another broker could not be reached, answered with an error, or sent something that is no offer set.
    case brokerUnreachable = "broker-unreachable"
    /// Another broker refused because the request had already passed through it (A asks B asks A).
    case federationLoop = "federation-loop"
    /// The facility's access policy does not admit the caller (the caller is not told the policy).
    case notAuthorized = "not-authorized"
    /// The facility runs none of the request's CPU architecture (asked by `compute.architecture`, an image's platform
    /// or codemeta's `processorRequirements`).
    case architectureNotSupported = "architecture-not-supported"
    /// The request needs more GPUs than one job may have there (a facility that declares no GPUs has none).
    case gpusExceedLimit = "gpus-exceed-limit"
    /// The request needs more GPUs than the facility has in all.
    case gpusExceedCapacity = "gpus-exceed-capacity"
    /// The facility has none of the GPU models the request accepts.
    case gpuModelNotAvailable = "gpu-model-not-available"
    /// The facility's GPUs have less memory than the request needs per GPU.
    case gpuMemoryTooSmall = "gpu-memory-too-small"
    /// The request's storage exceeds the scratch space one job may have there.
    case scratchExceedLimit = "scratch-exceed-limit"
    /// The facility provides no version of a runtime the request needs in the range it needs.
    case runtimeNotAvailable = "runtime-not-available"
    /// The facility has not a named environment the request needs.
    case environmentNotAvailable = "environment-not-available"
    /// The facility may pull none of the request's container images (its allowed registries).
    case imageRegistryNotAllowed = "image-registry-not-allowed"
}

/// One machine-readable reason a facility was rejected, with what was asked and what the facility offers.
///
/// Stored compactly (the codes and values, `["cores-exceed-limit","cores","32","16"]`, with `detail` as a fifth
/// element when there is one); the sentence for people is rendered when it is read (`message(for:)`), for operators
/// with every detail, for anyone else without what a facility's probe or another broker said.
public struct MatchReason: Sendable, Hashable {
    public var code: MatchReasonCode
    /// The request field the reason is about (`cores`, `executable.kind`, `data`).
    public var field: String
    /// What the request asked for, as text (`32`, `PT4H`, `DESY-DCACHE|PIC-DCACHE`).
    public var requested: String
    /// What the facility offers, as text (`16`, `draining`, `jupyter-notebook,docker-container`).
    public var offered: String
    /// What the values do not say, in words that mostly come from elsewhere: why the last health check failed (and
    /// since when), what another broker said or why it could not be asked. Clipped (`RemoteText.clip`) when made;
    /// shown to operators only.
    public var detail: String?
    /// The facility the reason is about (set by `MatchRejection`; not stored with the reason).
    public var facility: FacilityID?

    public init(code: MatchReasonCode, field: String, requested: String, offered: String, detail: String? = nil, facility: FacilityID? = nil) {
        self.code = code
        self.field = field
        self.requested = requested
        self.offered = offered
        self.detail = detail.map { RemoteText.clip($0) }
        self.facility = facility
    }

    /// The sentence for operators (every detail).
    public var message: String { message(for: .operator) }

    /// The sentence for people. `.public` leaves out what a facility's probe found, keeps of another broker's failure
    /// only the HTTP status it answered with, and of its answer (no offers, a loop) a short reason
    /// (`RemoteText.shortLimit` characters).
    public func message(for audience: ReasonAudience) -> String {
        let name = facility?.rawValue ?? "(unknown)"
        let full = audience == .operator
        switch code {
        case .facilityNotActive:
            return "facility \(name) is \(offered) and takes no new work"
        case .kindNotAccepted:
            return offered.isEmpty
                ? "facility \(name) accepts no executable kinds"
                : "facility \(name) does not run \(requested); it runs \(offered)"
        case .coresExceedLimit:
            return "the request needs at least \(requested) cores; facility \(name) allows at most \(offered) per job"
        case .memoryExceedLimit:
            return "the request needs at least \(requested) GiB of memory; facility \(name) allows at most \(offered) GiB per job"
        case .durationExceedLimit:
            return "the request wants \(requested); facility \(name) allows at most \(offered) per job"
        case .coresExceedCapacity:
            return "the request needs at least \(requested) cores; facility \(name) has \(offered) in all"
        case .memoryExceedCapacity:
            return "the request needs at least \(requested) GiB of memory; facility \(name) has \(offered) GiB in all"
        case .dataNotColocated:
            return "a Rucio item has replicas only on \(requested); facility \(name) reads locally from \(offered)"
        case .facilityUnavailable:
            guard full, let detail else { return "facility \(name) is unavailable" }
            return "facility \(name) is unavailable \(detail)"
        case .brokerNoOffers:
            if field == "compute" { return "broker \(name) made only offers outside the request: \(offered)" }
            guard let detail else { return "broker \(name) made no offers" }
            return "broker \(name) made no offers: \(full ? detail : RemoteText.clip(detail, limit: RemoteText.shortLimit))"
        case .brokerLate:
            let within = requested.hasPrefix("an answer within ") ? String(requested.dropFirst("an answer within ".count)) : requested
            return "broker \(name) did not answer within \(within); its answer, if any, is dropped"
        case .federationLoop:
            guard let detail else { return "broker \(name): the request had already passed through it" }
            return "broker \(name): \(full ? detail : RemoteText.clip(detail, limit: RemoteText.shortLimit))"
        case .notAuthorized:
            return "facility \(name) is not available to you"
        case .architectureNotSupported:
            return "the request runs on \(requested); facility \(name) runs \(offered)"
        case .gpusExceedLimit:
            return offered == "0"
                ? "the request needs at least \(requested) GPUs; facility \(name) declares no GPUs"
                : "the request needs at least \(requested) GPUs; facility \(name) allows at most \(offered) per job"
        case .gpusExceedCapacity:
            return "the request needs at least \(requested) GPUs; facility \(name) has \(offered) in all"
        case .gpuModelNotAvailable:
            return "the request accepts GPU models \(requested); facility \(name) has \(offered.isEmpty ? "none" : offered)"
        case .gpuMemoryTooSmall:
            return "the request needs \(requested) GiB per GPU; the GPUs of facility \(name) have \(offered) GiB"
        case .scratchExceedLimit:
            return "the request needs at least \(requested) GiB of storage; facility \(name) allows at most \(offered) GiB of scratch per job"
        case .runtimeNotAvailable:
            return "the request needs \(requested); facility \(name) provides \(offered.isEmpty ? "no runtimes" : offered)"
        case .environmentNotAvailable:
            return "the request needs the environment \(requested); facility \(name) has \(offered.isEmpty ? "none" : offered)"
        case .imageRegistryNotAllowed:
            return "the request's images come from \(requested); facility \(name) pulls only from \(offered.isEmpty ? "no registry" : offered)"
        case .brokerUnreachable:
            guard full, let detail else {
                let status = detail.flatMap(RemoteText.httpStatus).map { " (it answered HTTP \($0))" } ?? ""
                return "broker \(name) could not be asked\(status)"
            }
            return "broker \(name): \(detail)"
        }
    }
}

/// Who reads a rejection's reasons.
public enum ReasonAudience: Sendable, Hashable {
    /// An operator: every detail (clipped).
    case `operator`
    /// Anyone else (anonymous callers, users of the UWS job list): no probe details of facilities; of other brokers a status and a short reason.
    case `public`
}

extension MatchReason: Codable {
    /// The compact stored form: `[code, field, requested, offered]`, and `detail` as a fifth element when there is one.
    /// Reads the object form older versions stored (`{code, field, requested, offered, message}`) too: the message
    /// of a reason with details keeps them as `detail`; the others are rendered again from their values.
    public init(from decoder: any Decoder) throws {
        if var c = try? decoder.unkeyedContainer() {
            code = try c.decode(MatchReasonCode.self)
            field = try c.decode(String.self)
            requested = try c.decode(String.self)
            offered = try c.decode(String.self)
            detail = c.isAtEnd ? nil : try c.decodeNil() ? nil : try c.decode(String.self)
            return
        }
        enum Keys: String, CodingKey { case code, field, requested, offered, message }
        let c = try decoder.container(keyedBy: Keys.self)
        code = try c.decode(MatchReasonCode.self, forKey: .code)
        field = try c.decodeIfPresent(String.self, forKey: .field) ?? ""
        requested = try c.decodeIfPresent(String.self, forKey: .requested) ?? ""
        offered = try c.decodeIfPresent(String.self, forKey: .offered) ?? ""
        let message = try c.decodeIfPresent(String.self, forKey: .message) ?? ""
        switch code {
        case .facilityUnavailable:
            detail = message.range(of: " is unavailable ").map { String(message[$0.upperBound...]) }
        case .brokerNoOffers, .federationLoop, .brokerUnreachable:
            detail = message.range(of: ": ").map { String(message[$0.upperBound...]) }
        default:
            detail = nil
        }
        detail = detail.map { RemoteText.clip($0) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(code)
        try c.encode(field)
        try c.encode(requested)
        try c.encode(offered)
        if let detail { try c.encode(detail) }
    }
}

/// Something unknown about an accepted match: it never rejects, but the user should see it.
public enum MatchFlagCode: String, Sendable, Hashable, Codable, CaseIterable {
    /// The request did not say what kind of executable it is.
    case kindUnknown = "kind-unknown"
    /// The facility publishes no per-job limit for a field the request constrains.
    case limitUnknown = "limit-unknown"
    /// The facility publishes no total capacity for a field the request constrains.
    case capacityUnknown = "capacity-unknown"
    /// A Rucio item's replica locations are unknown, so co-location cannot be judged.
    case dataLocationUnknown = "data-location-unknown"
    /// The facility declares no RSEs, so whether it holds the request's data is unknown.
    case facilityDataUnknown = "facility-data-unknown"
    /// The facility holds some of the request's locatable Rucio items but not all (one flag per item it lacks).
    case dataPartlyColocated = "data-partly-colocated"
    /// The facility's last health check passed, but it is older than the stale limit.
    case healthStale = "health-check-stale"
    /// The facility declares no CPU architecture, and the request needs one.
    case architectureUnknown = "architecture-unknown"
    /// The facility declares no runtimes, environments or registries for a request that needs them.
    case softwareUnknown = "software-unknown"
    /// The facility declares no GPU models or GPU memory for a request that names them.
    case gpuUnknown = "gpu-unknown"
}

/// One flag on an accepted match.
public struct MatchFlag: Sendable, Hashable, Codable {
    public var code: MatchFlagCode
    /// The request field the flag is about.
    public var field: String
    /// A sentence for people.
    public var message: String

    public init(code: MatchFlagCode, field: String, message: String) {
        self.code = code
        self.field = field
        self.message = message
    }
}

/// How good an accepted facility is: data co-location first, then headroom. Higher is better in both.
public struct MatchScore: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// The fraction (0...1) of the request's locatable Rucio items that the facility holds on its RSEs; 0 when none are locatable.
    public var colocation: Double
    /// The mean (0...1) of how far below each known limit and capacity the request sits; unknown values count 0.
    public var headroom: Double
    /// The estimated seconds to stage in the data the facility does not hold (its bandwidth; unknown sizes count 0).
    public var staging: Double?

    public init(colocation: Double, headroom: Double, staging: Double? = nil) {
        self.colocation = colocation
        self.headroom = headroom
        self.staging = staging
    }

    /// Orders by co-location, then headroom.
    public static func < (a: MatchScore, b: MatchScore) -> Bool {
        a.colocation != b.colocation ? a.colocation < b.colocation : a.headroom < b.headroom
    }

    public var description: String {
        "data \(Self.fixed(colocation)) headroom \(Self.fixed(headroom))" + (staging.map { $0 > 0 ? " staging \(Self.fixed($0))s" : "" } ?? "")
    }

    /// Two decimals, without a formatter.
    static func fixed(_ x: Double) -> String {
        let hundredths = Int((x * 100).rounded())
        let frac = hundredths % 100
        return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
    }
}

/// An accepted facility, with its score and flags.
public struct MatchCandidate: Sendable, Hashable, Codable {
    public var facility: Facility
    public var score: MatchScore
    public var flags: [MatchFlag]

    public init(facility: Facility, score: MatchScore, flags: [MatchFlag] = []) {
        self.facility = facility
        self.score = score
        self.flags = flags
    }
}

/// A rejected facility, with every reason it fails.
public struct MatchRejection: Sendable, Hashable, Codable {
    public var facility: FacilityID
    public var reasons: [MatchReason]

    public init(facility: FacilityID, reasons: [MatchReason]) {
        self.facility = facility
        self.reasons = reasons.map { r in
            var r = r
            r.facility = facility
            return r
        }
    }

    enum CodingKeys: String, CodingKey { case facility, reasons }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(facility: try c.decode(FacilityID.self, forKey: .facility), reasons: try c.decode([MatchReason].self, forKey: .reasons))
    }
}

extension MatchRejection {
    /// The rejections of an offer set as one text, one reason per line: `facility TAB code TAB field TAB requested TAB
    /// offered [TAB detail]`, with `\`, tab and line breaks escaped; a reason already written on an earlier line (many
    /// facilities are turned down for the same reason) is `facility TAB ^N`, N that line's number from 0. An offer set turns down most facilities, and
    /// writing this one string costs a small part of encoding the same reasons as nested JSON arrays, which was a
    /// third of the broker's CPU under load, inside the store's serialized write.
    public static func compact(_ rejections: [MatchRejection]) -> String {
        // Built as bytes (the separators and escapes are ASCII), one field after another: a set's rejections are
        // written inside its booking write, where every microsecond is spent while the writer is held.
        var out: [UInt8] = []
        out.reserveCapacity(rejections.count * 24)
        var written: [Written: (line: Int, reason: MatchReason)] = [:]
        var line = 0
        for rejection in rejections {
            for r in rejection.reasons {
                if !out.isEmpty { out.append(UInt8(ascii: "\n")) }
                defer { line += 1 }
                escape(rejection.facility.rawValue, into: &out)
                let key = Written(code: r.code, field: r.field, requested: r.requested, offered: r.offered, detail: r.detail)
                // Found by `String` equality, which holds for canonically equivalent texts too: referred to only when
                // the bytes are the same.
                if let (earlier, first) = written[key], first.sameBytes(as: r) {
                    out.append(UInt8(ascii: "\t")); out.append(UInt8(ascii: "^"))
                    out.append(contentsOf: String(earlier).utf8)
                    continue
                }
                if written[key] == nil { written[key] = (line, r) }
                out.append(UInt8(ascii: "\t")); escape(r.code.rawValue, into: &out)
                out.append(UInt8(ascii: "\t")); escape(r.field, into: &out)
                out.append(UInt8(ascii: "\t")); escape(r.requested, into: &out)
                out.append(UInt8(ascii: "\t")); escape(r.offered, into: &out)
                if let detail = r.detail {
                    out.append(UInt8(ascii: "\t"))
                    escape(detail, into: &out)
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads `compact`'s text back; a line that cannot be read is an error naming it. Read as UTF-8 bytes (the
    /// separators and escapes are ASCII): reading an offer set is mostly this, and splitting by characters with
    /// Foundation's searches cost most of a page that shows one.
    public static func parseCompact(_ text: String) throws -> [MatchRejection] {
        var text = text
        return try text.withUTF8 { bytes in
            var out: [MatchRejection] = []
            var lines: [MatchReason] = []
            var parts: [String] = []
            parts.reserveCapacity(6)
            var line = 0, start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
                defer { start = end + 1 }
                guard end > start else { continue }
                parts.removeAll(keepingCapacity: true)
                var from = start
                for i in start...end where i == end || bytes[i] == UInt8(ascii: "\t") {
                    parts.append(unescape(UnsafeBufferPointer(rebasing: bytes[from..<i])))
                    from = i + 1
                }
                // `compact` escapes every carriage return: a raw one is a line written by something else.
                let raw = UnsafeBufferPointer(rebasing: bytes[start..<end])
                if parts.count == 2, parts[1].utf8.first == UInt8(ascii: "^"), !raw.contains(UInt8(ascii: "\r")),
                   let earlier = Int(parts[1].dropFirst()), earlier >= 0, earlier < lines.count {
                    let facility = FacilityID(parts[0])
                    var reason = lines[earlier]
                    reason.facility = facility
                    lines.append(reason)
                    if out.last?.facility == facility { out[out.count - 1].reasons.append(reason) } else { out.append(MatchRejection(facility: facility, reasons: [reason])) }
                    line += 1
                    continue
                }
                guard parts.count == 5 || parts.count == 6, !raw.contains(UInt8(ascii: "\r")), let code = MatchReasonCode(rawValue: parts[1]) else {
                    let shown = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
                    throw FieldError("rejections[\(line)]", "not a stored rejection: \(RemoteText.clip(shown, limit: 80))")
                }
                let facility = FacilityID(parts[0])
                let reason = MatchReason(
                    code: code, field: parts[2], requested: parts[3], offered: parts[4], detail: parts.count == 6 ? parts[5] : nil, facility: facility)
                lines.append(reason)
                if out.last?.facility == facility { out[out.count - 1].reasons.append(reason) } else { out.append(MatchRejection(facility: facility, reasons: [reason])) }
                line += 1
            }
            return out
        }
    }

    /// A reason without its facility: what a line written in full is found again by.
    private struct Written: Hashable {
        var code: MatchReasonCode, field: String, requested: String, offered: String, detail: String?
    }

    private static func escape(_ text: String, into out: inout [UInt8]) {
        var text = text
        text.withUTF8 { utf8 in
            var start = 0
            for i in utf8.indices {
                let escaped: UInt8
                switch utf8[i] {
                case UInt8(ascii: "\\"): escaped = UInt8(ascii: "\\")
                case UInt8(ascii: "\t"): escaped = UInt8(ascii: "t")
                case UInt8(ascii: "\n"): escaped = UInt8(ascii: "n")
                case UInt8(ascii: "\r"): escaped = UInt8(ascii: "r")
                default: continue
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i]))
                out.append(UInt8(ascii: "\\"))
                out.append(escaped)
                start = i + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
    }

    /// One field's bytes, `\\`, `\t`, `\n` and `\r` read back.
    private static func unescape(_ part: UnsafeBufferPointer<UInt8>) -> String {
        guard part.contains(UInt8(ascii: "\\")) else { return String(decoding: part, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(part.count)
        var escaped = false
        for byte in part {
            if escaped {
                switch byte {
                case UInt8(ascii: "t"): out.append(UInt8(ascii: "\t"))
                case UInt8(ascii: "n"): out.append(UInt8(ascii: "\n"))
                case UInt8(ascii: "r"): out.append(UInt8(ascii: "\r"))
                default: out.append(byte)
                }
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension MatchReason {
    /// The same values, byte for byte (the facility aside).
    fileprivate func sameBytes(as other: MatchReason) -> Bool {
        code == other.code && field.hasSameUTF8(as: other.field) && requested.hasSameUTF8(as: other.requested)
            && offered.hasSameUTF8(as: other.offered)
            && (detail == nil) == (other.detail == nil) && (detail ?? "").hasSameUTF8(as: other.detail ?? "")
    }
}

import Foundation

/// One capability as VOSI capabilities documents and VOResource records write it: an optional standardID, an
/// optional description and one interface with one access URL.
public struct VOCapability: Sendable, Hashable {
    /// The `xsi:type` of the interface (the `vs` and `vr` prefixes are the ones the documents declare; pyvo needs them).
    public enum InterfaceType: String, Sendable, Hashable {
        /// A machine interface over HTTP (VODataService).
        case paramHTTP = "vs:ParamHTTP"
        /// A page for people (VOResource).
        case webBrowser = "vr:WebBrowser"
    }

    /// `full`: the URL is used as it is; `base`: paths or parameters are appended to it.
    public enum URLUse: String, Sendable, Hashable {
        case full, base
    }

    public var standardID: String?
    public var description: String?
    public var interfaceType: InterfaceType
    public var accessURL: String
    public var use: URLUse
    /// `std` when the interface is the one the standard named by `standardID` defines.
    public var role: String?

    public init(
        standardID: String? = nil, description: String? = nil, interfaceType: InterfaceType = .paramHTTP,
        accessURL: String, use: URLUse = .base, role: String? = nil
    ) {
        self.standardID = standardID
        self.description = description
        self.interfaceType = interfaceType
        self.accessURL = accessURL
        self.use = use
        self.role = role
    }
}

/// Skyport's own interfaces, served under one base URL (`http://host:port`, from the request; empty keeps URLs relative).
public struct BrokerInterfaces: Sendable, Hashable {
    public var baseURL: String

    public init(baseURL: String) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
    }

    /// The capabilities `GET /capabilities` lists: the two VOSI endpoints, the ExecutionBroker API, the UWS 1.1 job
    /// list and the operator API (non-standard: no standardID).
    public var capabilities: [VOCapability] {
        [
            VOCapability(
                standardID: VOSIDocuments.capabilitiesStandardID, accessURL: baseURL + "/capabilities", use: .full, role: "std"),
            VOCapability(
                standardID: VOSIDocuments.availabilityStandardID, accessURL: baseURL + "/availability", use: .full, role: "std"),
            VOCapability(
                standardID: VOSIDocuments.executionBrokerStandardID,
                description: "IVOA ExecutionBroker (draft) API: POST /requests, then GET /offersets/{uuid} and "
                    + "GET or POST /sessions/{uuid}; GET /accepts answers the 2022 ExecutionPlanner probe.",
                accessURL: baseURL.isEmpty ? "/" : baseURL, use: .base, role: "std"),
            VOCapability(
                standardID: VOSIDocuments.uwsStandardID,
                description: "UWS 1.1 job list: jobs of type 'execute' carry an ExecutionBroker request; "
                    + "GET /uws/types lists the job types and their parameters.",
                accessURL: baseURL + "/uws/jobs", use: .base, role: "std"),
            VOCapability(
                description: "Skyport operator API (not an IVOA standard): facility operators register, replace and remove "
                    + "the facilities Skyport brokers to (GET, POST /facilities; GET, PUT, DELETE /facilities/{id}; writes "
                    + "need an operator bearer token). Each facility's VOResource record is at /registry/records/{id}.",
                accessURL: baseURL + "/facilities", use: .base),
        ]
    }
}

/// Writes Skyport's registry documents: its VOSI 1.1 capabilities and availability, and a VOResource 1.1 record
/// (`ri:Resource`, `xsi:type="vr:Service"`) per facility. Pure: values in, XML text out. Text is escaped with
/// `XMLEscape.escape`; prefixes are fixed (`vosi`, `avail`, `ri`, `vr`, `vs`, `xsi`).
public enum VOSIDocuments {
    public static let capabilitiesStandardID = "ivo://ivoa.net/std/VOSI#capabilities"
    public static let availabilityStandardID = "ivo://ivoa.net/std/VOSI#availability"
    /// UWS 1.1's asynchronous job list.
    public static let uwsStandardID = "ivo://ivoa.net/std/UWS#rest-1.1"
    /// The ExecutionBroker draft (ivoa-std/ExecutionBroker) has no registered standardID yet: this is a placeholder in
    /// the IVOA's namespace until one is registered. `@standardID` is an `xs:anyURI`, so any URI is schema-valid, and
    /// Skyport's own harvester (`RegistryMapping`) recognises any standardID containing `executionbroker`.
    public static let executionBrokerStandardID = "ivo://ivoa.net/std/ExecutionBroker"
    /// The prefix of the identifiers Skyport makes for facilities that have no usable IVOA identifier of their own.
    public static let localIdentifierPrefix = "ivo://skyport.local/facility/"

    static let header = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    static let vrNamespace = "http://www.ivoa.net/xml/VOResource/v1.0"
    static let vsNamespace = "http://www.ivoa.net/xml/VODataService/v1.1"
    static let xsiNamespace = "http://www.w3.org/2001/XMLSchema-instance"

    // MARK: - VOSI

    /// The `vosi:capabilities` document for Skyport's own interfaces.
    public static func capabilities(_ interfaces: BrokerInterfaces) -> String {
        capabilities(interfaces.capabilities)
    }

    /// A `vosi:capabilities` document listing `capabilities` as bare (unqualified) `capability` elements.
    public static func capabilities(_ capabilities: [VOCapability]) -> String {
        var out = header + "<vosi:capabilities xmlns:vosi=\"http://www.ivoa.net/xml/VOSICapabilities/v1.0\" "
            + "xmlns:vr=\"\(vrNamespace)\" xmlns:vs=\"\(vsNamespace)\" xmlns:xsi=\"\(xsiNamespace)\">\n"
        for capability in capabilities { out += write(capability, indent: "  ") }
        return out + "</vosi:capabilities>\n"
    }

    /// The `avail:availability` document: `available`, then `upSince` (omitted when nil), then one `note` per note.
    public static func availability(available: Bool, upSince: Date?, notes: [String] = []) -> String {
        var out = header + "<avail:availability xmlns:avail=\"http://www.ivoa.net/xml/VOSIAvailability/v1.0\">\n"
        out += "  <avail:available>\(available)</avail:available>\n"
        if let upSince { out += "  <avail:upSince>\(Timestamp.format(upSince))</avail:upSince>\n" }
        for note in notes { out += "  <avail:note>\(escape(note))</avail:note>\n" }
        return out + "</avail:availability>\n"
    }

    // MARK: - VOResource

    /// The facility's VOResource 1.1 record, a standalone `ri:Resource` of type `vr:Service`:
    /// - `identifier`: see `identifier(for:)`; an `ivo://` id that had to be rewritten is kept as `altIdentifier`.
    /// - `status`: `active` for active and draining facilities, `inactive` for disabled ones.
    /// - `created`/`updated`: the facility's creation and last modification.
    /// - `curation`: the operator that registered the facility as publisher and contact (Skyport knows nothing else).
    /// - `content`: one `subject` per accepted executable kind, the description (or a sentence naming the facility),
    ///   `referenceURL` = the facility's document at `{base}/facilities/{id}`, `type` Other.
    /// - one `capability` per endpoint: see `capability(of:)`.
    public static func record(_ facility: Facility, baseURL: String) -> String {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        let identifier = identifier(for: facility.id)
        let status = facility.status == .disabled ? "inactive" : "active"
        var out = header + "<ri:Resource xmlns:ri=\"http://www.ivoa.net/xml/RegistryInterface/v1.0\" "
            + "xmlns:vr=\"\(vrNamespace)\" xmlns:vs=\"\(vsNamespace)\" xmlns:xsi=\"\(xsiNamespace)\" xsi:type=\"vr:Service\" "
            + "created=\"\(Timestamp.format(facility.created))\" updated=\"\(Timestamp.format(facility.modified))\" status=\"\(status)\">\n"
        let name = facility.name.trimmingWhitespace()
        let title = name.isEmpty ? facility.id.rawValue : name
        out += "  <title>\(escape(title))</title>\n"
        out += "  <identifier>\(escape(identifier))</identifier>\n"
        if identifier.lowercased() != facility.id.key, facility.id.key.hasPrefix("ivo://") {
            out += "  <altIdentifier>\(escape(facility.id.rawValue))</altIdentifier>\n"
        }
        let owner = facility.owner.isEmpty ? "Skyport" : facility.owner
        out += "  <curation>\n    <publisher>\(escape(owner))</publisher>\n"
        out += "    <contact>\n      <name>\(escape(owner))</name>\n    </contact>\n  </curation>\n"
        out += "  <content>\n"
        var subjects: [String] = []
        for kind in facility.accepts where !subjects.contains(kind.rawValue) { subjects.append(kind.rawValue) }
        if subjects.isEmpty { subjects = ["remote-execution"] }  // content needs at least one subject
        for subject in subjects { out += "    <subject>\(escape(subject))</subject>\n" }
        let description = facility.description.trimmingWhitespace()
        let text = description.isEmpty ? "\(title): a facility the Skyport ExecutionBroker runs work on." : description
        out += "    <description>\(escape(text))</description>\n"
        out += "    <referenceURL>\(escape(base + "/facilities/" + pathSegment(facility.id.rawValue)))</referenceURL>\n"
        out += "    <type>Other</type>\n  </content>\n"
        for endpoint in facility.endpoints { out += write(capability(of: endpoint), indent: "  ") }
        return out + "</ri:Resource>\n"
    }

    /// The capability an endpoint gives a facility's record:
    /// - `uws`: UWS 1.1 (`ivo://ivoa.net/std/UWS#rest-1.1`), a `vs:ParamHTTP` interface with `role="std"` at the job list.
    /// - `django-uws`: the same standardID (the same jobs, phases and results) without `role="std"`: it speaks JSON.
    /// - `binderhub`: no standardID; a `vr:WebBrowser` interface at the BinderHub.
    /// - `executionbroker`: `executionBrokerStandardID`, a `vs:ParamHTTP` interface at the broker's base URL.
    public static func capability(of endpoint: Endpoint) -> VOCapability {
        switch endpoint.kind {
        case .uws:
            return VOCapability(standardID: uwsStandardID, description: "UWS 1.1 job list.", accessURL: endpoint.url, role: "std")
        case .djangoUWS:
            return VOCapability(
                standardID: uwsStandardID, description: "UWS job list in ASTRON's django-uws JSON dialect.", accessURL: endpoint.url)
        case .binderhub:
            return VOCapability(
                description: "BinderHub: builds a git repository into a Jupyter server.", interfaceType: .webBrowser,
                accessURL: endpoint.url, use: .full)
        case .executionbroker:
            return VOCapability(
                standardID: executionBrokerStandardID, description: "IVOA ExecutionBroker (draft) API.", accessURL: endpoint.url,
                role: "std")
        }
    }

    /// The VOResource identifier of a facility. An `ivo://` id is used as it is (its scheme lower-cased) when it fits
    /// VOResource's `IdentifierURI` pattern (an authority of at least 3 characters, then `/`-separated non-empty
    /// segments of letters, digits and `-_.!~*'()+=`). Any other id (a URL-safe name such as `binder-one`, or an
    /// `ivo://` id with `?`, `#`, `%`, `:`, ...) becomes `ivo://skyport.local/facility/{id}`, each character outside that
    /// set written as `=XX` per UTF-8 byte (`=` itself as `=3D`), so distinct ids stay distinct:
    /// `binder-one` → `ivo://skyport.local/facility/binder-one`. (Only a facility registered under `ivo://skyport.local/`
    /// itself could share such an identifier: operators should not use that authority.)
    public static func identifier(for id: FacilityID) -> String {
        let raw = id.rawValue
        if raw.lowercased().hasPrefix("ivo://") {
            let candidate = "ivo://" + raw.dropFirst(6)
            if isIdentifierURI(candidate) { return candidate }
        }
        var name = ""
        for byte in raw.utf8 {
            if byte != UInt8(ascii: "="), identifierBytes.contains(byte) {
                name.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                name += "=" + String(hexDigits[Int(byte >> 4)]) + String(hexDigits[Int(byte & 0xF)])
            }
        }
        return localIdentifierPrefix + name
    }

    // MARK: - Writing

    /// Letters, digits and the punctuation VOResource's IdentifierURI pattern allows in an authority or a segment.
    static let hexDigits = Array("0123456789ABCDEF")

    static let identifierBytes: Set<UInt8> = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()+=".utf8)

    /// `ivo://[\w\d][\w\d\-_\.!~\*'\(\)\+=]{2,}(/[\w\d\-_\.!~\*'\(\)\+=]+)*`, restricted to ASCII.
    static func isIdentifierURI(_ text: String) -> Bool {
        guard text.hasPrefix("ivo://") else { return false }
        let parts = text.dropFirst(6).split(separator: "/", omittingEmptySubsequences: false)
        guard let authority = parts.first, authority.utf8.count >= 3,
              let first = authority.first, first.isASCII, first.isLetter || first.isNumber else { return false }
        return parts.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy(identifierBytes.contains) }
    }

    /// One `capability` element, its children in schema order (description, interface).
    static func write(_ capability: VOCapability, indent: String) -> String {
        var out = indent + "<capability"
        if let id = capability.standardID { out += " standardID=\"\(escape(id, attribute: true))\"" }
        out += ">\n"
        if let description = capability.description {
            out += indent + "  <description>\(escape(description))</description>\n"
        }
        out += indent + "  <interface xsi:type=\"\(capability.interfaceType.rawValue)\""
        if let role = capability.role { out += " role=\"\(escape(role, attribute: true))\"" }
        out += ">\n"
        out += indent + "    <accessURL use=\"\(capability.use.rawValue)\">\(escape(capability.accessURL))</accessURL>\n"
        out += indent + "  </interface>\n"
        return out + indent + "</capability>\n"
    }

    static func escape(_ text: String, attribute: Bool = false) -> String { XMLEscape.escape(text, attribute: attribute) }

    /// The id as one path segment, as `Location` headers write it.
    static func pathSegment(_ id: String) -> String {
        let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        return id.addingPercentEncoding(withAllowedCharacters: unreserved) ?? id
    }
}

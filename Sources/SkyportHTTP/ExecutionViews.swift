import Foundation
import SkyportCore

/// The ExecutionBroker v1.0 documents Skyport writes: offer sets and sessions, with Skyport's extensions
/// (`facility`, `request`, `rejected`) beside the standard fields.
enum ExecutionViews {
    static let sessionKind = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/session/scheduled-execution-session.yaml"
    /// The root elements of the spec's XML media type.
    static let offerSetXMLRoot = "offers-response"
    static let sessionXMLRoot = "execution"
    static let computeKind = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/compute/simple-compute-resource.yaml"

    struct Meta: Encodable {
        var uuid: String
        var name: String?
        var url: String
        // Times are written here (as the canonical encoder would), not by the encoder's date closure: an offer set
        // of a federation holds hundreds of them.
        var created: String
        var modified: String?
        var messages: [BrokerMessage]?
    }
    struct MinMax: Encodable {
        var min: Int
        var max: Int
    }
    /// A lifecycle schedule: preparing (staging the data in), available (the booked slot), releasing.
    struct Schedule: Encodable {
        struct Span: Encodable {
            var start: String
            var duration: String
        }
        var preparing: Span
        var available: Span
        var releasing: Span
    }
    struct FacilityRef: Encodable {
        var id: String
        var name: String
        var url: String
    }
    struct Connector: Encodable {
        var kind: String
        var status: String
        var `protocol`: String
        var location: String
    }
    struct Progress: Encodable {
        var phase: String?
        var message: String?
    }
    struct Result: Encodable {
        var id: String
        var href: String
    }
    /// Skyport's extension on an offer another broker made: which broker, and its own session for it.
    struct Federated: Encodable {
        var broker: String
        var session: String
    }
    struct Session: Encodable {
        var kind = sessionKind
        var meta: Meta
        var phase: SessionPhase
        var expires: String?
        /// The request's components as it wrote them (the spec's shapes), with what the broker owns overlaid: each
        /// component's `meta`, `phase` and `schedule`, and the negotiated cores and memory.
        var executable: Component
        var compute: Component
        var storage: [Component]?
        var data: [Component]?
        var costs: [JSONValue]?
        var metrics: [JSONValue]?
        var schedule: Schedule
        var facility: FacilityRef
        var offerset: String
        var connectors: [Connector]
        /// Skyport's extensions: the forwarded job's results and a word on how it went.
        var results: [Result]?
        var message: String?
        /// While the facility prepares the job: its phase and latest message (a BinderHub build's progress).
        var progress: Progress?
        var federated: Federated?
        /// Skyport's extension: the estimated time to stage in the data the facility does not hold (ISO-8601).
        var staging: String?
    }
    struct OfferSet: Encodable {
        var kind = "urn:skyport:offerset-response"
        var meta: Meta
        var result: String
        var expires: String
        var offers: [Session]
        var request: NormalisedRequest
        var rejected: Rejections
        /// Skyport's extensions: how many facilities passed each matching clause in turn, and how the ones that fit
        /// were ordered.
        var funnel: MatchFunnel?
        var ranking: String?
    }
    /// An offer set's rejected facilities with their reasons, for one audience: written straight from the stored
    /// rejections (`JSONWritable`), without a `Rejection` made for each first (most of an offer set's answer, rendered
    /// for every offer request); encoded as the array of `Rejection`s.
    struct Rejections: Encodable {
        var list: RejectionList
        var audience: ReasonAudience
        var rejections: [MatchRejection] { list.items }

        func encode(to encoder: any Encoder) throws {
            try rejections.map { Rejection($0, for: audience) }.encode(to: encoder)
        }
    }
    /// A rejected facility with its reasons, the sentences rendered for the caller (stored are codes and values).
    struct Rejection: Encodable {
        struct Reason: Encodable {
            var code: MatchReasonCode
            var field: String
            var requested: String
            var offered: String
            var message: String
        }
        var facility: FacilityID
        var reasons: [Reason]

        init(_ r: MatchRejection, for audience: ReasonAudience) {
            facility = r.facility
            reasons = r.reasons.map {
                Reason(code: $0.code, field: $0.field, requested: $0.requested, offered: $0.offered, message: $0.message(for: audience))
            }
        }
    }

    static func session(_ s: SessionRecord, base: String, now: Date, request: NormalisedRequest? = nil) -> Session {
        let phase = s.phase(at: now)
        let id = s.id.lowercasedText
        let url = "\(base)/sessions/\(id)"
        let schedule = Schedule(
            preparing: .init(start: Timestamp.format(s.start), duration: Self.stagingDuration(s.staging ?? 0)),
            available: .init(start: "\(Timestamp.format(s.start))/PT0S", duration: s.duration.description),
            releasing: .init(start: Timestamp.format(s.end), duration: "PT0S"))
        let parts = SessionComponents(session: s, url: url, phase: componentPhase(phase), schedule: schedule, components: request?.components)
        return Session(
            meta: Meta(
                uuid: id, name: request?.name, url: url, created: Timestamp.format(s.created), modified: Timestamp.format(s.modified),
                messages: phase == .failed ? s.message.map { [BrokerMessage(kind: "urn:session-failed", level: .ERROR, time: s.modified, message: $0)] } : nil),
            phase: phase, expires: phase == .offered ? Timestamp.format(s.expires) : nil,
            executable: parts.executable, compute: parts.compute, storage: parts.storage, data: parts.data,
            costs: request?.components.flatMap { $0.costs.isEmpty ? nil : $0.costs },
            metrics: request?.components.flatMap { $0.metrics.isEmpty ? nil : $0.metrics },
            schedule: schedule,
            facility: FacilityRef(id: s.facility.rawValue, name: s.facilityName, url: base + FacilityController.location(s.facility)),
            offerset: "\(base)/offersets/\(s.offerSet.lowercasedText)",
            connectors: connectors(s), results: s.remote.map { $0.results.map { Result(id: $0.id, href: $0.href) } }.flatMap { $0.isEmpty ? nil : $0 },
            message: s.message,
            progress: s.remote.flatMap { r in
                [.accepted, .waiting, .preparing].contains(phase) && (r.phase != nil || r.progress != nil)
                    ? Progress(phase: r.phase?.word, message: r.progress) : nil
            },
            federated: s.remote.flatMap { r in r.offer.map { Federated(broker: s.facility.rawValue, session: $0) } },
            staging: s.staging.map(Self.stagingDuration))
    }

    /// A staging estimate as an ISO-8601 duration, whole seconds rounded up (a stored value is never trusted to fit).
    static func stagingDuration(_ seconds: Double) -> String {
        let bounded = seconds.isFinite ? Swift.min(Swift.max(seconds, 0), 1e10) : 0
        return ISODuration(seconds: Int(bounded.rounded(.up))).description
    }

    /// A component's lifecycle phase for a session phase (components have no offer phases of their own).
    static func componentPhase(_ p: SessionPhase) -> String {
        switch p {
        case .initial, .offered, .accepted: return "INITIALIZING"
        case .rejected, .expired, .cancelled: return "CANCELLED"
        default: return p.rawValue
        }
    }

    /// The forwarded job, as an ExecutionBroker connector: where to follow it at the facility.
    static func connectors(_ s: SessionRecord) -> [Connector] {
        guard let remote = s.remote, let url = remote.access ?? remote.url else { return [] }
        let status: String
        switch s.phase {
        case .completed, .failed, .cancelled, .expired, .rejected: status = "FINISHED"
        case .available, .running: status = "AVAILABLE"
        default: status = "PREPARING"
        }
        let scheme = URL(string: url)?.scheme?.uppercased() ?? "HTTP"
        // A notebook server is the user's way in; any other forwarded job is followed at its facility.
        let kind = remote.access != nil ? "urn:skyport:connector:jupyter-notebook" : "urn:skyport:connector:\(remote.endpoint.kind.rawValue)-job"
        return [Connector(kind: kind, status: status, protocol: scheme, location: url)]
    }

    /// The offer set as `audience` sees it: operators read every rejection's details, anyone else no facility's probe
    /// details, and of other brokers only a status and a short reason.
    static func offerSet(_ set: OfferSetRecord, _ sessions: [SessionRecord], base: String, now: Date, audience: ReasonAudience) -> OfferSet {
        OfferSet(
            meta: Meta(
                uuid: set.id.lowercasedText, url: "\(base)/offersets/\(set.id.lowercasedText)", created: Timestamp.format(set.created),
                messages: set.messages.isEmpty ? nil : set.messages),
            result: sessions.isEmpty ? "NO" : "YES", expires: Timestamp.format(set.expires),
            offers: sessions.map { session($0, base: base, now: now, request: set.request) }, request: set.request,
            rejected: Rejections(list: set.rejectionList, audience: audience), funnel: set.funnel, ranking: set.ranking?.rawValue)
    }
}

import Foundation
import SkyportCore

/// The ExecutionBroker v1.0 documents Skyport writes: offer sets and sessions, with Skyport's extensions
/// (`facility`, `request`, `rejected`) beside the standard fields.
enum ExecutionViews {
    static let sessionKind = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/session/scheduled-execution-session.yaml"
    static let computeKind = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/compute/simple-compute-resource.yaml"

    struct Meta: Encodable {
        var uuid: String
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
    struct Executable: Encodable {
        var kind: String?
        var location: String?
        var repository: String?
        var ref: String?
        var path: String?
        var images: [String]?
        var parameters: [String: String]?
    }
    struct Compute: Encodable {
        var kind = computeKind
        var cores: MinMax
        var memory: MinMax
        /// Skyport's extension: GPUs offered.
        var gpus: MinMax?
    }
    struct Schedule: Encodable {
        struct Available: Encodable {
            var start: String
            var duration: String
        }
        var available: Available
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
        var executable: Executable
        var compute: Compute
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
        var rejected: [Rejection]
        /// Skyport's extensions: how many facilities passed each matching clause in turn, and how the ones that fit
        /// were ordered.
        var funnel: MatchFunnel?
        var ranking: String?
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

    static func session(_ s: SessionRecord, base: String, now: Date) -> Session {
        let phase = s.phase(at: now)
        let e = s.executable
        return Session(
            meta: Meta(uuid: s.id.uuidString.lowercased(), url: "\(base)/sessions/\(s.id.uuidString.lowercased())", created: Timestamp.format(s.created),
                       modified: Timestamp.format(s.modified)),
            phase: phase, expires: phase == .offered ? Timestamp.format(s.expires) : nil,
            executable: Executable(
                kind: e.kind?.uri, location: e.location, repository: e.repository, ref: e.ref, path: e.path,
                images: e.images.isEmpty ? nil : e.images, parameters: e.parameters.isEmpty ? nil : e.parameters),
            compute: Compute(
                cores: MinMax(min: s.cores, max: s.cores), memory: MinMax(min: s.memory, max: s.memory), gpus: s.gpus.map { MinMax(min: $0, max: $0) }),
            schedule: Schedule(available: .init(start: "\(Timestamp.format(s.start))/PT0S", duration: s.duration.description)),
            facility: FacilityRef(id: s.facility.rawValue, name: s.facilityName, url: base + FacilityController.location(s.facility)),
            offerset: "\(base)/offersets/\(s.offerSet.uuidString.lowercased())",
            connectors: connectors(s), results: s.remote.map { $0.results.map { Result(id: $0.id, href: $0.href) } }.flatMap { $0.isEmpty ? nil : $0 },
            message: s.message,
            progress: s.remote.flatMap { r in
                [.accepted, .waiting, .preparing].contains(phase) && (r.phase != nil || r.progress != nil)
                    ? Progress(phase: r.phase?.word, message: r.progress) : nil
            },
            federated: s.remote.flatMap { r in r.offer.map { Federated(broker: s.facility.rawValue, session: $0) } },
            staging: s.staging.map { ISODuration(seconds: Int($0.rounded(.up))).description })
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
                uuid: set.id.uuidString.lowercased(), url: "\(base)/offersets/\(set.id.uuidString.lowercased())", created: Timestamp.format(set.created),
                messages: set.messages.isEmpty ? nil : set.messages),
            result: sessions.isEmpty ? "NO" : "YES", expires: Timestamp.format(set.expires),
            offers: sessions.map { session($0, base: base, now: now) }, request: set.request,
            rejected: set.rejections.map { Rejection($0, for: audience) }, funnel: set.funnel, ranking: set.ranking?.rawValue)
    }
}

import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import SkyportCore

/// The scientist's face, compatible with the IVOA ExecutionBroker v1.0 API: ask where a request can run
/// (`POST /requests`), read the offers, and accept, reject or cancel a session.
struct ExecutionRoutes {
    let deps: APIDependencies

    func register(on table: inout RouteTable<BasicRequestContext>) {
        table.add(.post, "/requests") { request, context in
            let now = deps.now()
            let (document, bytes) = try await Representation.readDocumentAndBytes(request, limit: deps.maxBodyBytes)
            let key = try Self.idempotencyKey(request)
            let digest = key.map { _ in SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() }
            let parsed = try ExecutionRequestParser.parse(document, now: now)
            let facilities = try await deps.store.facilities(FacilityQuery())
            let outcome = Matcher.match(parsed, against: facilities)
            let planner = OfferPlanner(settings: deps.planner)
            let creation = try await deps.store.createOfferSet(
                idempotencyKey: key, requestDigest: digest, facilities: outcome.rankedIDs, now: now
            ) { bookings in
                Self.records(parsed, outcome: outcome, plan: planner.plan(parsed, outcome: outcome, bookings: bookings, now: now), now: now,
                             settings: deps.planner, idempotencyKey: key, digest: digest)
            }
            let id: UUID
            switch creation {
            case .created(let set, let offers):
                id = set.id
                context.logger.info("offer set created", metadata: [
                    "offerset": .string(id.uuidString), "offers": .stringConvertible(offers.count),
                    "rejected": .stringConvertible(outcome.rejectedCount),
                ])
            case .replayed(let existing):
                id = existing
            }
            guard let (set, sessions) = try await deps.store.offerSet(id) else { throw APIError.notFound("offer set \(id)") }
            let base = Self.base(request)
            return try Representation.response(
                ExecutionViews.offerSet(set, sessions, base: base, now: now), status: .seeOther, for: request,
                headers: [.location: "\(base)/offersets/\(id.uuidString.lowercased())"])
        }

        table.add(.get, "/offersets/{uuid}") { request, context in
            let id = try Self.uuid(context)
            guard let (set, sessions) = try await deps.store.offerSet(id) else { throw APIError.notFound("offer set \(id.uuidString.lowercased())") }
            return try Representation.response(ExecutionViews.offerSet(set, sessions, base: Self.base(request), now: deps.now()), for: request)
        }

        table.add(.get, "/sessions/{uuid}") { request, context in
            let id = try Self.uuid(context)
            guard let session = try await deps.store.session(id) else { throw APIError.notFound("session \(id.uuidString.lowercased())") }
            return try Representation.response(ExecutionViews.session(session, base: Self.base(request), now: deps.now()), for: request)
        }

        table.add(.post, "/sessions/{uuid}") { request, context in
            let id = try Self.uuid(context)
            let target = try Self.phaseUpdate(try await Representation.readDocument(request, limit: deps.maxBodyBytes))
            let now = deps.now()
            let session: SessionRecord
            do {
                session = try await deps.store.changePhase(of: id, to: target, now: now)
            } catch let refusal as SessionLifecycle.Refusal {
                let code: String
                switch refusal {
                case .expired: code = "offer-expired"
                case .siblingAccepted: code = "offer-set-already-accepted"
                case .illegal: code = "illegal-transition"
                case .notClientSettable: code = "phase-not-settable"
                }
                let status: HTTPResponse.Status = refusal == .notClientSettable(target) ? .unprocessableContent : .conflict
                throw APIError(status, code: code, refusal.description, errors: [FieldError("value", refusal.description)])
            }
            context.logger.info("session phase changed", metadata: ["session": .string(id.uuidString), "phase": .string(session.phase.rawValue)])
            return try Representation.response(ExecutionViews.session(session, base: Self.base(request), now: now), for: request)
        }
    }

    /// Builds the offer set and its sessions from the planner's offers (pure: runs inside the store's transaction).
    static func records(
        _ request: NormalisedRequest, outcome: MatchOutcome, plan: OfferPlan, now: Date, settings: OfferPlanner.Settings,
        idempotencyKey: String?, digest: String?
    ) -> (OfferSetRecord, [SessionRecord]) {
        let setID = UUID()
        let names = Dictionary(outcome.candidates.map { ($0.facility.id.key, $0.facility.name) }, uniquingKeysWith: { a, _ in a })
        let expires = now.addingTimeInterval(settings.offerLifetime)
        let sessions = plan.offers.enumerated().map { i, offer in
            SessionRecord(
                id: UUID(), offerSet: setID, facility: offer.facility, facilityName: names[offer.facility.key] ?? offer.facility.rawValue,
                phase: .offered, created: now, expires: offer.expires, cores: offer.cores, memory: offer.memory, start: offer.start,
                duration: offer.duration, rank: i, executable: request.executable)
        }
        var messages = plan.notes.map { BrokerMessage(kind: "urn:\($0.code.rawValue)", level: .INFO, time: now, message: $0.message) }
        messages += request.notes.map {
            BrokerMessage(kind: "urn:request-note", level: $0.level == .warning ? .WARN : .INFO, time: now, message: "\($0.field): \($0.message)")
        }
        if sessions.isEmpty {
            let why = outcome.isMatch
                ? "no accepted facility has capacity inside the requested start window"
                : "no facility can run this request: \(outcome.rejectedCount) rejected (see rejected[] for each facility's reasons)"
            messages.insert(BrokerMessage(kind: "urn:no-offers", level: .WARN, time: now, message: why), at: 0)
        }
        let set = OfferSetRecord(
            id: setID, created: now, expires: expires, request: request, messages: messages, rejections: outcome.rejections,
            idempotencyKey: idempotencyKey, requestDigest: digest)
        return (set, sessions)
    }

    /// `{"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}` → the phase asked for.
    static func phaseUpdate(_ doc: JSONValue) throws -> SessionPhase {
        var errors = FieldErrors()
        if let kind = doc["kind"], kind.stringValue != "uri:enum-value-update" {
            errors.add("kind", "only uri:enum-value-update is supported")
        }
        let path = doc["path"]?.stringValue
        if path != "phase" && path != "/phase" { errors.add("path", "must be 'phase'") }
        let value = doc["value"]?.stringValue
        let phase = value.flatMap { SessionPhase(rawValue: $0.uppercased()) }
        if phase == nil {
            errors.add("value", "'\(value ?? "")' is not a session phase: use ACCEPTED, REJECTED or CANCELLED")
        }
        guard let phase, errors.isEmpty else { throw APIError.invalid(ValidationFailure(errors.all)) }
        return phase
    }

    static func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[HTTPField.Name("Idempotency-Key")!] else { return nil }
        guard !key.isEmpty, key.utf8.count <= 255, key.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw APIError.badRequest("Idempotency-Key must be 1 to 255 printable ASCII characters", field: "Idempotency-Key")
        }
        return key
    }

    static func uuid(_ context: BasicRequestContext) throws -> UUID {
        let raw = try context.parameters.require("uuid")
        guard let id = UUID(uuidString: raw) else { throw APIError.notFound("'\(raw)'") }
        return id
    }

    /// `http://host:port` from the request's Host header (empty, so that URLs stay relative, when there is none).
    static func base(_ request: Request) -> String {
        guard let host = request.head.authority, !host.isEmpty,
              host.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "/") }) else { return "" }
        return "http://\(host)"
    }
}

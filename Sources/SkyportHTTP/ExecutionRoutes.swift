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
            let path = try Self.federationPath(request, broker: deps.federation?.brokerID)
            let parsed = try ExecutionRequestParser.parse(document, now: now)
            let (set, sessions) = try await Negotiation(deps: deps).negotiateSet(
                parsed, idempotencyKey: key, digest: digest, now: now, path: path, logger: context.logger)
            let id = set.id
            let base = Self.base(request)
            return try Representation.response(
                ExecutionViews.offerSet(set, deps.reveal(sessions), base: base, now: now), status: .seeOther, for: request,
                headers: [.location: "\(base)/offersets/\(id.uuidString.lowercased())"])
        }

        table.add(.get, "/offersets/{uuid}") { request, context in
            let id = try Self.uuid(context)
            guard let (set, sessions) = try await deps.store.offerSet(id) else { throw APIError.notFound("offer set \(id.uuidString.lowercased())") }
            return try Representation.response(ExecutionViews.offerSet(set, deps.reveal(sessions), base: Self.base(request), now: deps.now()), for: request)
        }

        table.add(.get, "/sessions/{uuid}") { request, context in
            let id = try Self.uuid(context)
            guard var session = try await deps.store.session(id) else { throw APIError.notFound("session \(id.uuidString.lowercased())") }
            if let wait = try Self.wait(request) {
                session = try await Self.waitForChange(session, from: wait.phase, seconds: wait.seconds, deps: deps)
            }
            return try Representation.response(ExecutionViews.session(deps.reveal(session), base: Self.base(request), now: deps.now()), for: request)
        }

        table.add(.post, "/sessions/{uuid}") { request, context in
            let id = try Self.uuid(context)
            let target = try Self.phaseUpdate(try await Representation.readDocument(request, limit: deps.maxBodyBytes))
            let now = deps.now()
            let session: SessionRecord
            do {
                session = try await deps.changePhase(of: id, to: target, now: now)
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
            return try Representation.response(ExecutionViews.session(deps.reveal(session), base: Self.base(request), now: now), for: request)
        }
    }

    /// The brokers the request passed through (`Skyport-Via`); a request that already passed through this broker,
    /// or through too many, is refused with 508 Loop Detected.
    static func federationPath(_ request: Request, broker id: String?) throws -> FederationPath {
        let path = FederationPath(header: request.headers[HTTPField.Name(FederationPath.header)!])
        guard let refusal = path.refusal(at: id ?? "") else { return path }
        throw APIError(HTTPResponse.Status(code: 508, reasonPhrase: "Loop Detected"), code: "federation-loop", refusal,
                       errors: [FieldError(FederationPath.header, refusal)])
    }

    /// `?wait=N` (seconds, at most 60) with an optional `phase=P`: hold the answer until the session leaves phase
    /// `P` (its phase now when not given), as UWS `WAIT` does. Another Skyport following this one uses it.
    static func wait(_ request: Request) throws -> (seconds: Int, phase: SessionPhase?)? {
        let query = request.uri.queryParameters
        guard let text = query.get("wait") else { return nil }
        guard let seconds = Int(text), seconds >= 0 else { throw APIError.badRequest("'\(text)' is not a number of seconds", field: "wait") }
        var phase: SessionPhase?
        if let word = query.get("phase") {
            guard let p = SessionPhase(rawValue: word.uppercased()) else { throw APIError.badRequest("'\(word)' is not a session phase", field: "phase") }
            phase = p
        }
        return (min(seconds, 60), phase)
    }

    static func waitForChange(_ session: SessionRecord, from phase: SessionPhase?, seconds: Int, deps: APIDependencies) async throws -> SessionRecord {
        let from = phase ?? session.phase(at: deps.now())
        guard session.phase(at: deps.now()) == from, !from.isFinal else { return session }
        let end = ContinuousClock.now + .seconds(seconds)
        var current = session
        while ContinuousClock.now < end, current.phase(at: deps.now()) == from {
            try await Task.sleep(for: .milliseconds(200))
            guard let fresh = try await deps.store.session(session.id) else { break }
            current = fresh
        }
        return current
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

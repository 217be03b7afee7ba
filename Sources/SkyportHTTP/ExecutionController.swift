import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import SkyportBroker
import SkyportCore

/// The scientist's face, compatible with the IVOA ExecutionBroker v1.0 API: ask where a request can run
/// (`POST /requests`), read the offers, and accept, reject or cancel a session.
struct ExecutionController: Controller {
    let deps: APIDependencies

    func register(on table: inout RouteTable<SkyportRequestContext>) {
        table.add(.post, "/requests") { request, context in
            let now = deps.now
            let (document, key, digest, path) = try await asked(request)
            try checkBody(document, request, "/requests")
            let parsed = try ExecutionRequestParser.parse(document, now: now, egress: deps.broker.egress)
            let (set, sessions) = try await deps.admitted {
                try await deps.broker.negotiation.negotiateSet(
                    parsed, idempotencyKey: Negotiation.scoped(key, owner: context.owner), digest: digest, now: now, path: path,
                    owner: context.owner, requester: context.requester, actor: context.who, logger: context.logger)
            }
            let base = Self.base(request)
            return try Representation.response(
                writing: ExecutionViews.offerSet(set, sessions.map(deps.broker.sessions.reveal), base: base, now: now, audience: context.reasonAudience),
                status: .seeOther, for: request,
                headers: [.location: "\(base)/offersets/\(set.id.lowercasedText)"], xmlRoot: ExecutionViews.offerSetXMLRoot)
        }

        table.add(.post, "/direct") { request, context in
            let now = deps.now
            let (document, key, digest, path) = try await asked(request)
            let parsed: NormalisedRequest
            do {
                try checkBody(document, request, "/direct")
                parsed = try ExecutionRequestParser.parse(document, now: now, egress: deps.broker.egress)
            } catch let failure as ValidationFailure {
                // The spec answers a request it rejects with 400.
                throw APIError(.badRequest, code: "invalid-request", "the request document is not valid", errors: failure.errors)
            }
            let session = try await deps.admitted {
                try await deps.broker.negotiation.direct(
                    parsed, idempotencyKey: Negotiation.scoped(key, owner: context.owner), digest: digest, now: now, path: path,
                    owner: context.owner, requester: context.requester, viewer: context.viewer, actor: context.who, bearer: context.bearer,
                    logger: context.logger)
            }
            let base = Self.base(request)
            return try Representation.response(
                writing: ExecutionViews.session(deps.broker.sessions.reveal(session), base: base, now: now, request: parsed), status: .seeOther,
                for: request, headers: [.location: "\(base)/sessions/\(session.id.lowercasedText)"], xmlRoot: ExecutionViews.sessionXMLRoot)
        }

        table.add(.get, "/offersets/{uuid}") { request, context in
            let (set, sessions) = try await deps.broker.sessions.offerSet(try Self.uuid(context), as: context.viewer)
            return try Representation.response(
                writing: ExecutionViews.offerSet(set, sessions, base: Self.base(request), now: deps.now, audience: context.reasonAudience), for: request,
                xmlRoot: ExecutionViews.offerSetXMLRoot)
        }

        table.add(.get, "/sessions/{uuid}") { request, context in
            let session = try await deps.broker.sessions.session(try Self.uuid(context), wait: try Self.wait(request), as: context.viewer)
            return try Representation.response(
                writing: ExecutionViews.session(session, base: Self.base(request), now: deps.now, request: await deps.broker.sessions.request(of: session)),
                for: request, xmlRoot: ExecutionViews.sessionXMLRoot)
        }

        table.add(.post, "/sessions/{uuid}") { request, context in
            let id = try Self.uuid(context)
            let target = try Self.phaseUpdate(try await APIContract.readBody(request, limit: deps.maxBodyBytes, .post, "/sessions/{uuid}"))
            let session = try await deps.broker.sessions.changePhase(
                of: id, to: target, as: context.viewer, actor: context.who, bearer: context.bearer, logger: context.logger)
            context.logger.info("session phase changed", metadata: [
                "session": .string(id.text), "phase": .string(session.phase.rawValue), "who": .string(context.who),
            ])
            return try Representation.response(
                writing: ExecutionViews.session(session, base: Self.base(request), now: deps.now, request: await deps.broker.sessions.request(of: session)),
                for: request, xmlRoot: ExecutionViews.sessionXMLRoot)
        }
    }

    /// Checks a JSON or YAML request against the spec's schema (XML, whose types are inferred, is read leniently).
    func checkBody(_ document: JSONValue, _ request: Request, _ path: String) throws {
        guard try Representation.bodyFormat(request, xml: true) != .xml else { return }
        try APIContract.checkBody(document, .post, path)
    }

    /// What `POST /requests` and `/direct` read before parsing: the document (JSON, YAML or XML), the client's
    /// Idempotency-Key with a digest of the body it came with, and the brokers the request passed through.
    func asked(_ request: Request) async throws -> (JSONValue, key: String?, digest: String?, FederationPath) {
        let (document, bytes) = try await Representation.readDocumentAndBytes(request, limit: deps.maxBodyBytes, xml: true)
        let key = try Self.idempotencyKey(request)
        let digest = key.map { _ in SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() }
        return (document, key, digest, try Self.federationPath(request, broker: deps.broker.federation?.brokerID))
    }

    /// The brokers the request passed through (`Skyport-Via`); a request that already passed through this broker,
    /// or through too many, is refused with 508 Loop Detected.
    static func federationPath(_ request: Request, broker id: String?) throws -> FederationPath {
        let path = FederationPath(header: request.headers[HTTPField.Name(FederationPath.header)!])
        guard let refusal = path.refusal(at: id ?? "") else { return path }
        throw BrokerError.federationLoop(refusal)
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
        return (seconds, phase)
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

    static func uuid(_ context: SkyportRequestContext) throws -> UUID {
        let raw = try context.parameter("uuid")
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

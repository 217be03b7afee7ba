import Foundation
import Hummingbird
import SkyportCore

/// The operator's face: register, list, read, replace and remove facilities.
/// Reads are public; writes need an operator's bearer token, and an operator changes only its own facilities.
struct FacilityRoutes {
    let deps: APIDependencies

    func register(on table: inout RouteTable<BasicRequestContext>) {
        table.add(.get, "/facilities") { request, _ in
            let query = try Self.query(request.uri.queryParameters)
            let documents = try await deps.store.facilitiesJSON(query)
            // The stored documents are served as they are: the list is assembled, not re-encoded.
            return try Representation.response(
                json: "{\"count\":\(documents.count),\"facilities\":[" + documents.joined(separator: ",") + "]}", for: request)
        }

        table.add(.post, "/facilities") { request, context in
            let owner = try await authenticate(request)
            let document = try await Representation.readDocument(request, limit: deps.maxBodyBytes)
            let facility = try validate(document, pathID: nil, owner: owner, created: deps.now(), over: nil)
            try await deps.store.insertFacility(facility)
            context.logger.info("facility registered", metadata: ["facility": .string(facility.id.rawValue), "operator": .string(owner)])
            return try Representation.response(
                facility, status: .created, for: request, headers: [.location: Self.location(facility.id)])
        }

        table.add(.get, "/facilities/{id}") { request, context in
            let id = try Self.pathID(context)
            guard let document = try await deps.store.facilityJSON(id) else { throw APIError.notFound("facility '\(id)'") }
            return try Representation.response(json: try Self.withHealth(document, deps.health?.board[id]), for: request)
        }

        table.add(.put, "/facilities/{id}") { request, context in
            let id = try Self.pathID(context)
            let owner = try await authenticate(request)
            let document = try await Representation.readDocument(request, limit: deps.maxBodyBytes)
            guard let existing = try await deps.store.facility(id) else { throw APIError.notFound("facility '\(id)'") }
            try Self.checkOwner(existing, owner)
            var facility = try validate(document, pathID: existing.id, owner: owner, created: existing.created, over: existing)
            facility.id = existing.id  // keep the spelling first registered
            try await deps.store.replaceFacility(facility)
            context.logger.info("facility replaced", metadata: ["facility": .string(facility.id.rawValue), "operator": .string(owner)])
            return try Representation.response(facility, for: request)
        }

        table.add(.post, "/facilities/{id}/refresh") { request, context in
            let id = try Self.pathID(context)
            let owner = try await authenticate(request)
            guard let existing = try await deps.store.facility(id) else { throw APIError.notFound("facility '\(id)'") }
            if existing.owner != Self.registryOwner { try Self.checkOwner(existing, owner) }
            let facility = try await refresh(existing)
            context.logger.info("facility refreshed", metadata: [
                "facility": .string(facility.id.rawValue), "operator": .string(owner),
                "capabilities": .string(RegistryMapping.capabilitiesURL(of: facility) ?? ""),
            ])
            return try Representation.response(facility, for: request)
        }

        table.add(.delete, "/facilities/{id}") { request, context in
            let id = try Self.pathID(context)
            let owner = try await authenticate(request)
            guard let existing = try await deps.store.facility(id) else { throw APIError.notFound("facility '\(id)'") }
            try Self.checkOwner(existing, owner)
            switch try await deps.store.removeFacility(id, now: deps.now()) {
            case .removed:
                context.logger.info("facility removed", metadata: ["facility": .string(existing.id.rawValue), "operator": .string(owner)])
                return Response(status: .noContent)
            case .notFound:
                throw APIError.notFound("facility '\(id)'")
            case .drained(let live):
                throw APIError(
                    .conflict, code: "facility-has-live-jobs",
                    "facility '\(existing.id)' has \(live) live job(s): it is now draining (no new work); delete it again once they have ended")
            }
        }
    }

    /// The stored document with the facility's last health check added as `health` (status, reason, checked, since);
    /// as stored when it has not been probed (or no health service runs).
    static func withHealth(_ document: String, _ health: FacilityHealth?) throws -> String {
        guard let health, case .object(var object) = try CanonicalJSON.decode(JSONValue.self, document) else { return document }
        var view: [String: JSONValue] = [
            "status": .string(health.status.rawValue),
            "checked": .string(Timestamp.format(health.checked)),
            "since": .string(Timestamp.format(health.since)),
        ]
        if let reason = health.reason { view["reason"] = .string(reason) }
        object["health"] = .object(view)
        return try CanonicalJSON.encode(JSONValue.object(object))
    }

    /// The operator named by the request's bearer token; 401 when there is none or it is unknown.
    func authenticate(_ request: Request) async throws -> String {
        guard let header = request.headers[.authorization] else { throw APIError.unauthorized }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw APIError.unauthorized }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty, token.utf8.count <= 256,
              let name = try await deps.store.operatorName(forTokenHash: OperatorToken.hash(token)) else {
            throw APIError(.unauthorized, code: "unauthorized", "the bearer token is not valid", headers: [.wwwAuthenticate: "Bearer realm=\"skyport\", error=\"invalid_token\""])
        }
        return name
    }

    /// The facility an operator's document gives, with the provenance of what it wrote (`Facility.written`).
    func validate(_ document: JSONValue, pathID: FacilityID?, owner: String, created: Date, over existing: Facility?) throws -> Facility {
        let now = deps.now()
        let parsed = try FacilityDocument(document)
        let facility = try parsed.validated(pathID: pathID, owner: owner, created: created, now: now)
        return Facility.written(facility, fields: parsed.writtenFields, by: owner, over: existing, at: now)
    }

    /// The owner of harvested facilities: any operator may refresh them.
    static let registryOwner = "registry"

    /// Refreshes a facility from its VOSI capabilities and stores it: 409 when it has no capabilities URL, 503 when
    /// refreshing is not configured, 502 (the facility unchanged) when the service fails or describes nothing usable.
    func refresh(_ existing: Facility) async throws -> Facility {
        guard let text = RegistryMapping.capabilitiesURL(of: existing), let url = URL(string: text) else {
            let message = "facility '\(existing.id)' has no VOSI capabilities URL: its registry record names none "
                + "(provenance.capabilities) and it has no uws endpoint to find <base>/capabilities beside"
            throw APIError(.conflict, code: "no-capabilities-url", message, errors: [FieldError("endpoints", "has no uws endpoint, and provenance.capabilities is not set")])
        }
        guard let fetch = deps.capabilities else {
            throw APIError(.serviceUnavailable, code: "refresh-unavailable", "this broker is not configured to read VOSI capabilities")
        }
        let capabilities: [RegistryCapability]
        do {
            capabilities = try await fetch(url)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw APIError(
                .badGateway, code: "capabilities-unavailable",
                "reading the VOSI capabilities of facility '\(existing.id)' at \(text) failed: \(error); the facility is unchanged",
                errors: [FieldError("capabilities", "\(error)")])
        }
        // Read again: an operator may have written the facility while the service answered.
        guard let current = try await deps.store.facility(existing.id) else { throw APIError.notFound("facility '\(existing.id)'") }
        switch RegistryMapping.refresh(current, capabilities: capabilities, from: text, now: deps.now()) {
        case .failure(let reason):
            throw APIError(
                .badGateway, code: "capabilities-unusable",
                "the VOSI capabilities at \(text) describe nothing Skyport can run work on (\(reason)); the facility is unchanged",
                errors: [FieldError("capabilities", reason.description)])
        case .success(let refreshed):
            try await deps.store.replaceFacility(refreshed)
            return refreshed
        }
    }

    static func checkOwner(_ facility: Facility, _ owner: String) throws {
        guard facility.owner == owner else {
            throw APIError(.forbidden, code: "forbidden", "facility '\(facility.id)' belongs to another operator")
        }
    }

    static func pathID(_ context: BasicRequestContext) throws -> FacilityID {
        let raw = try context.parameters.require("id")
        guard let decoded = raw.removingPercentEncoding, !decoded.isEmpty else {
            throw APIError.badRequest("the facility identifier in the path is not valid percent-encoding", field: "id")
        }
        return FacilityID(decoded)
    }

    /// `/facilities/ivo%3A%2F%2Fexample.org%2Ftap`: the identifier as one path segment.
    static func location(_ id: FacilityID) -> String {
        let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        return "/facilities/" + (id.rawValue.addingPercentEncoding(withAllowedCharacters: unreserved) ?? id.rawValue)
    }

    static func query(_ params: Parameters) throws -> FacilityQuery {
        var query = FacilityQuery()
        if let text = params.get("accepts") {
            guard let kind = ExecutableKind(text) else {
                throw APIError.badRequest("unknown executable kind '\(text)': use one of \(ExecutableKind.knownAliases.joined(separator: ", ")) or a kind URI", field: "accepts")
            }
            query.accepts = kind
        }
        if let text = params.get("status") {
            guard let status = FacilityStatus(rawValue: text.lowercased()) else {
                throw APIError.badRequest("'\(text)' is not one of active, draining, disabled", field: "status")
            }
            query.status = status
        }
        return query
    }
}

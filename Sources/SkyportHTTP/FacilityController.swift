import Foundation
import Hummingbird
import SkyportBroker
import SkyportCore

/// The operator's face: register, list, read, replace, refresh and remove facilities.
/// Reads are public; writes need an operator's bearer token, and an operator changes only its own facilities.
struct FacilityController: Controller {
    let deps: APIDependencies
    var catalog: FacilityCatalog { deps.broker.facilities }

    func register(on table: inout RouteTable<SkyportRequestContext>) {
        table.add(.get, "/facilities") { request, context in
            let documents = try await catalog.list(try Self.query(request.uri.queryParameters), showAccess: context.reasonAudience == .operator)
            // The stored documents are served as they are: the list is assembled, not re-encoded.
            return try Representation.response(
                json: "{\"count\":\(documents.count),\"facilities\":[" + documents.joined(separator: ",") + "]}", for: request)
        }

        table.add(.post, "/facilities") { request, context in
            let owner = try context.operatorName()
            let document = try await APIContract.readBody(request, limit: deps.maxBodyBytes, .post, "/facilities")
            let facility = try await catalog.register(document, by: owner, logger: context.logger)
            return try Representation.response(facility, status: .created, for: request, headers: [.location: Self.location(facility.id)])
        }

        table.add(.get, "/facilities/{id}") { request, context in
            try Representation.response(json: try await catalog.document(try Self.pathID(context), probeDetails: context.reasonAudience == .operator), for: request)
        }

        table.add(.put, "/facilities/{id}") { request, context in
            let id = try Self.pathID(context)
            let owner = try context.operatorName()
            let document = try await APIContract.readBody(request, limit: deps.maxBodyBytes, .put, "/facilities/{id}")
            return try Representation.response(try await catalog.replace(id, with: document, by: owner, logger: context.logger), for: request)
        }

        table.add(.post, "/facilities/{id}/refresh") { request, context in
            let id = try Self.pathID(context)
            let owner = try context.operatorName()
            return try Representation.response(try await catalog.refresh(id, by: owner, logger: context.logger), for: request)
        }

        table.add(.delete, "/facilities/{id}") { _, context in
            let id = try Self.pathID(context)
            try await catalog.remove(id, by: try context.operatorName(), logger: context.logger)
            return Response(status: .noContent)
        }
    }

    static func pathID(_ context: SkyportRequestContext) throws -> FacilityID {
        let raw = try context.parameter("id")
        guard let decoded = raw.removingPercentEncoding, !decoded.isEmpty else {
            throw APIError.badRequest("the facility identifier in the path is not valid percent-encoding", field: "id")
        }
        return FacilityID(decoded)
    }

    /// `/facilities/ivo%3A%2F%2Fexample.org%2Ftap`: the identifier as one path segment.
    static func location(_ id: FacilityID) -> String {
        // Most identifiers are URL-safe names already (every session shown names its facility's URL).
        if id.rawValue.utf8.allSatisfy(isUnreserved) { return "/facilities/" + id.rawValue }
        return "/facilities/" + (id.rawValue.addingPercentEncoding(withAllowedCharacters: unreserved) ?? id.rawValue)
    }

    private static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")

    private static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"): return true
        default: return false
        }
    }

    static func query(_ params: Parameters) throws -> FacilityQuery {
        var query = FacilityQuery()
        if let text = params.get("accepts") {
            // A kind no facility can run (a bare word that is no known kind) lists no facility, as matching rejects it.
            if let kind = ExecutableKind(text) { query.accepts = kind } else { query.runsNothing = true }
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

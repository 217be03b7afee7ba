import Foundation
import Hummingbird
import SkyportCore

/// The IVOA publishing registries Skyport harvests for facilities (OAI-PMH base URLs): add, list, remove.
/// Every route needs an operator's bearer token. Adding a source rings `registryHarvests`, so that the harvest
/// service harvests it at once.
struct RegistryRoutes {
    let deps: APIDependencies

    func register(on table: inout RouteTable<BasicRequestContext>) {
        table.add(.get, "/registry/sources") { request, _ in
            _ = try await FacilityRoutes(deps: deps).authenticate(request)
            let sources = try await deps.store.registrySources()
            return try Representation.response(SourceList(count: sources.count, sources: sources), for: request)
        }

        table.add(.post, "/registry/sources") { request, context in
            let owner = try await FacilityRoutes(deps: deps).authenticate(request)
            let document = try await Representation.readDocument(request, limit: deps.maxBodyBytes)
            let url = try Self.validatedURL(document)
            let headers: HTTPFields = [.location: Self.location(url)]
            if let existing = try await deps.store.registrySource(url) {
                return try Representation.response(existing, for: request, headers: headers)
            }
            let source = RegistrySource(url: url, addedBy: owner, added: Self.wholeSeconds(deps.now()))
            try await deps.store.upsertRegistrySource(source)
            deps.registryHarvests?.ring()
            context.logger.info("registry source added", metadata: ["registry": .string(url), "operator": .string(owner)])
            return try Representation.response(source, status: .created, for: request, headers: headers)
        }

        table.add(.delete, "/registry/sources/{url}") { request, context in
            let owner = try await FacilityRoutes(deps: deps).authenticate(request)
            let raw = try context.parameters.require("url")
            guard let url = raw.removingPercentEncoding, !url.isEmpty else {
                throw APIError.badRequest("the registry URL in the path is not valid percent-encoding", field: "url")
            }
            guard try await deps.store.deleteRegistrySource(url) else { throw APIError.notFound("registry source '\(url)'") }
            context.logger.info("registry source removed", metadata: ["registry": .string(url), "operator": .string(owner)])
            return Response(status: .noContent)
        }
    }

    struct SourceList: Encodable {
        var count: Int
        var sources: [RegistrySource]
    }

    /// The `url` of `{"url": "http(s)://..."}`, trimmed; a 422 naming `url` otherwise.
    static func validatedURL(_ document: JSONValue) throws -> String {
        guard case .object(let object) = document else {
            throw ValidationFailure([FieldError("url", "is required: send {\"url\": \"https://registry.example/oai.xml\"}")])
        }
        guard let value = object["url"] else { throw ValidationFailure([FieldError("url", "is required")]) }
        guard case .string(let text) = value else { throw ValidationFailure([FieldError("url", "must be a string")]) }
        let url = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = FacilityDocument.httpURLProblem(url) { throw ValidationFailure([FieldError("url", problem)]) }
        return url
    }

    /// `/registry/sources/http%3A%2F%2Fregistry.example%2Foai.xml`: the URL as one path segment.
    static func location(_ url: String) -> String {
        let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        return "/registry/sources/" + (url.addingPercentEncoding(withAllowedCharacters: unreserved) ?? url)
    }

    static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }
}

import Foundation
import Hummingbird
import SkyportBroker
import SkyportCore

/// The IVOA publishing registries Skyport harvests for facilities (OAI-PMH base URLs): add, list, remove.
/// Every route needs an operator's bearer token.
struct RegistryController: Controller {
    let deps: APIDependencies
    var sources: RegistrySources { deps.broker.registrySources }

    func register(on table: inout RouteTable<SkyportRequestContext>) {
        table.add(.get, "/registry/sources") { request, context in
            _ = try context.operatorName()
            let list = try await sources.list()
            return try Representation.response(SourceList(count: list.count, sources: list), for: request)
        }

        table.add(.post, "/registry/sources") { request, context in
            let owner = try context.operatorName()
            let url = try Self.validatedURL(try await APIContract.readBody(request, limit: deps.maxBodyBytes, .post, "/registry/sources"))
            let (source, created) = try await sources.add(url, by: owner, logger: context.logger)
            return try Representation.response(source, status: created ? .created : .ok, for: request, headers: [.location: Self.location(url)])
        }

        table.add(.delete, "/registry/sources/{url}") { _, context in
            let owner = try context.operatorName()
            let raw = try context.parameter("url")
            guard let url = raw.removingPercentEncoding, !url.isEmpty else {
                throw APIError.badRequest("the registry URL in the path is not valid percent-encoding", field: "url")
            }
            try await sources.remove(url, by: owner, logger: context.logger)
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
        let url = text.trimmingWhitespace()
        if let problem = FacilityDocument.httpURLProblem(url) { throw ValidationFailure([FieldError("url", problem)]) }
        return url
    }

    /// `/registry/sources/http%3A%2F%2Fregistry.example%2Foai.xml`: the URL as one path segment.
    static func location(_ url: String) -> String {
        let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        return "/registry/sources/" + (url.addingPercentEncoding(withAllowedCharacters: unreserved) ?? url)
    }
}

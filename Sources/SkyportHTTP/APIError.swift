import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SkyportCore

/// An error the API reports to its client: a status, a stable machine-readable code, a message,
/// and for bad input every field at fault. It is written as JSON:
/// `{"status": 400, "code": "invalid-document", "message": "...", "errors": [{"field": "limits.cores", "message": "..."}]}`.
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var errors: [FieldError]
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, errors: [FieldError] = [], headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers
    }

    public static func badRequest(_ message: String, field: String? = nil) -> APIError {
        APIError(.badRequest, code: "bad-request", message, errors: field.map { [FieldError($0, message)] } ?? [])
    }

    public static func invalid(_ failure: ValidationFailure) -> APIError {
        let summary = failure.errors.prefix(3).map(\.description).joined(separator: "; ")
        let more = failure.errors.count > 3 ? " (and \(failure.errors.count - 3) more)" : ""
        return APIError(.unprocessableContent, code: "invalid-document", summary + more, errors: failure.errors)
    }

    public static func notFound(_ what: String) -> APIError {
        APIError(.notFound, code: "not-found", "\(what) does not exist")
    }

    public static let unauthorized = APIError(
        .unauthorized, code: "unauthorized", "this needs an operator token: send 'Authorization: Bearer <token>'",
        headers: [.wwwAuthenticate: "Bearer realm=\"skyport\""])

    struct Body: Encodable {
        var status: Int
        var code: String
        var message: String
        var errors: [FieldError]?
        var requestId: String?
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = Body(
            status: status.code, code: code, message: message, errors: errors.isEmpty ? nil : errors,
            requestId: context.logger[metadataKey: "request_id"].map { "\($0)" })
        var response = try Representation.response(body, status: status, for: request)
        for field in headers { response.headers.append(field) }
        return response
    }
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-Id")!
}

extension APIError {
    /// Maps anything a handler threw to what the client should see. Unknown errors become a 500 that
    /// says nothing of their insides (the log has them).
    static func from(_ error: any Error) -> (any HTTPResponseError)? {
        switch error {
        case let e as APIError: return e
        case let e as ValidationFailure: return APIError.invalid(e)
        case let e as FieldError: return APIError.invalid(ValidationFailure([e]))
        case StoreError.duplicate(let what): return APIError(.conflict, code: "duplicate", "\(what) already exists")
        case StoreError.notFound(let what): return APIError.notFound(what)
        case StoreError.conflict(let why): return APIError(.conflict, code: "conflict", why)
        case StoreError.unavailable: return APIError(.serviceUnavailable, code: "store-unavailable", "the store is unavailable; try again")
        case let e as HTTPError:
            let code = e.status == .notFound ? "not-found" : e.status == .methodNotAllowed ? "method-not-allowed" : "http-error"
            return APIError(e.status, code: code, e.body ?? (e.status == .notFound ? "no such resource" : e.status.reasonPhrase))
        case let e as any HTTPResponseError: return e
        default: return nil
        }
    }
}

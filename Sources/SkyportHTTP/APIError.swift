import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import SkyportBroker
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

    /// A bearer token that is no operator's (or cannot be a token) on an operator's route.
    public static let invalidToken = APIError(
        .unauthorized, code: "unauthorized", "the bearer token is not valid", headers: [.wwwAuthenticate: "Bearer realm=\"skyport\", error=\"invalid_token\""])

    /// No bearer token on the UWS job list.
    public static let uwsUnauthorized = APIError(
        .unauthorized, code: "unauthorized",
        "UWS jobs belong to the token that creates them: send 'Authorization: Bearer <token>' (any token of your own)",
        headers: [.wwwAuthenticate: "Bearer realm=\"skyport\""])

    /// No bearer token where `SKYPORT_AUTH=oidc` needs a signed-in caller (RFC 6750 §3: no error code then).
    public static let signInRequired = APIError(
        .unauthorized, code: "unauthorized",
        "this needs a bearer access token from a trusted OpenID Connect issuer: send 'Authorization: Bearer <token>'",
        headers: [.wwwAuthenticate: "Bearer realm=\"skyport\""])

    /// A bearer token refused: why, in the challenge's `error_description` and in the body. RFC 6750 §3 allows only
    /// printable ASCII without `"` and `\\` there: anything else (the refusal may quote the token) becomes `?`.
    public static func refusedToken(_ refusal: TokenRefusal) -> APIError {
        let why = String(decoding: refusal.description.utf8.map { b in
            (b == 0x20 || b == 0x21 || (0x23...0x5B).contains(b) || (0x5D...0x7E).contains(b)) ? b : UInt8(ascii: "?")
        }, as: UTF8.self)
        return APIError(
            .unauthorized, code: "invalid-token", "the bearer token is refused: \(refusal)",
            headers: [.wwwAuthenticate: "Bearer realm=\"skyport\", error=\"invalid_token\", error_description=\"\(why)\""])
    }

    /// A caller who is not an admin on an admin's route.
    public static let adminsOnly = APIError(
        .forbidden, code: "forbidden", "this needs an admin (a group in SKYPORT_OIDC_ADMIN_GROUPS, or in open mode an operator token)")

    /// A signed-in caller on an operator's route.
    public static let operatorsOnly = APIError(.forbidden, code: "forbidden", "this needs an operator: your identity is not one")

    /// Too many requests from one client address (`SKYPORT_RATE_LIMIT`).
    public static func rateLimited(retryAfter seconds: Int) -> APIError {
        APIError(
            .tooManyRequests, code: "rate-limited",
            "too many requests from this address: try again in \(seconds) s (operators with a token are not limited)",
            headers: [.retryAfter: String(seconds)])
    }

    /// More offer requests than the broker can answer in time (`OfferAdmission`, `SKYPORT_OFFER_CONCURRENCY`).
    public static let overloaded = APIError(
        .serviceUnavailable, code: "overloaded", "this broker has more requests for offers than it can answer in time: try again in 1 s",
        headers: [.retryAfter: "1"])

    /// An RFC 9457 problem details document, with Skyport's `code`, `errors[]` and `requestId` as extension members.
    struct Problem: Encodable {
        var type: String
        var title: String
        var status: Int
        var detail: String
        var instance: String?
        var code: String
        var errors: [FieldError]?
        var requestId: String?
    }

    /// The problem type of an error code: a stable URI per code (listed in specs/openapi.yaml, `Problem`).
    public static func problemType(_ code: String) -> String { "urn:skyport:problem:\(code)" }

    public static let problemMediaType = "application/problem+json"

    /// The problem document for a request (its path is the `instance`).
    func problem(instance: String?, requestId: String?) -> Problem {
        Problem(
            type: Self.problemType(code), title: status.reasonPhrase, status: status.code, detail: message, instance: instance, code: code,
            errors: errors.isEmpty ? nil : errors, requestId: requestId)
    }

    /// Always `application/problem+json`, whatever the `Accept` header asks for.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = problem(instance: request.uri.path, requestId: context.logger[metadataKey: "request_id"].map { "\($0)" })
        var fields: HTTPFields = [.contentType: Self.problemMediaType]
        for field in headers { fields.append(field) }
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: try Self.encoder.encode(body))))
    }

    private static let encoder = CanonicalJSON.encoder()
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-Id")!
}

extension APIError {
    /// Maps anything a handler threw to what the client should see: the one place where domain errors get their
    /// status and code. Unknown errors become a 500 that says nothing of their insides (the log has them).
    static func from(_ error: any Error) -> (any HTTPResponseError)? {
        switch error {
        case let e as APIError: return e
        case let e as BrokerError: return from(e)
        case let e as UWSJobError:
            guard case .illegal(_, let phase, let action) = e else { return nil }
            return APIError(.forbidden, code: "illegal-transition", e.description, errors: [FieldError("PHASE", "a \(phase.rawValue) job cannot \(action)")])
        case let refusal as SessionLifecycle.Refusal:
            let code: String
            switch refusal {
            case .expired: code = "offer-expired"
            case .siblingAccepted: code = "offer-set-already-accepted"
            case .illegal: code = "illegal-transition"
            case .notClientSettable: code = "phase-not-settable"
            }
            let status: HTTPResponse.Status
            if case .notClientSettable = refusal { status = .unprocessableContent } else { status = .conflict }
            return APIError(status, code: code, refusal.description, errors: [FieldError("value", refusal.description)])
        case let refusal as CredentialRefusal where refusal.temporary:
            return APIError(.serviceUnavailable, code: "issuer-unavailable", refusal.message, headers: [.retryAfter: "5"])
        case let refusal as CredentialRefusal:
            return APIError(.forbidden, code: "credentials-refused", refusal.message, errors: [FieldError("credentials", refusal.message)])
        case let breach as QuotaBreach:
            return APIError(.forbidden, code: "quota-exceeded", breach.description, errors: [FieldError("quota.\(breach.limit.rawValue)", breach.description)])
        case let e as ValidationFailure: return APIError.invalid(e)
        case let e as FieldError: return APIError.invalid(ValidationFailure([e]))
        case StoreError.duplicate(let what): return APIError(.conflict, code: "duplicate", "\(what) already exists")
        case StoreError.notFound(let what): return APIError.notFound(what)
        case StoreError.conflict(let why): return APIError(.conflict, code: "conflict", why)
        case StoreError.unavailable: return APIError(.serviceUnavailable, code: "store-unavailable", "the store is unavailable; try again")
        case let e as HTTPParserError:
            // The HTTP/1 decoder could not read the request (a malformed chunk-size line, bad header bytes): the
            // client's fault, and the connection is closed after this answer (`HTTPPartObserver`).
            return APIError(.badRequest, code: "malformed-http", "the request is not well-formed HTTP/1.1 (\(e))", headers: [.connection: "close"])
        case let e as HTTPError:
            let code = e.status == .notFound ? "not-found" : e.status == .methodNotAllowed ? "method-not-allowed" : "http-error"
            return APIError(e.status, code: code, e.body ?? (e.status == .notFound ? "no such resource" : e.status.reasonPhrase))
        case let e as any HTTPResponseError: return e
        default: return nil
        }
    }

    static func from(_ error: BrokerError) -> APIError {
        switch error {
        case .notFound(let what):
            return .notFound(what)
        case .notOwner(let id):
            return APIError(.forbidden, code: "forbidden", "facility '\(id)' belongs to another operator")
        case .forbidden(let why):
            return APIError(.forbidden, code: "forbidden", why)
        case .facilityHasLiveJobs(let id, let live):
            return APIError(
                .conflict, code: "facility-has-live-jobs",
                "facility '\(id)' has \(live) live job(s): it is now draining (no new work); delete it again once they have ended")
        case .noCapabilitiesURL(let id):
            let message = "facility '\(id)' has no VOSI capabilities URL: its registry record names none "
                + "(provenance.capabilities) and it has no uws endpoint to find <base>/capabilities beside"
            return APIError(.conflict, code: "no-capabilities-url", message,
                            errors: [FieldError("endpoints", "has no uws endpoint, and provenance.capabilities is not set")])
        case .refreshUnavailable:
            return APIError(.serviceUnavailable, code: "refresh-unavailable", "this broker is not configured to read VOSI capabilities")
        case .capabilitiesUnavailable(let id, let url, let reason):
            return APIError(
                .badGateway, code: "capabilities-unavailable",
                "reading the VOSI capabilities of facility '\(id)' at \(url) failed: \(reason); the facility is unchanged",
                errors: [FieldError("capabilities", reason)])
        case .capabilitiesUnusable(let url, let reason):
            return APIError(
                .badGateway, code: "capabilities-unusable",
                "the VOSI capabilities at \(url) describe nothing Skyport can run work on (\(reason)); the facility is unchanged",
                errors: [FieldError("capabilities", reason)])
        case .federationLoop(let refusal):
            return APIError(HTTPResponse.Status(code: 508, reasonPhrase: "Loop Detected"), code: "federation-loop", refusal,
                            errors: [FieldError(FederationPath.header, refusal)])
        case .badParameter(let field, let message):
            return .badRequest(message, field: field)
        case .invalidParameters(let errors):
            return APIError(.badRequest, code: "invalid-parameter", errors.prefix(3).map(\.message).joined(separator: "; "), errors: errors)
        }
    }
}

import Hummingbird
import NIOCore
import SkyportBroker
import SkyportCore

/// Who is calling, as `AuthenticationMiddleware` found it from the `Authorization` header.
public enum Caller: Sendable, Equatable {
    /// No `Authorization` header.
    case anonymous
    /// A header that is not `Bearer <token>`.
    case notBearer
    /// A bearer token that cannot be a token (empty, over 256 bytes, not printable ASCII).
    case malformedToken
    /// An operator's token.
    case `operator`(name: String)
    /// A well-formed token that is no operator's: a user of the UWS job list (only its hash is kept). Open mode only.
    case user(tokenHash: String)
    /// A signed-in scientist: a token from a trusted OpenID Connect issuer (`SKYPORT_AUTH=oidc`), with the roles its
    /// groups give it.
    case identity(Identity, Roles)
    /// A bearer token from no trusted issuer, or one its issuer's rules refuse (`SKYPORT_AUTH=oidc`).
    case refused(TokenRefusal)
}

/// Skyport's request context: Hummingbird's core context and the caller, set once by `AuthenticationMiddleware`.
public struct SkyportRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var caller: Caller = .anonymous
    /// A signed-in scientist's bearer token (never logged, never shown).
    public var bearer: Bearer?
    /// The connection's peer (the rate limit's key).
    public let remoteAddress: SocketAddress?

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// The operator calling; 401 when the caller is not one.
    public func operatorName() throws -> String {
        switch caller {
        case .operator(let name): return name
        case .anonymous, .notBearer: throw APIError.unauthorized
        case .malformedToken, .user: throw APIError.invalidToken
        case .identity(_, let roles):
            guard let name = roles.operatorName else { throw APIError.operatorsOnly }
            return name
        case .refused(let refusal): throw APIError.refusedToken(refusal)
        }
    }

    /// Refuses a caller who is not signed in (a scientist's identity, or an operator): what `SKYPORT_AUTH=oidc`
    /// asks of the scientist's routes.
    func requireSignedIn() throws {
        switch caller {
        case .operator, .identity: return
        case .anonymous, .notBearer, .user: throw APIError.signInRequired
        case .malformedToken: throw APIError.refusedToken(.malformed("it is not 1 to 8,192 printable ASCII characters"))
        case .refused(let refusal): throw APIError.refusedToken(refusal)
        }
    }

    /// The owner of the UWS jobs the caller makes and sees: an operator's name, or `user-` and the first 16 hex
    /// digits of the token's SHA-256 (any token of the caller's own). 401 without a bearer token.
    public func uwsOwner() throws -> String {
        switch caller {
        case .operator(let name): return name
        case .user(let hash): return "user-" + hash.prefix(16)
        case .identity(let identity, _): return identity.owner
        case .refused(let refusal): throw APIError.refusedToken(refusal)
        case .anonymous, .notBearer: throw APIError.uwsUnauthorized
        case .malformedToken:
            throw APIError(
                .unauthorized, code: "unauthorized", "the bearer token must be 1 to 256 printable ASCII characters",
                headers: [.wwwAuthenticate: "Bearer realm=\"skyport\", error=\"invalid_token\""])
        }
    }

    /// Whose offer sets and sessions the caller sees: a signed-in scientist only their own; operators and, in open
    /// mode, anyone who knows a UUID, everything.
    public var viewer: Viewer {
        if case .identity(let identity, let roles) = caller, !roles.isOperatorLike { return .owner(identity.owner) }
        return .anyone
    }

    /// Who owns what the caller makes: a signed-in scientist's identity (`issuer#subject`), or nil (anonymous, or an
    /// operator, whose sets every operator sees anyway).
    public var owner: String? {
        if case .identity(let identity, _) = caller { return identity.owner }
        return nil
    }

    /// The caller as facilities' access policies judge them.
    public var requester: Requester {
        switch caller {
        case .operator: return .operator
        case .identity(_, let roles) where roles.isOperatorLike: return .operator
        case .identity(let identity, _): return .identity(identity)
        default: return .anonymous
        }
    }

    /// Refuses anyone but an admin: a signed-in identity with the admin role, or, where no one signs in (open
    /// mode, which has no admin identities), an operator's token. Returns the actor, for the audit record.
    func requireAdmin(mode: AuthMode) throws -> String {
        switch caller {
        case .identity(_, let roles) where roles.admin: return who
        case .identity: throw APIError.adminsOnly
        case .operator where mode == .open: return who
        case .operator: throw APIError.adminsOnly
        default: _ = try operatorName(); throw APIError.adminsOnly
        }
    }

    /// A signed-in scientist's groups (not an operator's or admin's): what a UWS job is negotiated with.
    public var scientistGroups: [String]? {
        if case .identity(let identity, let roles) = caller, !roles.isOperatorLike { return identity.groups }
        return nil
    }

    /// The caller as an audit log names them: `operator:NAME`, a scientist's `issuer#subject`, or `anonymous`.
    public var who: String {
        switch caller {
        case .operator(let name): return "operator:" + name
        case .identity(let identity, _): return identity.owner
        case .user(let hash): return "user-" + hash.prefix(16)
        case .anonymous, .notBearer, .malformedToken, .refused: return "anonymous"
        }
    }

    /// Whom rejection reasons are rendered for: an operator sees every detail, anyone else (anonymous callers, users
    /// with their own token) no facility's probe details, and of other brokers only a status and a short reason.
    public var reasonAudience: ReasonAudience {
        switch caller {
        case .operator: return .operator
        case .identity(_, let roles) where roles.isOperatorLike: return .operator
        default: return .public
        }
    }

    /// A path parameter (404 when the route has none of that name).
    func parameter(_ name: String) throws -> String { try parameters.require(name) }
}

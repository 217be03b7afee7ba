import Foundation

/// A signed-in user: who issued the token and whom it is about (the pair is the identity; a display name and
/// e-mail address can change and are never keys), with the groups the token lists.
public struct Identity: Sendable, Hashable, Codable {
    /// The token's `iss`, exactly as the trusted issuer is configured.
    public var issuer: String
    /// The token's `sub`: unique within the issuer and never reassigned (WLCG profile §2.1).
    public var subject: String
    /// A name to show (`name`, else `preferred_username`), if the token gives one.
    public var name: String?
    /// Groups from the issuer's configured claims, in the token's order, without duplicates (WLCG `wlcg.groups`
    /// paths such as `/skao/users`, IAM `groups`, AARC `eduperson_entitlement` URNs).
    public var groups: [String]
    /// The token's `aud` values and expiry (what a facility that takes the user's own token is judged by).
    public var audiences: [String] = []
    public var expires: Date?

    public init(issuer: String, subject: String, name: String? = nil, groups: [String] = []) {
        self.issuer = issuer
        self.subject = subject
        self.name = name
        self.groups = groups
    }

    /// The owner key stored on what this identity makes: `issuer#subject`. Unambiguous, since an OpenID issuer
    /// identifier has no fragment (OpenID Connect Discovery §2), so the first `#` ends the issuer.
    public var owner: String { issuer + "#" + subject }

    /// Whether the identity is in `group` (exact: membership of a child group says nothing of its parent).
    public func isMember(of group: String) -> Bool { groups.contains(group) }
}

/// Whose offer sets, sessions and jobs a caller may see and act on.
public enum Viewer: Sendable, Hashable {
    /// Everything: open mode (a session's UUID is the capability), and operators.
    case anyone
    /// Only what `owner` made (`Identity.owner`): a signed-in scientist. What another made, or an anonymous caller
    /// made before sign-in was required, does not exist for them.
    case owner(String)

    public func sees(_ owner: String?) -> Bool {
        switch self {
        case .anyone: return true
        case .owner(let me): return owner == me
        }
    }
}

/// The port through which the HTTP edge turns a bearer token into an identity (the OpenID Connect adapter, or a
/// test's stand-in).
public protocol TokenVerifying: Sendable {
    func identity(for token: String, now: Date) async -> Result<Identity, TokenRefusal>
}

/// How callers are known.
public enum AuthMode: String, Sendable, Hashable, CaseIterable {
    /// Anonymous requests; a session's UUID is the capability to act on it; operators by their tokens.
    case open
    /// Every call to the scientist's routes (`/requests`, `/offersets`, `/sessions`, `/accepts`, `/uws/jobs`) needs a
    /// bearer token from a trusted OpenID Connect issuer (or an operator's token).
    case oidc

    /// The path prefixes that need a signed-in caller in `oidc` mode; VOSI, health, metrics and the read-only
    /// facility routes stay public.
    public static let userPaths = ["/requests", "/offersets", "/sessions", "/accepts", "/uws/jobs"]

    /// Whether `path` needs a signed-in caller in this mode.
    public func requiresUser(_ path: some StringProtocol) -> Bool {
        guard self == .oidc else { return false }
        return Self.userPaths.contains { prefix in
            path.hasPrefix(prefix) && (path.count == prefix.count || path.dropFirst(prefix.count).first == "/")
        }
    }
}

/// What a signed-in identity may do besides a scientist's work, from its groups.
public struct Roles: Sendable, Hashable {
    /// The operator it acts as (its facilities, its registry sources), if any.
    public var operatorName: String?
    /// Sees every offer set, session and UWS job, and every facility's policy, as operators do.
    public var admin: Bool

    public init(operatorName: String? = nil, admin: Bool = false) {
        self.operatorName = operatorName
        self.admin = admin
    }

    /// Whether it sees and acts as an operator does.
    public var isOperatorLike: Bool { operatorName != nil || admin }
}

/// Which groups give which roles (`SKYPORT_OIDC_OPERATOR_GROUPS`, `SKYPORT_OIDC_ADMIN_GROUPS`). Group membership is
/// literal (a child group does not stand for its parent).
public struct RoleMapping: Sendable, Hashable {
    /// Group → the operator name its members act as.
    public var operatorGroups: [String: String]
    public var adminGroups: Set<String>

    public init(operatorGroups: [String: String] = [:], adminGroups: Set<String> = []) {
        self.operatorGroups = operatorGroups
        self.adminGroups = adminGroups
    }

    /// The roles of `identity`: the operator of the first of its groups (in the token's order) that names one.
    public func roles(for identity: Identity) -> Roles {
        Roles(
            operatorName: identity.groups.lazy.compactMap { operatorGroups[$0] }.first,
            admin: identity.groups.contains(where: adminGroups.contains))
    }
}

/// How Skyport authenticates at a facility endpoint.
public enum EndpointCredentials: Sendable, Hashable {
    /// Skyport's own credential for the endpoint (`SKYPORT_CREDENTIALS`), or none: the default.
    case service
    /// The caller's own access token, only when it was issued for `audience` (its `aud` names it).
    case forward(audience: String)
    /// A token for `audience` got from the caller's issuer by RFC 8693 token exchange, exchanged again while the
    /// job runs.
    case exchange(audience: String)

    public var mode: String {
        switch self {
        case .service: return "service"
        case .forward: return "forward"
        case .exchange: return "exchange"
        }
    }

    public var audience: String? {
        switch self {
        case .service: return nil
        case .forward(let a), .exchange(let a): return a
        }
    }

    /// Whether it needs the signed-in caller's token.
    public var needsUserToken: Bool { self != .service }
}

/// The user's credential a session carries to its facility (sealed at rest, never logged or shown): the token to
/// send, until when it is good, and for an exchanged one the user's own token to exchange again.
public struct UserCredential: Sendable, Hashable, Codable {
    public var mode: String
    public var issuer: String
    public var audience: String
    /// The token to send, sealed (`SecretSealer`), and when it expires.
    public var sealedToken: String
    public var expires: Date?
    /// For `exchange`: the user's own token (the exchange's subject), sealed, and when it expires.
    public var sealedSubject: String?
    public var subjectExpires: Date?

    public init(
        mode: String, issuer: String, audience: String, sealedToken: String, expires: Date?, sealedSubject: String? = nil, subjectExpires: Date? = nil
    ) {
        self.mode = mode
        self.issuer = issuer
        self.audience = audience
        self.sealedToken = sealedToken
        self.expires = expires
        self.sealedSubject = sealedSubject
        self.subjectExpires = subjectExpires
    }

    /// What to do before a call to the facility at `now`: send the token, get a new one by exchange, or fail
    /// (a token that is about to expire, `margin` seconds ahead, and cannot be renewed).
    public enum Use: Sendable, Hashable { case send, exchangeAgain, fail(String) }

    public func use(at now: Date, margin: TimeInterval) -> Use {
        guard let expires, expires.timeIntervalSince(now) < margin else { return .send }
        if mode == "exchange" {
            if let subject = subjectExpires, subject <= now {
                return .fail("your access token expired at \(Timestamp.format(subject)), and the token exchanged for facility audience \(audience) can no longer be renewed")
            }
            return .exchangeAgain
        }
        if expires <= now {
            return .fail("your access token, which this facility takes as it is, expired at \(Timestamp.format(expires)); Skyport cannot renew it")
        }
        return .send
    }
}

/// A token an issuer gave (RFC 8693 token exchange).
public struct IssuedToken: Sendable, Hashable {
    public var token: String
    public var expires: Date?

    public init(token: String, expires: Date?) {
        self.token = token
        self.expires = expires
    }
}

/// The port through which Skyport exchanges a user's token at their issuer for one meant for a facility.
public protocol TokenExchanging: Sendable {
    func exchange(_ subjectToken: String, issuer: String, audience: String, now: Date) async throws -> IssuedToken
}

/// The port through which the web pages sign a browser in at an OpenID Connect issuer: the authorization-code flow with
/// PKCE (RFC 6749 §4.1, RFC 7636), with Skyport's own client at the issuer.
public protocol BrowserSignIn: Sendable {
    /// The issuers a browser can sign in at (those Skyport has a client at), in configured order.
    var signInIssuers: [String] { get }
    /// Where to send the browser: the issuer's authorization endpoint with Skyport's client, the redirect, the state,
    /// the PKCE challenge (S256) and the nonce.
    func authorizationURL(issuer: String, redirectURI: String, state: String, codeChallenge: String, nonce: String) async throws -> URL
    /// The access token the issuer gives for the code the browser came back with (and the verifier of its challenge).
    func redeem(code: String, issuer: String, redirectURI: String, codeVerifier: String) async throws -> String
}

/// Why a session cannot carry the user's credential to its facility.
public struct CredentialRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    /// The issuer could not be asked (rather than said no): trying again later may work.
    public var temporary: Bool
    public init(_ message: String, temporary: Bool = false) {
        self.message = message
        self.temporary = temporary
    }
    public var description: String { message }
}

import Foundation

/// An OpenID Connect issuer whose access tokens Skyport accepts, and how it reads them.
public struct TrustedIssuer: Sendable, Hashable, Codable {
    /// The exact `iss` value (compared as a string: IAM's ends in `/`, and that `/` matters).
    public var issuer: String
    /// The `aud` values that mean Skyport (a token must carry one of them). WLCG's "any" audience is accepted only
    /// when it is listed here.
    public var audiences: [String]
    /// Signature algorithms accepted; only asymmetric ones can be configured (`TokenRules.asymmetric`).
    public var algorithms: [String]
    /// Claims that hold the caller's groups, read in this order.
    public var groupClaims: [String]
    /// Claims that hold a display name, the first present wins.
    public var nameClaims: [String]

    public init(
        issuer: String, audiences: [String], algorithms: [String] = ["RS256", "PS256", "ES256"],
        groupClaims: [String] = ["wlcg.groups", "groups", "eduperson_entitlement"], nameClaims: [String] = ["name", "preferred_username"]
    ) {
        self.issuer = issuer
        self.audiences = audiences
        self.algorithms = algorithms
        self.groupClaims = groupClaims
        self.nameClaims = nameClaims
    }
}

/// Why a bearer token is refused: each becomes a 401 with `WWW-Authenticate: Bearer error="invalid_token"` and
/// the `description` as its `error_description`.
public enum TokenRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    /// Not a JWT (three base64url parts holding JSON objects) and no issuer could introspect it.
    case malformed(String)
    /// The `iss` is not a trusted issuer.
    case unknownIssuer(String)
    /// The header's `alg` is not accepted (`none`, HS*, or not in the issuer's list), or does not fit the key.
    case algorithmNotAllowed(String)
    /// The header's `kid` is not in the issuer's published keys, even after fetching them again.
    case unknownKey(String)
    case badSignature
    case expired(Date)
    case notYetValid(Date)
    case issuedInFuture(Date)
    /// None of the token's audiences is Skyport's.
    case wrongAudience([String])
    case missingClaim(String)
    /// A WLCG profile major version Skyport does not know.
    case unsupportedProfile(String)
    /// Introspection says the token is not active (revoked, expired, or unknown to the issuer).
    case inactive
    /// The issuer's keys or introspection endpoint could not be reached and nothing usable is cached.
    case issuerUnreachable(String)

    public var description: String {
        switch self {
        case .malformed(let why): return "the token is not a valid JWT: \(why)"
        case .unknownIssuer(let iss): return "the token's issuer '\(RemoteText.clip(iss, limit: 120))' is not trusted here"
        case .algorithmNotAllowed(let alg): return "the token's signature algorithm '\(RemoteText.clip(alg, limit: 20))' is not accepted"
        case .unknownKey(let kid): return "the token's key id '\(RemoteText.clip(kid, limit: 80))' is not among its issuer's keys"
        case .badSignature: return "the token's signature does not verify"
        case .expired(let at): return "the token expired at \(Timestamp.format(at))"
        case .notYetValid(let at): return "the token is not valid before \(Timestamp.format(at))"
        case .issuedInFuture(let at): return "the token says it was issued at \(Timestamp.format(at)), in the future"
        case .wrongAudience(let aud):
            return aud.isEmpty ? "the token has no audience" : "the token's audience (\(RemoteText.clip(aud.joined(separator: " "), limit: 160))) is not this service"
        case .missingClaim(let claim): return "the token has no '\(claim)' claim"
        case .unsupportedProfile(let v): return "the token's WLCG profile version '\(RemoteText.clip(v, limit: 20))' is not supported"
        case .inactive: return "the token is not active"
        case .issuerUnreachable(let why): return "the token's issuer could not be asked: \(RemoteText.clip(why, limit: 160))"
        }
    }
}

/// A JWT split into its parts, decoded but not verified: what is needed to pick the issuer and key before the
/// signature is checked.
public struct UnverifiedJWT: Sendable, Hashable {
    public var header: [String: JSONValue]
    public var claims: [String: JSONValue]

    public var algorithm: String? { header["alg"]?.stringValue }
    public var keyID: String? { header["kid"]?.stringValue }
    public var issuer: String? { claims["iss"]?.stringValue }

    /// Splits and decodes a compact JWS; nil when `token` does not look like one (an opaque token, for
    /// introspection), a refusal when it looks like one but is broken.
    public static func parse(_ token: String) -> Result<UnverifiedJWT, TokenRefusal>? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        guard let headerData = Base64URL.decode(parts[0]), let payloadData = Base64URL.decode(parts[1]) else {
            return .failure(.malformed("a part is not base64url"))
        }
        guard case .object(let header)? = try? JSONValue.parse(headerData) else { return .failure(.malformed("the header is not a JSON object")) }
        guard case .object(let claims)? = try? JSONValue.parse(payloadData) else { return .failure(.malformed("the payload is not a JSON object")) }
        return .success(UnverifiedJWT(header: header, claims: claims))
    }
}

/// The rules a token's claims must meet once its signature is verified (or its introspection answered), as pure
/// functions: the leeway, the algorithms, the audience, the times, and how an identity is read.
public enum TokenRules {
    /// Clock skew allowed on `exp`, `nbf` and `iat` (the WLCG profile's default, §4.3.1).
    public static let leeway: TimeInterval = 60
    /// The only algorithms that can be accepted: asymmetric ones (no `none`, no HMAC).
    public static let asymmetric: Set<String> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
    /// The WLCG audience that means "valid at every relying party".
    public static let anyAudience = "https://wlcg.cern.ch/jwt/v1/any"

    /// Whether the header's algorithm may be used with this issuer and a key of type `kty` (RSA, EC, OKP): the
    /// check made before verifying, since a key published without `alg` would otherwise take the token's word.
    public static func algorithm(_ alg: String?, allowedBy issuer: TrustedIssuer, keyType kty: String) -> TokenRefusal? {
        guard let alg else { return .malformed("the header has no 'alg'") }
        guard asymmetric.contains(alg), issuer.algorithms.contains(alg) else { return .algorithmNotAllowed(alg) }
        let fits: Bool
        switch kty {
        case "RSA": fits = alg.hasPrefix("RS") || alg.hasPrefix("PS")
        case "EC": fits = alg.hasPrefix("ES")
        case "OKP": fits = alg == "EdDSA"
        default: fits = false
        }
        return fits ? nil : .algorithmNotAllowed(alg)
    }

    /// The identity in verified claims, or why they are refused.
    public static func identity(_ claims: [String: JSONValue], issuer: TrustedIssuer, now: Date) -> Result<Identity, TokenRefusal> {
        guard let iss = claims["iss"]?.stringValue else { return .failure(.missingClaim("iss")) }
        guard iss == issuer.issuer else { return .failure(.unknownIssuer(iss)) }
        guard let sub = claims["sub"]?.stringValue, !sub.isEmpty else { return .failure(.missingClaim("sub")) }
        guard let exp = date(claims["exp"]) else { return .failure(.missingClaim("exp")) }
        if now.timeIntervalSince(exp) > leeway { return .failure(.expired(exp)) }
        if let nbf = date(claims["nbf"]), nbf.timeIntervalSince(now) > leeway { return .failure(.notYetValid(nbf)) }
        if let iat = date(claims["iat"]), iat.timeIntervalSince(now) > leeway { return .failure(.issuedInFuture(iat)) }
        let audiences = strings(claims["aud"])
        guard audiences.contains(where: issuer.audiences.contains) else { return .failure(.wrongAudience(audiences)) }
        if let version = claims["wlcg.ver"]?.stringValue, version.split(separator: ".").first != "1" {
            return .failure(.unsupportedProfile(version))
        }
        var groups: [String] = []
        for claim in issuer.groupClaims {
            for g in strings(claims[claim]) where !groups.contains(g) { groups.append(g) }
        }
        let name = issuer.nameClaims.lazy.compactMap { claims[$0]?.stringValue }.first { !$0.isEmpty }
        var identity = Identity(issuer: iss, subject: sub, name: name, groups: groups)
        (identity.audiences, identity.expires) = (audiences, exp)
        return .success(identity)
    }

    /// A NumericDate claim (seconds since the epoch).
    public static func date(_ value: JSONValue?) -> Date? {
        guard let seconds = value?.doubleValue, seconds.isFinite else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }

    /// A claim that may be one string, a space-separated string of several (introspection answers, `scope`),
    /// or an array of strings.
    public static func strings(_ value: JSONValue?) -> [String] {
        switch value {
        case .string(let s): return s.split(separator: " ").map(String.init)
        case .array(let items): return items.compactMap(\.stringValue)
        default: return []
        }
    }
}

/// base64url without padding (RFC 7515 §2), as JWTs use it.
public enum Base64URL {
    public static func decode(_ text: some StringProtocol) -> Data? {
        var s = String(text).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard !s.contains("=") else { return nil }
        s += String(repeating: "=", count: (4 - s.utf8.count % 4) % 4)
        return Data(base64Encoded: s)
    }

    public static func encode(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

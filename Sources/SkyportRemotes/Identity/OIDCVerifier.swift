import Crypto
import Foundation
import JWTKit
import Logging
import SkyportCore
import Synchronization

/// An issuer Skyport trusts, as configured: the rules (`TrustedIssuer`) and, for opaque tokens, the client Skyport
/// introspects them with (RFC 7662).
public struct IssuerConfiguration: Sendable, Hashable {
    /// Skyport's client at the issuer: its id and secret (HTTP Basic at the introspection and token endpoints).
    public struct Client: Sendable, Hashable {
        public var id: String
        public var secret: String
        public init(id: String, secret: String) {
            self.id = id
            self.secret = secret
        }
    }

    public var trust: TrustedIssuer
    public var introspectionClient: Client?

    public init(trust: TrustedIssuer, introspectionClient: Client? = nil) {
        self.trust = trust
        self.introspectionClient = introspectionClient
    }
}

/// Turns bearer tokens into identities for the trusted issuers: JWTs by signature (the issuer's keys found by OpenID
/// discovery and cached), opaque tokens by introspection (answers cached until the token expires). Keys are fetched
/// again when a token names a key id the cache does not hold (at most once per `refetchInterval` per issuer, so a
/// stream of made-up key ids cannot make Skyport hammer the issuer), and every `refreshInterval` otherwise; a key
/// the issuer no longer publishes stops working at the next fetch. Cached keys outlive a failed fetch by at most
/// `keyLifetime`. Every call to the issuer goes through the egress gate (as the operator's own configuration).
public final class OIDCVerifier: TokenVerifying, TokenExchanging, BrowserSignIn {
    public struct Timing: Sendable {
        public var refetchInterval: TimeInterval = 30
        public var refreshInterval: TimeInterval = 3_600
        public var keyLifetime: TimeInterval = 86_400
        /// Introspection answers, and JWTs already verified, kept at most (beyond it the expired are dropped, and
        /// if that is not enough, all); 0 keeps none.
        public var cacheSize = 10_000
        public init() {}
    }

    /// One issuer's published keys, as last fetched.
    struct Keys: Sendable {
        var collection: JWTKeyCollection
        /// Key type (`RSA`, `EC`, `OKP`) by key id.
        var types: [String: String]
        var fetched: Date
    }

    struct IssuerState: Sendable {
        var metadata: ProviderMetadata?
        var keys: Keys?
        var lastAttempt: Date?
        var fetching: Task<Void, Never>?
    }

    /// What discovery says about an issuer.
    struct ProviderMetadata: Sendable {
        var jwksURI: URL
        var introspectionEndpoint: URL?
        var tokenEndpoint: URL?
        var authorizationEndpoint: URL? = nil
        var scopes: [String] = []
    }

    let issuers: [String: IssuerConfiguration]
    let order: [String]
    let http: RemoteHTTP
    let timing: Timing
    let logger: Logger
    let state = Mutex<[String: IssuerState]>([:])
    let introspected = Mutex<[String: (identity: Identity, expires: Date)]>([:])
    /// JWTs whose signature verified, by the SHA-256 of the token: a scientist's client sends the same token with
    /// every request, and verifying a signature costs far more than hashing the token. An entry serves until the
    /// token expires, and only while its key is still among its issuer's keys as last fetched (and those are not
    /// due for a refresh), so that a key the issuer dropped stops working for cached tokens too.
    let verified = Mutex<[String: VerifiedJWT]>([:])

    struct VerifiedJWT: Sendable {
        var identity: Identity
        var issuer: String
        var keyID: String
        var expires: Date
    }

    public convenience init(issuers: [IssuerConfiguration], egress: Egress, timing: Timing = Timing(), logger: Logger) {
        var http = RemoteHTTP(egress: egress, purpose: .identity, timeout: .seconds(10), maxBodyBytes: 1 << 20, logger: logger)
        http.trusted = true
        self.init(issuers: issuers, http: http, timing: timing, logger: logger)
    }

    init(issuers: [IssuerConfiguration], http: RemoteHTTP, timing: Timing, logger: Logger) {
        self.issuers = Dictionary(issuers.map { ($0.trust.issuer, $0) }, uniquingKeysWith: { a, _ in a })
        self.order = issuers.map(\.trust.issuer)
        self.http = http
        self.timing = timing
        self.logger = logger
    }

    /// The identity a bearer token proves, or why it proves none.
    public func identity(for token: String, now: Date) async -> Result<Identity, TokenRefusal> {
        let digest = Self.digest(token)
        if let hit = cachedJWT(digest, now: now) { return .success(hit) }
        guard let parsed = UnverifiedJWT.parse(token) else { return await introspect(token, digest: digest, now: now) }
        let jwt: UnverifiedJWT
        switch parsed {
        case .success(let j): jwt = j
        case .failure(let refusal): return .failure(refusal)
        }
        guard let iss = jwt.issuer else { return .failure(.missingClaim("iss")) }
        guard let issuer = issuers[iss] else { return .failure(.unknownIssuer(iss)) }
        guard let kid = jwt.keyID else { return .failure(.malformed("the header has no 'kid'")) }
        guard var keys = await keys(for: iss, now: now) else { return .failure(.issuerUnreachable("its keys could not be fetched")) }
        if keys.types[kid] == nil {
            // A key id not seen yet: the issuer may have rotated its keys since the last fetch.
            await refresh(iss, now: now)
            guard let fresh = currentKeys(iss, now: now), fresh.types[kid] != nil else { return .failure(.unknownKey(kid)) }
            keys = fresh
        }
        if let refusal = TokenRules.algorithm(jwt.algorithm, allowedBy: issuer.trust, keyType: keys.types[kid] ?? "") {
            return .failure(refusal)
        }
        do {
            _ = try await keys.collection.verify(token, as: SignatureOnly.self)
        } catch {
            return .failure(.badSignature)
        }
        let result = TokenRules.identity(jwt.claims, issuer: issuer.trust, now: now)
        if case .success(let identity) = result, let exp = TokenRules.date(jwt.claims["exp"]) {
            remember(VerifiedJWT(identity: identity, issuer: iss, keyID: kid, expires: exp.addingTimeInterval(TokenRules.leeway)), as: digest, now: now)
        }
        return result
    }

    static func digest(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).reduce(into: "") { out, byte in
            out.append(Self.hex[Int(byte >> 4)])
            out.append(Self.hex[Int(byte & 15)])
        }
    }

    private static let hex = Array("0123456789abcdef")

    /// The identity of a JWT verified before, while it has not expired and its key is current.
    private func cachedJWT(_ digest: String, now: Date) -> Identity? {
        guard let hit = verified.withLock({ $0[digest] }), now < hit.expires else { return nil }
        let current = state.withLock { s -> Bool in
            guard let keys = s[hit.issuer]?.keys else { return false }
            return keys.types[hit.keyID] != nil && now.timeIntervalSince(keys.fetched) < timing.refreshInterval
        }
        return current ? hit.identity : nil
    }

    private func remember(_ entry: VerifiedJWT, as digest: String, now: Date) {
        guard timing.cacheSize > 0 else { return }
        verified.withLock { cache in
            if cache.count >= timing.cacheSize {
                cache = cache.filter { $0.value.expires > now }
                if cache.count >= timing.cacheSize { cache.removeAll() }
            }
            cache[digest] = entry
        }
    }

    // MARK: - Keys

    /// The issuer's keys, fetched first if there are none yet or they are due for a refresh.
    func keys(for iss: String, now: Date) async -> Keys? {
        let due = state.withLock { s -> Bool in
            guard let keys = s[iss]?.keys else { return true }
            return now.timeIntervalSince(keys.fetched) >= timing.refreshInterval
        }
        if due { await refresh(iss, now: now) }
        return currentKeys(iss, now: now)
    }

    /// The cached keys while they are not older than `keyLifetime`.
    func currentKeys(_ iss: String, now: Date) -> Keys? {
        state.withLock { s in
            guard let keys = s[iss]?.keys, now.timeIntervalSince(keys.fetched) < timing.keyLifetime else { return nil }
            return keys
        }
    }

    /// Fetches the issuer's keys again unless a fetch was tried within `refetchInterval` (so that neither made-up key
    /// ids nor an issuer that is down make Skyport ask again and again); callers that arrive during a fetch wait for
    /// it instead of starting another.
    func refresh(_ iss: String, now: Date) async {
        let task: Task<Void, Never>? = state.withLock { s in
            var entry = s[iss] ?? IssuerState()
            if let running = entry.fetching { return running }
            if let last = entry.lastAttempt, now.timeIntervalSince(last) < timing.refetchInterval { return nil }
            entry.lastAttempt = now
            let t = Task { await self.fetchKeys(iss, now: now) }
            entry.fetching = t
            s[iss] = entry
            return t
        }
        await task?.value
    }

    private func fetchKeys(_ iss: String, now: Date) async {
        defer { state.withLock { $0[iss]?.fetching = nil } }
        do {
            let metadata = try await self.metadata(iss)
            let response = try await http.get(metadata.jwksURI, accept: "application/jwk-set+json, application/json")
            guard response.status == 200 else {
                throw RemoteError(.status, url: metadata.jwksURI, status: response.status, body: response.body, message: "the JWKS answered \(response.status)")
            }
            let keys = try await Self.keys(fromJWKS: response.body, fetched: now)
            state.withLock { $0[iss, default: IssuerState()].keys = keys }
            logger.info("issuer keys fetched", metadata: ["issuer": "\(iss)", "keys": "\(keys.types.keys.sorted().joined(separator: ","))"])
        } catch {
            logger.warning("issuer keys could not be fetched", metadata: ["issuer": "\(iss)", "error": "\(error)"])
        }
    }

    /// The issuer's discovery document, read once (`{issuer}/.well-known/openid-configuration`); its `issuer` must
    /// be the configured one exactly.
    func metadata(_ iss: String) async throws -> ProviderMetadata {
        if let known = state.withLock({ $0[iss]?.metadata }) { return known }
        let base = iss.hasSuffix("/") ? String(iss.dropLast()) : iss
        guard let url = URL(string: base + "/.well-known/openid-configuration") else {
            throw RemoteError(.invalidResponse, url: URL(fileURLWithPath: "/"), message: "issuer '\(iss)' is not a URL")
        }
        let response = try await http.get(url, accept: "application/json")
        guard response.status == 200, case .object(let doc)? = try? JSONValue.parse(response.body) else {
            throw RemoteError(.invalidResponse, url: url, status: response.status, body: response.body, message: "no OpenID discovery document")
        }
        guard doc["issuer"]?.stringValue == iss else {
            throw RemoteError(.invalidResponse, url: url, message: "discovery names issuer '\(doc["issuer"]?.stringValue ?? "")', not '\(iss)'")
        }
        guard let jwks = doc["jwks_uri"]?.stringValue.flatMap(URL.init(string:)) else {
            throw RemoteError(.invalidResponse, url: url, message: "discovery gives no jwks_uri")
        }
        let metadata = ProviderMetadata(
            jwksURI: jwks, introspectionEndpoint: doc["introspection_endpoint"]?.stringValue.flatMap(URL.init(string:)),
            tokenEndpoint: doc["token_endpoint"]?.stringValue.flatMap(URL.init(string:)),
            authorizationEndpoint: doc["authorization_endpoint"]?.stringValue.flatMap(URL.init(string:)),
            scopes: doc["scopes_supported"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        state.withLock { $0[iss, default: IssuerState()].metadata = metadata }
        return metadata
    }

    /// The signing keys of a JWKS: RSA, EC and OKP keys with a key id that are not for encryption, added one at a
    /// time (a key jwt-kit cannot read, e.g. one for an algorithm it lacks, is skipped instead of spoiling the set).
    static func keys(fromJWKS body: Data, fetched: Date) async throws -> Keys {
        guard case .object(let doc) = try JSONValue.parse(body), case .array(let entries)? = doc["keys"] else {
            throw RemoteError(.invalidResponse, url: URL(fileURLWithPath: "/"), message: "the JWKS has no 'keys' array")
        }
        let collection = JWTKeyCollection()
        var types: [String: String] = [:]
        for entry in entries {
            guard case .object(let key) = entry, let kid = key["kid"]?.stringValue, let kty = key["kty"]?.stringValue,
                  ["RSA", "EC", "OKP"].contains(kty), key["use"]?.stringValue ?? "sig" == "sig",
                  let data = try? JSONEncoder().encode(entry), let jwk = try? JSONDecoder().decode(JWK.self, from: data),
                  (try? await collection.add(jwk: jwk)) != nil
            else { continue }
            types[kid] = kty
        }
        return Keys(collection: collection, types: types, fetched: fetched)
    }

    // MARK: - Token exchange

    /// RFC 8693: a token for `audience` in exchange for the user's (`subject_token`), from the user's issuer, with
    /// Skyport's client credentials. Throws `CredentialRefusal` with the issuer's reason when it says no.
    public func exchange(_ subjectToken: String, issuer iss: String, audience: String, now: Date) async throws -> IssuedToken {
        guard let issuer = issuers[iss], let client = issuer.introspectionClient else {
            throw CredentialRefusal("Skyport has no client at issuer \(iss) to exchange tokens with (its issuer entry names no 'client')")
        }
        guard let endpoint = try await metadata(iss).tokenEndpoint else {
            throw CredentialRefusal("issuer \(iss) publishes no token endpoint")
        }
        var call = http
        call.auth = .basic(username: client.id, password: client.secret)
        func refusal(_ status: Int, _ body: JSONValue?) -> CredentialRefusal {
            let why = [body?["error"]?.stringValue, body?["error_description"]?.stringValue].compactMap { $0 }.joined(separator: ": ")
            return CredentialRefusal(
                "issuer \(iss) refused to exchange your token for audience \(audience) (HTTP \(status)\(why.isEmpty ? "" : ", " + RemoteText.clip(why, limit: 200)))")
        }
        let response: RemoteHTTP.Response
        do {
            response = try await call.postForm(endpoint, [
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"), ("subject_token", subjectToken),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
                ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"), ("audience", audience),
            ], accept: "application/json")
        } catch let error as RemoteError where (400..<500).contains(error.status ?? 0) {
            // The issuer said no (RFC 6749 §5.2: 400 invalid_grant, invalid_request, ...; 401 for the client): final.
            throw refusal(error.status ?? 0, error.snippet.flatMap { try? JSONValue.parse(Data($0.utf8)) })
        }
        let body = try? JSONValue.parse(response.body)
        guard response.status == 200, let token = body?["access_token"]?.stringValue, !token.isEmpty else { throw refusal(response.status, body) }
        let expires = body?["expires_in"]?.doubleValue.map { now.addingTimeInterval($0) }
        logger.info("token exchanged", metadata: ["issuer": "\(iss)", "audience": "\(audience)"])
        return IssuedToken(token: token, expires: expires)
    }

    // MARK: - A browser's sign-in

    public var signInIssuers: [String] { order.filter { issuers[$0]?.introspectionClient != nil } }

    public func authorizationURL(issuer iss: String, redirectURI: String, state: String, codeChallenge: String, nonce: String) async throws -> URL {
        guard let configured = issuers[iss], let client = configured.introspectionClient else {
            throw CredentialRefusal("Skyport has no client at issuer \(iss) to sign browsers in with")
        }
        let metadata: ProviderMetadata
        do { metadata = try await self.metadata(iss) } catch let error as RemoteError {
            throw CredentialRefusal("issuer \(iss) could not be asked: \(error)", temporary: true)
        }
        guard let endpoint = metadata.authorizationEndpoint, var url = URLComponents(url: endpoint, resolvingAgainstBaseURL: false) else {
            throw CredentialRefusal("issuer \(iss) publishes no authorization endpoint")
        }
        // The groups too, where the issuer offers them by scope (WLCG): they make an operator or an admin.
        let scope = ["openid", "profile"] + (metadata.scopes.contains("wlcg.groups") ? ["wlcg.groups"] : [])
        url.queryItems = (url.queryItems ?? []) + [
            URLQueryItem(name: "response_type", value: "code"), URLQueryItem(name: "client_id", value: client.id),
            URLQueryItem(name: "redirect_uri", value: redirectURI), URLQueryItem(name: "scope", value: scope.joined(separator: " ")),
            URLQueryItem(name: "state", value: state), URLQueryItem(name: "nonce", value: nonce),
            URLQueryItem(name: "code_challenge", value: codeChallenge), URLQueryItem(name: "code_challenge_method", value: "S256"),
        ]
        // The token is for this Skyport (the audience its bearer tokens are checked for), where the issuer takes the
        // parameter (INDIGO IAM, idpyoidc); one that ignores it must list Skyport's client id among the audiences.
        if let audience = configured.trust.audiences.first { url.queryItems?.append(URLQueryItem(name: "audience", value: audience)) }
        // `+` in a query reads as a space to most servers: encode it.
        url.percentEncodedQuery = url.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        guard let built = url.url else { throw CredentialRefusal("issuer \(iss)'s authorization endpoint is not a URL") }
        return built
    }

    public func redeem(code: String, issuer iss: String, redirectURI: String, codeVerifier: String) async throws -> String {
        guard let client = issuers[iss]?.introspectionClient else {
            throw CredentialRefusal("Skyport has no client at issuer \(iss) to sign browsers in with")
        }
        let endpoint: URL?
        do { endpoint = try await metadata(iss).tokenEndpoint } catch let error as RemoteError {
            throw CredentialRefusal("issuer \(iss) could not be asked: \(error)", temporary: true)
        }
        guard let endpoint else { throw CredentialRefusal("issuer \(iss) publishes no token endpoint") }
        var call = http
        call.auth = .basic(username: client.id, password: client.secret)
        let response: RemoteHTTP.Response
        do {
            response = try await call.postForm(endpoint, [
                ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI), ("code_verifier", codeVerifier),
            ], accept: "application/json")
        } catch let error as RemoteError where (400..<500).contains(error.status ?? 0) {
            let body = error.snippet.flatMap { try? JSONValue.parse(Data($0.utf8)) }
            let why = [body?["error"]?.stringValue, body?["error_description"]?.stringValue].compactMap { $0 }.joined(separator: ": ")
            throw CredentialRefusal("issuer \(iss) refused the sign-in (HTTP \(error.status ?? 0)\(why.isEmpty ? "" : ", " + RemoteText.clip(why, limit: 200)))")
        } catch let error as RemoteError {
            throw CredentialRefusal("issuer \(iss) could not be asked: \(error)", temporary: true)
        }
        guard response.status == 200, let token = (try? JSONValue.parse(response.body))?["access_token"]?.stringValue, !token.isEmpty else {
            throw CredentialRefusal("issuer \(iss) gave no access token for the sign-in (HTTP \(response.status))")
        }
        logger.info("browser signed in", metadata: ["issuer": "\(iss)"])
        return token
    }

    // MARK: - Introspection

    /// Asks the issuers that introspect, in configured order, about an opaque token; an active answer is cached
    /// until the token expires.
    func introspect(_ token: String, digest key: String, now: Date) async -> Result<Identity, TokenRefusal> {
        if let hit = introspected.withLock({ $0[key] }), hit.expires > now { return .success(hit.identity) }
        var lastRefusal: TokenRefusal = .malformed("not a JWT, and no trusted issuer introspects tokens")
        for iss in order {
            guard let issuer = issuers[iss], let client = issuer.introspectionClient else { continue }
            do {
                guard let endpoint = try await metadata(iss).introspectionEndpoint else { continue }
                var call = http
                call.auth = .basic(username: client.id, password: client.secret)
                let response = try await call.postForm(endpoint, [("token", token), ("token_type_hint", "access_token")], accept: "application/json")
                guard response.status == 200, case .object(var claims)? = try? JSONValue.parse(response.body) else {
                    lastRefusal = .issuerUnreachable("introspection answered \(response.status)")
                    continue
                }
                guard claims["active"]?.boolValue == true else {
                    lastRefusal = .inactive
                    continue
                }
                if claims["iss"] == nil { claims["iss"] = .string(iss) }
                let result = TokenRules.identity(claims, issuer: issuer.trust, now: now)
                if case .success(let identity) = result, let exp = TokenRules.date(claims["exp"]), timing.cacheSize > 0 {
                    introspected.withLock { cache in
                        if cache.count >= timing.cacheSize {
                            cache = cache.filter { $0.value.expires > now }
                            if cache.count >= timing.cacheSize { cache.removeAll() }
                        }
                        cache[key] = (identity, exp)
                    }
                }
                return result
            } catch {
                lastRefusal = .issuerUnreachable("\(error)")
            }
        }
        return .failure(lastRefusal)
    }
}

/// A payload whose claims jwt-kit does not judge: Skyport's own rules (`TokenRules`) judge the claims once the
/// signature has verified.
struct SignatureOnly: JWTPayload {
    init(from decoder: any Decoder) throws {}
    func encode(to encoder: any Encoder) throws {}
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

extension IssuerConfiguration {
    /// Reads the trusted issuers from a JSON file: an array of
    /// `{"issuer": ..., "audiences": [...], "algorithms"?: [...], "groupClaims"?: [...], "nameClaims"?: [...],
    /// "introspection"?: {"clientId": ..., "clientSecretFile": ...}}`. A malformed entry is an error naming its field.
    public static func load(file: String) throws -> [IssuerConfiguration] {
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        guard case .array(let entries) = try JSONValue.parse(data) else { throw FieldError(file, "must be a JSON array of issuers") }
        return try entries.enumerated().map { n, entry in try parse(entry, at: "\(file)[\(n)]") }
    }

    public static func parse(_ entry: JSONValue, at path: String) throws -> IssuerConfiguration {
        func strings(_ key: String) throws -> [String]? {
            guard let value = entry[key] else { return nil }
            guard case .array(let items) = value, !items.isEmpty else { throw FieldError("\(path).\(key)", "must be a non-empty array of strings") }
            return try items.map { item in
                guard let s = item.stringValue, !s.isEmpty else { throw FieldError("\(path).\(key)", "must be a non-empty array of strings") }
                return s
            }
        }
        guard let issuer = entry["issuer"]?.stringValue, let url = URL(string: issuer), ["https", "http"].contains(url.scheme ?? ""), url.host != nil,
              url.fragment == nil
        else { throw FieldError("\(path).issuer", "must be the issuer's URL, exactly as its tokens' 'iss' gives it") }
        guard let audiences = try strings("audiences") else { throw FieldError("\(path).audiences", "must list the 'aud' values that mean this Skyport") }
        var trust = TrustedIssuer(issuer: issuer, audiences: audiences)
        if let algorithms = try strings("algorithms") {
            for alg in algorithms where !TokenRules.asymmetric.contains(alg) {
                throw FieldError("\(path).algorithms", "'\(alg)' is not an asymmetric JWS algorithm (\(TokenRules.asymmetric.sorted().joined(separator: ", ")))")
            }
            trust.algorithms = algorithms
        }
        if let claims = try strings("groupClaims") { trust.groupClaims = claims }
        if let claims = try strings("nameClaims") { trust.nameClaims = claims }
        // `client` (introspection and token exchange), or `introspection` as before.
        var client: Client?
        for key in ["client", "introspection"] {
            guard client == nil, let given = entry[key] else { continue }
            guard let id = given["clientId"]?.stringValue, !id.isEmpty else {
                throw FieldError("\(path).\(key).clientId", "must name Skyport's client at the issuer")
            }
            guard let secretFile = given["clientSecretFile"]?.stringValue,
                  let secret = try? String(contentsOfFile: secretFile, encoding: .utf8).trimmingWhitespace(), !secret.isEmpty
            else { throw FieldError("\(path).\(key).clientSecretFile", "must name a readable file holding the client's secret") }
            client = Client(id: id, secret: secret)
        }
        return IssuerConfiguration(trust: trust, introspectionClient: client)
    }
}

import Foundation
import Logging
import SkyportCore

/// Every setting Skyport reads, resolved once at start-up: defaults, then `SKYPORT_*` environment
/// variables, then command-line flags (the caller applies flags over `fromEnvironment()`).
public struct SkyportConfiguration: Sendable {
    /// Address to listen on (`SKYPORT_HOST`, `--host`).
    public var host = "127.0.0.1"
    /// Port to listen on; 0 picks a free one (`SKYPORT_PORT`, `--port`).
    public var port = 8090
    /// The SQLite file, `:memory:` for a store that lives only as long as the process, or a PostgreSQL URL
    /// (`postgres://user[:password]@host[:port]/database[?schema=NAME&sslmode=MODE&pool=N]`), the store that replicas
    /// share (`SKYPORT_DB`, `--db`).
    public var database = "var/skyport.sqlite"
    /// This process among replicas sharing a PostgreSQL store: in `/health`, leases and turns (`SKYPORT_REPLICA_ID`;
    /// by default the host name and process id).
    public var replicaID = "\(ProcessInfo.processInfo.hostName)-\(getpid())"

    /// Whether the store is PostgreSQL.
    public var usesPostgres: Bool { database.hasPrefix("postgres://") || database.hasPrefix("postgresql://") }
    /// swift-log level: trace, debug, info, notice, warning, error, critical (`SKYPORT_LOG_LEVEL`, `--log-level`).
    public var logLevel: Logger.Level = .info
    /// `text` or `json` lines on standard error (`SKYPORT_LOG_FORMAT`, `--log-format`).
    public var logFormat = "text"
    /// Largest request body accepted, in bytes (`SKYPORT_MAX_BODY_BYTES`).
    public var maxBodyBytes = 1 << 20
    /// How long an offer may be accepted, in seconds (`SKYPORT_OFFER_LIFETIME`).
    public var offerLifetime = 300
    /// Most offers in one offer set (`SKYPORT_MAX_OFFERS`).
    public var maxOffers = 4
    /// How often expired offers are recorded as EXPIRED, in seconds (`SKYPORT_EXPIRY_SWEEP`).
    public var expirySweep = 5
    /// Sessions forwarded and tracked at once (`SKYPORT_FORWARD_CONCURRENCY`).
    public var forwardConcurrency = 64
    /// Seconds a forwarding worker holds a session; after a crash its sessions are resumed this long after (`SKYPORT_FORWARD_LEASE`).
    public var forwardLease = 60
    /// Jobs tracked at one UWS job list from which the list is read by phase once per interval instead of one blocking
    /// wait per job (`SKYPORT_TRACK_LIST_MINIMUM`; 0 never reads lists).
    public var trackListMinimum = 8
    /// How often such a job list is read, in milliseconds (`SKYPORT_TRACK_LIST_INTERVAL`).
    public var trackListInterval = 250
    /// A JSON file of credentials for facility endpoints, by URL prefix (`SKYPORT_CREDENTIALS`). A BinderHub's
    /// JupyterHub token goes under the hub's URL (`{"token": ..., "scheme": "token"}`): with it, Skyport stops servers.
    public var credentialsFile: String?
    /// The 256-bit key that seals notebook tokens in the store (`SKYPORT_SECRET_KEY`, a file made on first start);
    /// by default `skyport.key` beside the database.
    public var secretKeyFile: String?
    /// The git remote derived commits (with the basket's staging `postBuild`) are pushed to (`SKYPORT_STAGING_REMOTE`).
    public var stagingRemote: String?
    /// The URL BinderHub clones staged commits from, when not the push URL (`SKYPORT_STAGING_FETCH_URL`).
    public var stagingFetchURL: String?
    /// Where staging clones are made (`SKYPORT_STAGING_DIR`).
    public var stagingDirectory = FileManager.default.temporaryDirectory.appending(path: "skyport-staging").path
    /// Seconds a BinderHub launch may take when the facility does not say (`SKYPORT_BINDER_LAUNCH_TIMEOUT`).
    public var binderLaunchTimeout = 600
    /// Seconds between harvests of each registry source (`SKYPORT_REGISTRY_PERIOD`); 0 turns harvesting off.
    public var registryPeriod = 3600
    /// Where spans are exported, OTLP/HTTP (`SKYPORT_OTLP_ENDPOINT`: a collector's base URL such as
    /// `http://127.0.0.1:4318`, or its full `/v1/traces` URL); nil, the default: tracing is off.
    public var otlpEndpoint: String?
    /// The fraction of requests traced when their caller sends no `traceparent` (`SKYPORT_TRACE_SAMPLE`, 0 to 1;
    /// default 1); one that does is continued, keeping its caller's sampled flag.
    public var traceSample = 1.0
    /// OAI-PMH base URLs added as registry sources (by operator `registry`) at start (`SKYPORT_REGISTRY_SOURCES`, comma-separated).
    public var registrySources: [String] = []
    /// Seconds between health checks of a healthy facility (VOSI availability, BinderHub /health and /versions), with
    /// jitter; an unavailable one is checked twice as often; 0 turns the checks off (`SKYPORT_HEALTH_PERIOD`).
    public var healthPeriod = 60
    /// Longest wait, in seconds, before asking a busy BinderHub again (rate limit, quota) (`SKYPORT_BINDER_BUSY_DELAY`).
    public var binderBusyDelay = 300
    /// Seconds a BinderHub build stream may stay silent (`SKYPORT_BINDER_IDLE_TIMEOUT`; BinderHub sends a keep-alive every 25 s).
    public var binderIdleTimeout = 90
    /// This broker's name on federation paths (`SKYPORT_BROKER_ID`): another broker that sees it in a request's
    /// `Skyport-Via` knows the request came round in a loop. By default a new random one at each start.
    public var brokerID = "skyport-" + UUID().text.prefix(8).lowercased()
    /// Seconds to wait for another broker's offers when its endpoint sets no `offerDeadline`
    /// (`SKYPORT_FEDERATION_DEADLINE`, fractions allowed).
    public var federationDeadline = 3.0
    /// Longest a long poll (`?wait=`, UWS `WAIT`) holds its answer, in seconds (`SKYPORT_WAIT_MAX`): below the idle
    /// timeout of any proxy in front of the broker.
    public var maxWait = 60
    /// BinderHub facilities that must run the same versions, the prime first (`SKYPORT_BINDER_FEDERATION`, comma-separated
    /// facility identifiers): a member whose `/versions` differ from the prime's is unavailable. Nil: never compared.
    public var binderFederation: BinderFederation?
    /// Destinations outside the public address space that Skyport may call on behalf of what others wrote
    /// (`SKYPORT_EGRESS_ALLOW`: comma-separated host names, `*.domain`s, addresses and CIDR blocks). Empty by default:
    /// loopback, private, link-local and the other special ranges are refused. Metadata endpoints are never allowed.
    public var egress = EgressPolicy()

    /// Seconds a kept-alive connection may stay silent between requests (`SKYPORT_IDLE_TIMEOUT`; 0: no limit).
    public var idleTimeout = 60
    /// Seconds a request's head may take to arrive, counted from the connection's opening or the request's first
    /// byte, however slowly it trickles in (`SKYPORT_HEADER_TIMEOUT`; 0: no limit).
    public var headerTimeout = 10
    /// Seconds a request's body may take to arrive after its head (`SKYPORT_BODY_TIMEOUT`; 0: no limit).
    public var bodyTimeout = 60
    /// Open client connections at most (`SKYPORT_MAX_CONNECTIONS`); beyond it a connection is answered 503 with
    /// `Retry-After` and closed. Nil: the open-file limit (raised to its hard limit at start) less a reserve for the
    /// database, peers and outbound calls (`SkyportRuntime.derivedMaxConnections`).
    public var maxConnections: Int?
    /// Writes (POST, PUT, DELETE) per second and burst per client address for callers without an operator token
    /// (`SKYPORT_RATE_LIMIT`, `RATE` or `RATE/BURST`; `0`: off).
    public var rateLimit = RateLimit(perSecond: 10, burst: 40)
    /// Offer requests (`POST /requests`, `/direct`) that run at once (`SKYPORT_OFFER_CONCURRENCY`; 0: no limit); more
    /// wait their turn, and while a queue of them stands (`Admission`) one that cannot start is answered 503.
    public var offerConcurrency = 16

    /// Seconds an offer set that never became a job (its offers expired, were rejected or cancelled; a `NO` set) is kept
    /// after its last offer ended (`SKYPORT_RETAIN_OFFERS`).
    public var retainOffers = 86_400
    /// Seconds an offer set with a job is kept after its last session ended: `COMPLETED`, `FAILED`, `CANCELLED`, ...
    /// (`SKYPORT_RETAIN_SESSIONS`).
    public var retainSessions = 30 * 86_400
    /// Seconds a UWS job is kept after its destruction time (it is hidden from then on) (`SKYPORT_RETAIN_UWS_JOBS`).
    public var retainUWSJobs = 3_600
    /// Seconds between retention passes; 0 turns deleting off (`SKYPORT_RETENTION_SWEEP`).
    public var retentionSweep = 60

    /// How callers are known (`SKYPORT_AUTH`): `open` (anonymous scientists, the default) or `oidc` (scientists send
    /// bearer tokens from a trusted OpenID Connect issuer).
    public var auth: AuthMode = .open
    /// The trusted issuers, a JSON file (`SKYPORT_OIDC_ISSUERS`; see `IssuerConfiguration.load`). For one issuer
    /// without introspection, `SKYPORT_OIDC_ISSUER` and `SKYPORT_OIDC_AUDIENCE` (comma-separated) say the same.
    public var oidcIssuersFile: String?
    public var oidcIssuer: String?
    public var oidcAudiences: [String] = []
    /// Groups whose members act as an operator (`SKYPORT_OIDC_OPERATOR_GROUPS`: `GROUP=OPERATOR,...`) or see
    /// everything as an admin (`SKYPORT_OIDC_ADMIN_GROUPS`: comma-separated groups).
    public var roles = RoleMapping()

    /// The quota file (`SKYPORT_QUOTAS`: `{"quotas": [{"account": "group:/skao", "offeredCores": 64}, ...]}`); quotas set
    /// through the admin API override it.
    public var quotasFile: String?
    /// A user's token that expires within this many seconds is exchanged again before Skyport calls the facility
    /// (`SKYPORT_CREDENTIAL_MARGIN`).
    public var credentialMargin = 60
    /// Seconds an audit event is kept (`SKYPORT_RETAIN_AUDIT`).
    public var retainAudit = 400 * 86_400

    /// The retention periods as a policy.
    public var retention: RetentionPolicy {
        RetentionPolicy(
            offers: TimeInterval(retainOffers), sessions: TimeInterval(retainSessions), uwsGrace: TimeInterval(retainUWSJobs),
            audit: TimeInterval(retainAudit))
    }

    public init() {}

    /// Defaults overridden by the environment; a malformed value is an error naming the variable.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> SkyportConfiguration {
        var c = SkyportConfiguration()
        if let v = env["SKYPORT_HOST"] { c.host = v }
        if let v = env["SKYPORT_PORT"] { c.port = try int(v, "SKYPORT_PORT", 0...65_535) }
        if let v = env["SKYPORT_DB"] { c.database = v }
        if let v = env["SKYPORT_REPLICA_ID"] {
            guard (1...64).contains(v.count), v.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                throw Invalid(description: "SKYPORT_REPLICA_ID: 1 to 64 letters, digits, dots, dashes or underscores, got \(v)")
            }
            c.replicaID = v
        }
        if let v = env["SKYPORT_LOG_LEVEL"] { c.logLevel = try level(v, "SKYPORT_LOG_LEVEL") }
        if let v = env["SKYPORT_LOG_FORMAT"] { c.logFormat = try format(v, "SKYPORT_LOG_FORMAT") }
        if let v = env["SKYPORT_MAX_BODY_BYTES"] { c.maxBodyBytes = try int(v, "SKYPORT_MAX_BODY_BYTES", 1_024...(1 << 30)) }
        if let v = env["SKYPORT_OFFER_LIFETIME"] { c.offerLifetime = try int(v, "SKYPORT_OFFER_LIFETIME", 1...86_400) }
        if let v = env["SKYPORT_MAX_OFFERS"] { c.maxOffers = try int(v, "SKYPORT_MAX_OFFERS", 1...100) }
        if let v = env["SKYPORT_EXPIRY_SWEEP"] { c.expirySweep = try int(v, "SKYPORT_EXPIRY_SWEEP", 1...3_600) }
        if let v = env["SKYPORT_FORWARD_CONCURRENCY"] { c.forwardConcurrency = try int(v, "SKYPORT_FORWARD_CONCURRENCY", 1...100_000) }
        if let v = env["SKYPORT_FORWARD_LEASE"] { c.forwardLease = try int(v, "SKYPORT_FORWARD_LEASE", 1...3_600) }
        if let v = env["SKYPORT_TRACK_LIST_MINIMUM"] { c.trackListMinimum = try int(v, "SKYPORT_TRACK_LIST_MINIMUM", 0...1_000_000) }
        if let v = env["SKYPORT_TRACK_LIST_INTERVAL"] { c.trackListInterval = try int(v, "SKYPORT_TRACK_LIST_INTERVAL", 50...600_000) }
        if let v = env["SKYPORT_CREDENTIALS"], !v.isEmpty { c.credentialsFile = v }
        if let v = env["SKYPORT_SECRET_KEY"], !v.isEmpty { c.secretKeyFile = v }
        if let v = env["SKYPORT_STAGING_REMOTE"], !v.isEmpty { c.stagingRemote = v }
        if let v = env["SKYPORT_STAGING_FETCH_URL"], !v.isEmpty { c.stagingFetchURL = v }
        if let v = env["SKYPORT_STAGING_DIR"], !v.isEmpty { c.stagingDirectory = v }
        if let v = env["SKYPORT_BINDER_LAUNCH_TIMEOUT"] { c.binderLaunchTimeout = try int(v, "SKYPORT_BINDER_LAUNCH_TIMEOUT", 1...86_400) }
        if let v = env["SKYPORT_REGISTRY_PERIOD"] { c.registryPeriod = try int(v, "SKYPORT_REGISTRY_PERIOD", 0...604_800) }
        if let v = env["SKYPORT_REGISTRY_SOURCES"] {
            c.registrySources = v.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
            for u in c.registrySources where FacilityDocument.httpURLProblem(u) != nil {
                throw Invalid(description: "SKYPORT_REGISTRY_SOURCES: '\(u)' is not an http(s) URL")
            }
        }
        if let v = env["SKYPORT_EGRESS_ALLOW"] {
            do { c.egress = try EgressPolicy(parsing: v) } catch { throw Invalid(description: error.message) }
        }
        if let v = env["SKYPORT_OTLP_ENDPOINT"], !v.isEmpty {
            guard FacilityDocument.httpURLProblem(v) == nil else { throw Invalid(description: "SKYPORT_OTLP_ENDPOINT: '\(v)' is not an http(s) URL") }
            c.otlpEndpoint = v
        }
        if let v = env["SKYPORT_TRACE_SAMPLE"] {
            guard let d = Double(v), (0...1).contains(d) else { throw Invalid(description: "SKYPORT_TRACE_SAMPLE='\(v)' must be a number from 0 to 1") }
            c.traceSample = d
        }
        if let v = env["SKYPORT_HEALTH_PERIOD"] { c.healthPeriod = try int(v, "SKYPORT_HEALTH_PERIOD", 0...86_400) }
        if let v = env["SKYPORT_BINDER_BUSY_DELAY"] { c.binderBusyDelay = try int(v, "SKYPORT_BINDER_BUSY_DELAY", 1...86_400) }
        if let v = env["SKYPORT_BINDER_IDLE_TIMEOUT"] { c.binderIdleTimeout = try int(v, "SKYPORT_BINDER_IDLE_TIMEOUT", 1...3_600) }
        if let v = env["SKYPORT_BROKER_ID"] {
            guard !v.isEmpty, v.utf8.count <= 128, v.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ",") }) else {
                throw Invalid(description: "SKYPORT_BROKER_ID='\(v)' must be 1 to 128 printable ASCII characters without spaces or commas")
            }
            c.brokerID = v
        }
        if let v = env["SKYPORT_FEDERATION_DEADLINE"] {
            guard let d = Double(v), d >= 0.01, d <= 600 else {
                throw Invalid(description: "SKYPORT_FEDERATION_DEADLINE='\(v)' must be a number of seconds from 0.01 to 600")
            }
            c.federationDeadline = d
        }
        if let v = env["SKYPORT_WAIT_MAX"] { c.maxWait = try int(v, "SKYPORT_WAIT_MAX", 0...3_600) }
        if let v = env["SKYPORT_IDLE_TIMEOUT"] { c.idleTimeout = try int(v, "SKYPORT_IDLE_TIMEOUT", 0...86_400) }
        if let v = env["SKYPORT_HEADER_TIMEOUT"] { c.headerTimeout = try int(v, "SKYPORT_HEADER_TIMEOUT", 0...86_400) }
        if let v = env["SKYPORT_BODY_TIMEOUT"] { c.bodyTimeout = try int(v, "SKYPORT_BODY_TIMEOUT", 0...86_400) }
        if let v = env["SKYPORT_MAX_CONNECTIONS"], !v.isEmpty { c.maxConnections = try int(v, "SKYPORT_MAX_CONNECTIONS", 1...10_000_000) }
        if let v = env["SKYPORT_RATE_LIMIT"] { c.rateLimit = try rateLimit(v, "SKYPORT_RATE_LIMIT") }
        if let v = env["SKYPORT_OFFER_CONCURRENCY"] { c.offerConcurrency = try int(v, "SKYPORT_OFFER_CONCURRENCY", 0...100_000) }
        if let v = env["SKYPORT_BINDER_FEDERATION"], !v.trimmingSpaces().isEmpty {
            let ids = v.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
            for id in ids { if let problem = FacilityID(id).problem { throw Invalid(description: "SKYPORT_BINDER_FEDERATION: '\(id)' \(problem)") } }
            guard let federation = BinderFederation(listing: ids) else {
                throw Invalid(description: "SKYPORT_BINDER_FEDERATION='\(v)' must name the prime BinderHub facility and at least one other member, comma-separated")
            }
            c.binderFederation = federation
        }
        if let v = env["SKYPORT_RETAIN_OFFERS"] { c.retainOffers = try int(v, "SKYPORT_RETAIN_OFFERS", 0...(3_650 * 86_400)) }
        if let v = env["SKYPORT_RETAIN_SESSIONS"] { c.retainSessions = try int(v, "SKYPORT_RETAIN_SESSIONS", 0...(3_650 * 86_400)) }
        if let v = env["SKYPORT_RETAIN_UWS_JOBS"] { c.retainUWSJobs = try int(v, "SKYPORT_RETAIN_UWS_JOBS", 0...(3_650 * 86_400)) }
        if let v = env["SKYPORT_RETENTION_SWEEP"] { c.retentionSweep = try int(v, "SKYPORT_RETENTION_SWEEP", 0...86_400) }
        if let v = env["SKYPORT_RETAIN_AUDIT"] { c.retainAudit = try int(v, "SKYPORT_RETAIN_AUDIT", 86_400...(3_650 * 86_400)) }
        if let v = env["SKYPORT_QUOTAS"], !v.isEmpty { c.quotasFile = v }
        if let v = env["SKYPORT_CREDENTIAL_MARGIN"] { c.credentialMargin = try int(v, "SKYPORT_CREDENTIAL_MARGIN", 0...86_400) }
        if let v = env["SKYPORT_AUTH"] {
            guard let mode = AuthMode(rawValue: v.lowercased()) else { throw Invalid(description: "SKYPORT_AUTH='\(v)' must be open or oidc") }
            c.auth = mode
        }
        if let v = env["SKYPORT_OIDC_ISSUERS"], !v.isEmpty { c.oidcIssuersFile = v }
        if let v = env["SKYPORT_OIDC_ISSUER"], !v.isEmpty { c.oidcIssuer = v }
        if let v = env["SKYPORT_OIDC_AUDIENCE"] {
            c.oidcAudiences = v.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        }
        if let v = env["SKYPORT_OIDC_OPERATOR_GROUPS"] {
            for pair in v.split(separator: ",").map({ $0.trimmingSpaces() }) where !pair.isEmpty {
                let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw Invalid(description: "SKYPORT_OIDC_OPERATOR_GROUPS: '\(pair)' must be GROUP=OPERATOR, e.g. /skao/operators=skao")
                }
                c.roles.operatorGroups[parts[0]] = parts[1]
            }
        }
        if let v = env["SKYPORT_OIDC_ADMIN_GROUPS"] {
            c.roles.adminGroups = Set(v.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty })
        }
        if c.auth == .oidc, c.oidcIssuersFile == nil, c.oidcIssuer == nil {
            throw Invalid(description: "SKYPORT_AUTH=oidc needs trusted issuers: SKYPORT_OIDC_ISSUERS (a JSON file) or SKYPORT_OIDC_ISSUER with SKYPORT_OIDC_AUDIENCE")
        }
        if c.oidcIssuer != nil, c.oidcAudiences.isEmpty {
            throw Invalid(description: "SKYPORT_OIDC_ISSUER needs SKYPORT_OIDC_AUDIENCE: the 'aud' values (comma-separated) that mean this Skyport")
        }
        return c
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    static func int(_ text: String, _ key: String, _ range: ClosedRange<Int>) throws -> Int {
        guard let v = Int(text), range.contains(v) else {
            throw Invalid(description: "\(key)='\(text)' must be a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    /// `RATE` or `RATE/BURST` (requests per second, fractions allowed; the burst defaults to 4 x RATE, at least 1);
    /// `0` turns the limit off.
    static func rateLimit(_ text: String, _ key: String) throws -> RateLimit {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map { $0.trimmingSpaces() }
        let invalid = Invalid(description: "\(key)='\(text)' must be RATE or RATE/BURST: requests per second (0: off) and a whole burst of at least 1, e.g. 10/40")
        guard parts.count <= 2, let rate = Double(parts[0]), rate.isFinite, rate >= 0, rate <= 1_000_000 else { throw invalid }
        if rate == 0 { return .off }
        var burst = max(1, Int((rate * 4).rounded(.up)))
        if parts.count == 2 {
            guard let b = Int(parts[1]), b >= 1, b <= 1_000_000 else { throw invalid }
            burst = b
        }
        return RateLimit(perSecond: rate, burst: burst)
    }

    public static func level(_ text: String, _ key: String) throws -> Logger.Level {
        guard let v = Logger.Level(rawValue: text.lowercased()) else {
            throw Invalid(description: "\(key)='\(text)' must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }

    public static func format(_ text: String, _ key: String) throws -> String {
        guard ["text", "json"].contains(text.lowercased()) else { throw Invalid(description: "\(key)='\(text)' must be text or json") }
        return text.lowercased()
    }
}

import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import SkyportBroker
import SkyportCore
import SkyportHTTP
import SkyportRemotes
import SkyportServices
import SkyportStore

/// The composition root: the one place that creates the concrete store, sealer, signals, HTTP client, federation
/// and background services, and wires the use cases (`Broker`) to them. `skyport serve`, every CLI subcommand that
/// needs them, and the tests' `TestBroker` build it the same way.
public final class SkyportRuntime: Sendable {
    /// What a caller (a test, a CLI command) supplies instead of what the configuration would make.
    public struct Overrides: Sendable {
        public var store: (any BrokerStore)?
        public var sealer: (any SecretSealer)?
        /// How VOSI capabilities are read for facility refreshes: by default with the runtime's client; `.some(nil)`:
        /// refreshing is not configured.
        public var capabilities: CapabilitiesFetch??
        public var metrics: PrometheusCollectorRegistry?
        /// How outbound host names are resolved (tests give fixed answers).
        public var resolver: (any HostResolver)?
        /// The rate limit's clock: time since any fixed origin (by default the continuous clock).
        public var rateLimitClock: (@Sendable () -> Duration)?
        /// The gate offer requests pass (by default one for `SKYPORT_OFFER_CONCURRENCY`; tests hold its slots).
        public var admission: OfferAdmission?
        /// The broker's clock (by default the system's): what use cases and the forwarding service call now.
        public var now: (@Sendable () -> Date)?
        /// Whether `shutdown()` closes the store (one the runtime opened; a caller's store stays open for the caller).
        public var closesStore = false
        public init(store: (any BrokerStore)? = nil) { self.store = store }
    }

    public let config: SkyportConfiguration
    public let logger: Logger
    public let store: any BrokerStore
    let closesStore: Bool
    public let sealer: any SecretSealer
    /// Rung when a session needs the forwarding service.
    public let work = WorkSignal()
    /// The facilities' last health checks (in memory: after a start, facilities are unprobed until the first round).
    public let health = HealthBoardBox()
    /// Rung when a registry source is added.
    public let registryHarvests = WorkSignal()
    public let metrics: PrometheusCollectorRegistry
    /// The domain metric families (`BrokerMetrics`), fed by the telemetry every part reports to.
    public let brokerMetrics: BrokerMetrics
    /// The egress gate every outbound call goes through (with its HTTP clients); `shutdown()` closes it.
    public let egress: Egress
    /// Credentials for facility endpoints (`SKYPORT_CREDENTIALS`), read once.
    public let credentials: Credentials
    /// The use cases.
    public let broker: Broker
    /// The client connections open now, and those the limits refused or timed out.
    public let connections: ConnectionCounter
    /// The per-client limit on writes by non-operators (nil when `SKYPORT_RATE_LIMIT` is 0).
    public let rateLimiter: RateLimiter?
    /// The gate offer requests pass (nil: `SKYPORT_OFFER_CONCURRENCY=0`).
    public let admission: OfferAdmission?
    /// Open client connections at most: `SKYPORT_MAX_CONNECTIONS`, else derived from the open-file limit.
    public let maxConnections: Int
    /// Checks scientists' bearer tokens (`SKYPORT_AUTH=oidc`); nil in `open` mode.
    public let tokenVerifier: (any TokenVerifying)?

    /// The version Skyport reports in `/health`.
    public static let version = "0.1.0"

    /// A runtime on the configured store, opened first when it needs connecting (PostgreSQL).
    public static func open(_ config: SkyportConfiguration, logger: Logger, overrides: Overrides = .init()) async throws -> SkyportRuntime {
        var overrides = overrides
        if overrides.store == nil {
            overrides.store = try await openStore(config, logger: logger)
            overrides.closesStore = true
        }
        return try SkyportRuntime(config, logger: logger, overrides: overrides)
    }

    public init(_ config: SkyportConfiguration, logger: Logger, overrides: Overrides = .init()) throws {
        self.config = config
        self.logger = logger
        closesStore = overrides.closesStore
        let store = try overrides.store ?? Self.makeStore(config)
        self.store = store
        // Other replicas' acceptances and added registry sources wake this one's worker and harvester too.
        store.wakeups.connect(.work, to: work)
        store.wakeups.connect(.registrySources, to: registryHarvests)
        self.sealer = try overrides.sealer ?? Self.makeSealer(config)
        self.metrics = overrides.metrics ?? PrometheusCollectorRegistry()
        self.brokerMetrics = BrokerMetrics(metrics, version: Self.version)
        let telemetry = brokerMetrics.telemetry
        store.telemetry.connect(telemetry)
        self.credentials = try config.credentialsFile.map { try Credentials(file: $0) } ?? Credentials()
        var clientConfiguration = RemoteHTTP.clientConfiguration
        // Every tracked job may hold a blocking WAIT at its facility: let that many connections open per host.
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, config.forwardConcurrency)
        let metrics = self.metrics
        let egress = Egress(
            policy: config.egress, resolver: overrides.resolver ?? SystemResolver(), configuration: clientConfiguration,
            logger: Logger(label: "skyport.egress", factory: { _ in logger.handler })
        ) { refusal, purpose in
            metrics.makeCounter(
                name: "skyport_egress_refused_total", labels: [("reason", refusal.reason.rawValue), ("purpose", purpose.rawValue)]
            ).increment()
        }
        self.egress = egress
        var planner = OfferPlanner.Settings()
        planner.maxOffers = config.maxOffers
        planner.offerLifetime = TimeInterval(config.offerLifetime)
        var federation = BrokerFederation(
            brokerID: config.brokerID, egress: egress, credentials: credentials,
            logger: Logger(label: "skyport.federation", factory: { _ in logger.handler }))
        federation.telemetry = telemetry
        let capabilities = overrides.capabilities ?? Self.capabilitiesFetch(egress: egress, logger: logger)
        self.connections = ConnectionCounter(metrics: metrics)
        self.rateLimiter = config.rateLimit.isOff ? nil : RateLimiter(config.rateLimit, now: overrides.rateLimitClock)
        self.admission = overrides.admission ?? (config.offerConcurrency == 0 ? nil : OfferAdmission(Admission.Settings(limit: config.offerConcurrency)))
        // The gate's series from the start, at zero (a rate sees the first refusals).
        if let admission { brokerMetrics.refresh(admission.counts) }
        self.maxConnections = config.maxConnections ?? Self.derivedMaxConnections(config)
        self.tokenVerifier = config.auth == .oidc
            ? OIDCVerifier(issuers: try Self.trustedIssuers(config), egress: egress, logger: Logger(label: "skyport.identity", factory: { _ in logger.handler }))
            : nil
        var broker = Broker(
            store: store, planner: planner, sealer: sealer, work: work, health: health, registryHarvests: registryHarvests,
            federation: federation, federationDeadline: config.federationDeadline, capabilities: capabilities, egress: config.egress,
            accounts: AccountBook(file: try config.quotasFile.map(Self.loadQuotas) ?? QuotaTable()), now: overrides.now ?? { Date() })
        broker.tokenExchange = tokenVerifier as? any TokenExchanging
        broker.documents = Self.documentFetch(egress: egress, logger: logger)
        broker.maxWait = config.maxWait
        broker.telemetry = telemetry
        self.broker = broker
    }

    /// Reads and checks the quota file; every bad entry is named.
    static func loadQuotas(_ path: String) throws -> QuotaTable {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw SkyportConfiguration.Invalid(description: "SKYPORT_QUOTAS: cannot read \(path): \(error.localizedDescription)")
        }
        let value: JSONValue
        do { value = try JSONValue.parse(data) } catch {
            throw SkyportConfiguration.Invalid(description: "SKYPORT_QUOTAS: \(path) is not JSON: \(error)")
        }
        switch QuotaTable.parse(value) {
        case .success(let table): return table
        case .failure(let f):
            throw SkyportConfiguration.Invalid(description: "SKYPORT_QUOTAS: \(path): " + f.errors.map(\.description).joined(separator: "; "))
        }
    }

    /// Runs `body` with a runtime, and closes its client afterwards whatever happens (the CLI's one-shot commands).
    public static func with<T: Sendable>(
        _ config: SkyportConfiguration, logger: Logger = Logger(label: "skyport"), overrides: Overrides = .init(),
        _ body: (SkyportRuntime) async throws -> T
    ) async throws -> T {
        let runtime = try await SkyportRuntime.open(config, logger: logger, overrides: overrides)
        do {
            let result = try await body(runtime)
            await runtime.shutdown()
            return result
        } catch {
            await runtime.shutdown()
            throw error
        }
    }

    /// Closes the outbound clients (after in-flight requests) and the store's connections.
    public func shutdown() async {
        await egress.shutdown()
        if closesStore { await store.close() }
    }

    /// The HTTP application, ready to run as a service.
    public func application(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        var deps = APIDependencies(
            broker: broker, metrics: metrics, version: Self.version, maxBodyBytes: config.maxBodyBytes, rateLimiter: rateLimiter)
        deps.admission = admission
        deps.auth = config.auth
        deps.tokenVerifier = tokenVerifier
        deps.roles = config.roles
        deps.beforeMetrics = { [self] in await refreshMetrics() }
        deps.traceSample = config.otlpEndpoint == nil ? nil : config.traceSample
        deps.replica = config.replicaID
        let (router, _) = SkyportRouter.build(deps)
        return Application(
            router: router,
            server: GuardedHTTP1Channel.builder(limits: connectionLimits, counter: connections),
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "skyport/\(Self.version)"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Sets the offer gate's series (on every scrape), and the gauges `/metrics` reads from the store and the health
    /// board, at most once per `BrokerMetrics.statisticsMaxAge` (the counts read whole tables): scrapes in between,
    /// and scrapes that arrive while a read is under way, get the last values. A store that cannot be read leaves them as they were (and
    /// `/health` says why).
    public func refreshMetrics() async {
        if let admission { brokerMetrics.refresh(admission.counts) }
        await brokerMetrics.refreshing(now: ContinuousClock.now) { [self] in
            do {
                let stats = try await store.statistics(now: broker.now())
                let facilities = try await store.matchIndex().facilities.map(\.id)
                brokerMetrics.refresh(stats, health: health.board, facilities: facilities)
            } catch {
                logger.warning("metrics: reading the store failed", metadata: ["error": .string(String(describing: error))])
            }
        }
    }

    /// The trusted issuers: the file's, then the one named by `SKYPORT_OIDC_ISSUER`.
    static func trustedIssuers(_ config: SkyportConfiguration) throws -> [IssuerConfiguration] {
        var issuers = try config.oidcIssuersFile.map { try IssuerConfiguration.load(file: $0) } ?? []
        if let issuer = config.oidcIssuer {
            issuers.append(try IssuerConfiguration.parse(
                .object(["issuer": .string(issuer), "audiences": .array(config.oidcAudiences.map(JSONValue.string))]), at: "SKYPORT_OIDC_ISSUER"))
        }
        return issuers
    }

    /// The limits every client connection lives under.
    public var connectionLimits: ConnectionLimits {
        func seconds(_ n: Int) -> Duration? { n > 0 ? .seconds(n) : nil }
        return ConnectionLimits(
            timeouts: ConnectionTimeouts(idle: seconds(config.idleTimeout), header: seconds(config.headerTimeout), body: seconds(config.bodyTimeout)),
            maxConnections: maxConnections)
    }

    /// File descriptors kept out of the connection cap: the refusals answered beyond it (128, each held up to a
    /// second), the database (a few per SQLite connection), the listening socket, event loops, logs, git and
    /// peers' calls (128 more), and one outbound connection per forwarded session. Running out of descriptors is
    /// not only refused connections: libdispatch's thread-pool monitor opens `/proc/<tid>/stat` every second while
    /// work is queued and traps (SIGILL, "workq: registered worker exited prematurely") when that open fails.
    public static func fileDescriptorReserve(_ config: SkyportConfiguration) -> Int { 256 + config.forwardConcurrency }

    /// The default cap: the open-file limit less the reserve (at least 16), so that accepting a connection, opening
    /// the database or calling a peer never meets EMFILE.
    public static func derivedMaxConnections(_ config: SkyportConfiguration) -> Int {
        max(16, FileDescriptorLimit.current - fileDescriptorReserve(config))
    }

    /// The background services: offer expiry, forwarding with an adapter per kind of endpoint, retention, health
    /// checks and registry harvests (each when configured).
    public func backgroundServices() -> [any Service] {
        let uws = UWSExecutor.standard(egress: egress, credentials: credentials, logger: logger)
        let binder = BinderExecutor(
            egress: egress, settings: Self.binderSettings(config), sealer: sealer, credentials: credentials,
            logger: Logger(label: "skyport.binderhub", factory: { [logger] _ in logger.handler }))
        let broker = BrokerExecutor(
            egress: egress, credentials: credentials, sealer: sealer,
            logger: Logger(label: "skyport.federation", factory: { [logger] _ in logger.handler }))
        var forwarding = ForwardingService.Settings()
        forwarding.concurrency = config.forwardConcurrency
        forwarding.lease = .seconds(config.forwardLease)
        forwarding.listMinimum = config.trackListMinimum == 0 ? .max : config.trackListMinimum
        forwarding.listInterval = .milliseconds(config.trackListInterval)
        let listReads = metrics.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "skyport", subsystem: "tracking", metricName: "list_reads", unitName: "total",
            helpText: "Reads of UWS job lists by phase (the jobs of such a list are followed by reading it)"))
        let listsLeft = metrics.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "skyport", subsystem: "tracking", metricName: "lists_left", unitName: "total",
            helpText: "Job lists found unusable for tracking by phase (their jobs are then followed one by one for a while)"))
        let watched = metrics.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "skyport", subsystem: "tracking", metricName: "watched", unitName: "sessions",
            helpText: "Sessions whose jobs are followed by reading their job lists"))
        forwarding.listRead = { _ in listReads.increment() }
        forwarding.listLeft = { listsLeft.increment() }
        forwarding.watching = { watched.set(Double($0)) }
        forwarding.sealer = sealer
        forwarding.exchanger = self.broker.tokenExchange
        forwarding.credentialMargin = TimeInterval(config.credentialMargin)
        forwarding.telemetry = brokerMetrics.telemetry
        // Sweeps and harvests run once per period across replicas sharing a store.
        let turns = Turns.through(store, owner: config.replicaID)
        var services: [any Service] = [
            OfferExpiryService(store: store, interval: .seconds(config.expirySweep), logger: logger, turns: turns),
            ForwardingService(
                store: store, executors: [.uws: uws, .djangoUWS: uws, .binderhub: binder, .executionbroker: broker],
                notifier: HTTPNotifier(egress: egress, logger: logger), settings: forwarding, work: work, logger: logger, now: self.broker.now),
        ]
        services.append(MemoryTrimService(connections: connections, logger: logger))
        services.append(AuditWriterService(broker: self.broker, logger: Logger(label: "skyport.audit", factory: { [logger] _ in logger.handler })))
        if config.retentionSweep > 0 {
            services.append(RetentionService(
                store: store, policy: config.retention, interval: .seconds(config.retentionSweep),
                logger: Logger(label: "skyport.retention", factory: { [logger] _ in logger.handler }), now: self.broker.now,
                onPass: { [telemetry = brokerMetrics.telemetry] sweep in
                    for (kind, n) in [(RetainedKind.offerSets, sweep.offerSets), (.sessions, sweep.sessions), (.uwsJobs, sweep.uwsJobs),
                                      (.accounting, sweep.accounting)] where n > 0 {
                        telemetry.record(.retentionDeleted(kind, count: n))
                    }
                }, turns: turns))
        }
        if config.healthPeriod > 0 {
            var settings = HealthService.Settings()
            settings.period = .seconds(config.healthPeriod)
            settings.failedPeriod = .seconds(max(1, config.healthPeriod / 2))
            settings.federation = config.binderFederation
            let probe = HealthProbe(egress: egress, logger: Logger(label: "skyport.health", factory: { [logger] _ in logger.handler }))
            let telemetry = brokerMetrics.telemetry
            var service = HealthService(store: store, board: health, settings: settings, logger: logger, turns: turns) { facility in
                let started = ContinuousClock.now
                let result = await probe.probe(facility)
                telemetry.record(.remoteCall(
                    facility: facility.id, operation: .health, outcome: result.healthy ? .ok : .error, seconds: (ContinuousClock.now - started).seconds))
                return result
            }
            // Each change of verdict goes into the audit record: the facility page's health history.
            service.onTransition = { [audit = self.broker.audit, logger] t in
                // A first check that finds a facility healthy changes nothing anyone saw (each start checks them all).
                if t.from == nil, t.to.status == .healthy { return }
                let detail = t.to.status.rawValue + (t.to.reason.map { ": " + RemoteText.clip($0) } ?? "")
                audit.record(.facilityHealth, target: "facility:" + t.facility.rawValue, by: "skyport:health", detail: detail, logger: logger)
            }
            services.append(service)
        }
        if config.registryPeriod > 0 {
            let harvester = registryHarvester()
            let trusted = registryHarvester(trusted: true)
            let configured = Set(config.registrySources)
            var settings = RegistryHarvestService.Settings()
            settings.period = .seconds(config.registryPeriod)
            settings.telemetry = brokerMetrics.telemetry
            services.append(RegistryHarvestService(
                store: store, settings: settings, signal: registryHarvests,
                logger: Logger(label: "skyport.registry", factory: { [logger] _ in logger.handler }), egress: config.egress, turns: turns
            ) { url, from, page in
                // The operator's own sources (SKYPORT_REGISTRY_SOURCES) are trusted; those added over the API are not.
                for try await p in (configured.contains(url.absoluteString) ? trusted : harvester).pages(baseURL: url, from: from) { try await page(p.records) }
            })
        }
        return services
    }

    /// The OAI-PMH harvester the registry service and `skyport registry harvest` share.
    /// `trusted`: for a source the operator configured (not judged by the egress rule).
    public func registryHarvester(maxPages: Int = 2_000, maxRecords: Int = 500_000, trusted: Bool = false) -> OAIHarvester {
        var http = RemoteHTTP(egress: egress, purpose: .registry, timeout: .seconds(60), maxBodyBytes: OAIHarvester.defaultMaxBytes)
        http.trusted = trusted
        return OAIHarvester(http: http, maxPages: maxPages, maxRecords: maxRecords)
    }

    /// Adds the configured registry sources (`SKYPORT_REGISTRY_SOURCES`) that are not stored yet.
    public func addConfiguredRegistrySources() async throws {
        for url in config.registrySources where try await store.registrySource(url) == nil {
            try await store.upsertRegistrySource(RegistrySource(url: url, addedBy: FacilityCatalog.registryOwner, added: Date()))
        }
    }

    /// Runs the broker until SIGTERM or SIGINT; in-flight requests finish before it returns.
    public static func serve(_ config: SkyportConfiguration, logger: Logger) async throws {
        let raised = FileDescriptorLimit.raiseToHardLimit()
        let tracing = try SkyportTracing.bootstrap(config, logger: logger)
        let runtime = try await SkyportRuntime.open(config, logger: logger)
        logger.info("connection limits", metadata: [
            "max_connections": .stringConvertible(runtime.maxConnections), "open_files": .stringConvertible(raised),
            "idle_timeout": .stringConvertible(config.idleTimeout), "header_timeout": .stringConvertible(config.headerTimeout),
            "body_timeout": .stringConvertible(config.bodyTimeout),
            "rate_limit": .string(config.rateLimit.isOff ? "off" : "\(config.rateLimit.perSecond)/s burst \(config.rateLimit.burst)"),
        ])
        if runtime.maxConnections + fileDescriptorReserve(config) > raised {
            logger.warning("SKYPORT_MAX_CONNECTIONS leaves fewer file descriptors than the reserve: connections may fail with EMFILE", metadata: [
                "max_connections": .stringConvertible(runtime.maxConnections), "open_files": .stringConvertible(raised),
                "reserve": .stringConvertible(fileDescriptorReserve(config)),
            ])
        }
        do {
            try await runtime.addConfiguredRegistrySources()
            let app = runtime.application { port in
                logger.notice("skyport listening", metadata: [
                    "address": .string("http://\(config.host):\(port)"), "store": .string(runtime.store.kind),
                    "database": .string(runtime.storeLocation), "replica": .string(config.replicaID), "version": .string(version), "broker": .string(config.brokerID),
                ])
            }
            let group = ServiceGroup(configuration: .init(
                services: (tracing.map { [$0] } ?? []) + runtime.backgroundServices() + [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        } catch {
            await runtime.shutdown()
            throw error
        }
        await runtime.shutdown()
    }

    // MARK: parts

    /// Opens the configured store, migrating it to the current schema (PostgreSQL: under an advisory lock, so that
    /// replicas starting together migrate once).
    public static func openStore(_ config: SkyportConfiguration, logger: Logger = Logger(label: "skyport")) async throws -> any BrokerStore {
        guard config.usesPostgres else { return try makeStore(config) }
        return try await PostgresStore.open(
            url: config.database, replica: config.replicaID, logger: Logger(label: "skyport.postgres", factory: { _ in logger.handler }))
    }

    /// Opens the configured embedded store (SQLite or memory); a PostgreSQL one is opened with `openStore`.
    public static func makeStore(_ config: SkyportConfiguration) throws -> any BrokerStore {
        if config.usesPostgres {
            throw SkyportConfiguration.Invalid(description: "SKYPORT_DB: a PostgreSQL store is opened with SkyportRuntime.open or openStore")
        }
        switch config.database {
        case ":memory:", "memory": return InMemoryStore()
        default: return try SQLiteStore(path: config.database)
        }
    }

    /// Where the store is, for logs (a PostgreSQL URL without its password).
    public var storeLocation: String { Self.location(of: store, config) }

    public static func location(of store: any BrokerStore, _ config: SkyportConfiguration) -> String {
        (store as? PostgresStore)?.location ?? config.database
    }

    /// Copies a SQLite broker's data into an empty PostgreSQL database (`skyport db copy`); the rows by table.
    public static func copyStore(from path: String, to url: String) async throws -> [String: Int] {
        guard FileManager.default.fileExists(atPath: path) else { throw SkyportConfiguration.Invalid(description: "--from: no such file \(path)") }
        let source = try SQLiteStore(path: path)
        let target = try await PostgresStore.open(url: url, replica: "copy")
        do {
            let counts = try await target.copy(from: source)
            await target.close()
            return counts
        } catch {
            await target.close()
            throw error
        }
    }

    /// Rebuilds a SQLite file made before incremental vacuum so that retention can give freed pages back; false when
    /// there was nothing to do (another store, or a file that already has it).
    public static func enableIncrementalVacuum(_ store: any BrokerStore) async throws -> Bool {
        guard let sqlite = store as? SQLiteStore, try await sqlite.autoVacuum() != "incremental" else { return false }
        try await sqlite.enableIncrementalVacuum()
        return true
    }

    /// What seals notebook tokens: the key file (made on first start) for a SQLite store, a key that lives with
    /// the process for the in-memory one.
    public static func makeSealer(_ config: SkyportConfiguration) throws -> any SecretSealer {
        if let file = config.secretKeyFile { return try SecretBox.keyFile(file) }
        if config.usesPostgres {
            // Replicas open each other's sealed tokens: they need one key, which no replica may make for itself.
            throw SkyportConfiguration.Invalid(
                description: "SKYPORT_SECRET_KEY: a PostgreSQL store needs the key file every replica shares (32 random bytes: head -c 32 /dev/urandom > skyport.key)")
        }
        switch config.database {
        case ":memory:", "memory": return SecretBox.ephemeral()
        default:
            let dir = URL(fileURLWithPath: config.database).deletingLastPathComponent()
            return try SecretBox.keyFile(dir.appending(path: "skyport.key").path)
        }
    }

    /// Reads VOSI capabilities documents for facility refreshes, which an operator waits for: a short timeout, one
    /// retry, a small body cap.
    public static func capabilitiesFetch(egress: Egress, logger: Logger) -> CapabilitiesFetch {
        let reader = VOSICapabilitiesClient(http: RemoteHTTP(
            egress: egress, purpose: .vosi, timeout: .seconds(20), maxBodyBytes: 4 << 20, retry: RetryPolicy(maxAttempts: 2),
            logger: Logger(label: "skyport.capabilities", factory: { _ in logger.handler })))
        return { url in try await reader.capabilities(at: url) }
    }

    /// Reads a document a user names (a codemeta.json by URL, from the web page): through the egress gate, at most
    /// 1 MiB, 15 s, one retry; up to 3 redirects, each destination judged by the gate again.
    public static func documentFetch(egress: Egress, logger: Logger) -> DocumentFetch {
        let http = RemoteHTTP(
            egress: egress, purpose: .software, timeout: .seconds(15), maxBodyBytes: 1 << 20, retry: RetryPolicy(maxAttempts: 2),
            logger: Logger(label: "skyport.documents", factory: { _ in logger.handler }))
        return { url in
            var next = url
            for _ in 0...3 {
                let answer = try await http.get(next, accept: "application/json, application/ld+json;q=0.9, */*;q=0.1")
                if (200..<300).contains(answer.status) { return answer.body }
                guard (300..<400).contains(answer.status), let location = answer.location else {
                    throw FieldError("codemeta_url", "the server answered \(answer.status), not the document")
                }
                next = location
            }
            throw FieldError("codemeta_url", "more than 3 redirects")
        }
    }

    static func binderSettings(_ config: SkyportConfiguration) -> BinderExecutor.Settings {
        var settings = BinderExecutor.Settings()
        settings.launchTimeout = .seconds(config.binderLaunchTimeout)
        settings.idleTimeout = .seconds(config.binderIdleTimeout)
        settings.maxBusyDelay = .seconds(config.binderBusyDelay)
        settings.staging = config.stagingRemote.map {
            StagingRemote(pushURL: $0, fetchURL: config.stagingFetchURL, workDirectory: config.stagingDirectory)
        }
        return settings
    }
}

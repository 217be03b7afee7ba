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
        public init(store: (any BrokerStore)? = nil) { self.store = store }
    }

    public let config: SkyportConfiguration
    public let logger: Logger
    public let store: any BrokerStore
    public let sealer: any SecretSealer
    /// Rung when a session needs the forwarding service.
    public let work = WorkSignal()
    /// The facilities' last health checks (in memory: after a start, facilities are unprobed until the first round).
    public let health = HealthBoardBox()
    /// Rung when a registry source is added.
    public let registryHarvests = WorkSignal()
    public let metrics: PrometheusCollectorRegistry
    /// The one outbound HTTP client; `shutdown()` closes it.
    public let client: HTTPClient
    /// Credentials for facility endpoints (`SKYPORT_CREDENTIALS`), read once.
    public let credentials: Credentials
    /// The use cases.
    public let broker: Broker

    /// The version Skyport reports in `/health`.
    public static let version = "0.1.0"

    public init(_ config: SkyportConfiguration, logger: Logger, overrides: Overrides = .init()) throws {
        self.config = config
        self.logger = logger
        let store = try overrides.store ?? Self.makeStore(config)
        self.store = store
        self.sealer = try overrides.sealer ?? Self.makeSealer(config)
        self.metrics = overrides.metrics ?? PrometheusCollectorRegistry()
        self.credentials = try config.credentialsFile.map { try Credentials(file: $0) } ?? Credentials()
        var clientConfiguration = RemoteHTTP.clientConfiguration
        // Every tracked job may hold a blocking WAIT at its facility: let that many connections open per host.
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, config.forwardConcurrency)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        self.client = client
        var planner = OfferPlanner.Settings()
        planner.maxOffers = config.maxOffers
        planner.offerLifetime = TimeInterval(config.offerLifetime)
        let federation = BrokerFederation(
            brokerID: config.brokerID, client: client, credentials: credentials,
            logger: Logger(label: "skyport.federation", factory: { _ in logger.handler }))
        let capabilities = overrides.capabilities ?? Self.capabilitiesFetch(client: client, logger: logger)
        self.broker = Broker(
            store: store, planner: planner, sealer: sealer, work: work, health: health, registryHarvests: registryHarvests,
            federation: federation, federationDeadline: config.federationDeadline, capabilities: capabilities)
    }

    /// Runs `body` with a runtime, and closes its client afterwards whatever happens (the CLI's one-shot commands).
    public static func with<T: Sendable>(
        _ config: SkyportConfiguration, logger: Logger = Logger(label: "skyport"), overrides: Overrides = .init(),
        _ body: (SkyportRuntime) async throws -> T
    ) async throws -> T {
        let runtime = try SkyportRuntime(config, logger: logger, overrides: overrides)
        do {
            let result = try await body(runtime)
            await runtime.shutdown()
            return result
        } catch {
            await runtime.shutdown()
            throw error
        }
    }

    /// Closes the outbound client (after in-flight requests).
    public func shutdown() async {
        try? await client.shutdown()
    }

    /// The HTTP application, ready to run as a service.
    public func application(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let deps = APIDependencies(broker: broker, metrics: metrics, version: Self.version, maxBodyBytes: config.maxBodyBytes)
        let (router, _) = SkyportRouter.build(deps)
        return Application(
            router: router,
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "skyport/\(Self.version)"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// The background services: offer expiry, forwarding with an adapter per kind of endpoint, retention, health
    /// checks and registry harvests (each when configured).
    public func backgroundServices() -> [any Service] {
        let uws = UWSExecutor.standard(client: client, credentials: credentials, logger: logger)
        let binder = BinderExecutor(
            client: client, settings: Self.binderSettings(config), sealer: sealer, credentials: credentials,
            logger: Logger(label: "skyport.binderhub", factory: { [logger] _ in logger.handler }))
        let broker = BrokerExecutor(
            client: client, credentials: credentials, sealer: sealer,
            logger: Logger(label: "skyport.federation", factory: { [logger] _ in logger.handler }))
        var forwarding = ForwardingService.Settings()
        forwarding.concurrency = config.forwardConcurrency
        forwarding.lease = .seconds(config.forwardLease)
        var services: [any Service] = [
            OfferExpiryService(store: store, interval: .seconds(config.expirySweep), logger: logger),
            ForwardingService(
                store: store, executors: [.uws: uws, .djangoUWS: uws, .binderhub: binder, .executionbroker: broker],
                notifier: HTTPNotifier(client: client, logger: logger), settings: forwarding, work: work, logger: logger),
        ]
        if config.retentionSweep > 0 {
            services.append(RetentionService(
                store: store, policy: config.retention, interval: .seconds(config.retentionSweep),
                logger: Logger(label: "skyport.retention", factory: { [logger] _ in logger.handler }), now: self.broker.now))
        }
        if config.healthPeriod > 0 {
            var settings = HealthService.Settings()
            settings.period = .seconds(config.healthPeriod)
            settings.failedPeriod = .seconds(max(1, config.healthPeriod / 2))
            settings.federation = config.binderFederation
            let probe = HealthProbe(client: client, logger: Logger(label: "skyport.health", factory: { [logger] _ in logger.handler }))
            services.append(HealthService(store: store, board: health, settings: settings, logger: logger, probe: { await probe.probe($0) }))
        }
        if config.registryPeriod > 0 {
            let harvester = registryHarvester()
            var settings = RegistryHarvestService.Settings()
            settings.period = .seconds(config.registryPeriod)
            services.append(RegistryHarvestService(
                store: store, settings: settings, signal: registryHarvests,
                logger: Logger(label: "skyport.registry", factory: { [logger] _ in logger.handler })
            ) { url, from, page in
                for try await p in harvester.pages(baseURL: url, from: from) { try await page(p.records) }
            })
        }
        return services
    }

    /// The OAI-PMH harvester the registry service and `skyport registry harvest` share.
    public func registryHarvester(maxPages: Int = 2_000, maxRecords: Int = 500_000) -> OAIHarvester {
        OAIHarvester(http: RemoteHTTP(client: client, timeout: .seconds(60), maxBodyBytes: OAIHarvester.defaultMaxBytes), maxPages: maxPages, maxRecords: maxRecords)
    }

    /// Adds the configured registry sources (`SKYPORT_REGISTRY_SOURCES`) that are not stored yet.
    public func addConfiguredRegistrySources() async throws {
        for url in config.registrySources where try await store.registrySource(url) == nil {
            try await store.upsertRegistrySource(RegistrySource(url: url, addedBy: FacilityCatalog.registryOwner, added: Date()))
        }
    }

    /// Runs the broker until SIGTERM or SIGINT; in-flight requests finish before it returns.
    public static func serve(_ config: SkyportConfiguration, logger: Logger) async throws {
        let runtime = try SkyportRuntime(config, logger: logger)
        do {
            try await runtime.addConfiguredRegistrySources()
            let app = runtime.application { port in
                logger.notice("skyport listening", metadata: [
                    "address": .string("http://\(config.host):\(port)"), "store": .string(runtime.store.kind),
                    "database": .string(config.database), "version": .string(version), "broker": .string(config.brokerID),
                ])
            }
            let group = ServiceGroup(configuration: .init(
                services: runtime.backgroundServices() + [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        } catch {
            await runtime.shutdown()
            throw error
        }
        await runtime.shutdown()
    }

    // MARK: parts

    /// Opens the configured store (migrating a SQLite file to the current schema).
    public static func makeStore(_ config: SkyportConfiguration) throws -> any BrokerStore {
        switch config.database {
        case ":memory:", "memory": return InMemoryStore()
        default: return try SQLiteStore(path: config.database)
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
        switch config.database {
        case ":memory:", "memory": return SecretBox.ephemeral()
        default:
            let dir = URL(fileURLWithPath: config.database).deletingLastPathComponent()
            return try SecretBox.keyFile(dir.appending(path: "skyport.key").path)
        }
    }

    /// Reads VOSI capabilities documents for facility refreshes, which an operator waits for: a short timeout, one
    /// retry, a small body cap.
    public static func capabilitiesFetch(client: HTTPClient, logger: Logger) -> CapabilitiesFetch {
        let reader = VOSICapabilitiesClient(http: RemoteHTTP(
            client: client, timeout: .seconds(20), maxBodyBytes: 4 << 20, retry: RetryPolicy(maxAttempts: 2),
            logger: Logger(label: "skyport.capabilities", factory: { _ in logger.handler })))
        return { url in try await reader.capabilities(at: url) }
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

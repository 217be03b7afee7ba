import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import SkyportCore
import SkyportHTTP
import SkyportRemotes
import SkyportServices
import SkyportStore

/// The composition root: the only place that creates concrete stores, clients and services.
public enum SkyportComposition {
    /// The version Skyport reports in `/health`.
    public static let version = "0.1.0"

    /// Opens the configured store (migrating a SQLite file to the current schema).
    public static func makeStore(_ config: SkyportConfiguration) throws -> any BrokerStore {
        switch config.database {
        case ":memory:", "memory": return InMemoryStore()
        default: return try SQLiteStore(path: config.database)
        }
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

    /// The HTTP application, with the given store, ready to run as a service.
    public static func buildApplication(
        _ config: SkyportConfiguration, store: any BrokerStore, sealer: (any SecretSealer)? = nil, work: WorkSignal? = nil,
        health: HealthBoardBox? = nil, registryHarvests: WorkSignal? = nil, federation: (any OfferForwarder)? = nil, logger: Logger,
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
        capabilities: CapabilitiesFetch? = nil
    ) -> some ApplicationProtocol {
        var planner = OfferPlanner.Settings()
        planner.maxOffers = config.maxOffers
        planner.offerLifetime = TimeInterval(config.offerLifetime)
        var deps = APIDependencies(
            store: store, metrics: metrics, version: version, maxBodyBytes: config.maxBodyBytes, planner: planner, sealer: sealer, work: work,
            health: health, registryHarvests: registryHarvests, capabilities: capabilities)
        deps.federation = federation
        deps.federationDeadline = config.federationDeadline
        let (router, _) = SkyportRouter.build(deps)
        return Application(
            router: router,
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "skyport/\(version)"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// What asks the facilities that are other ExecutionBrokers for offers.
    public static func makeFederation(_ config: SkyportConfiguration, client: HTTPClient, logger: Logger) throws -> any OfferForwarder {
        let credentials = try config.credentialsFile.map { try Credentials(file: $0) } ?? Credentials()
        return BrokerFederation(
            brokerID: config.brokerID, client: client, credentials: credentials,
            logger: Logger(label: "skyport.federation", factory: { _ in logger.handler }))
    }

    /// The background services: offer expiry, and forwarding with an adapter per kind of endpoint.
    public static func backgroundServices(
        _ config: SkyportConfiguration, store: any BrokerStore, sealer: any SecretSealer, work: WorkSignal? = nil,
        health: HealthBoardBox? = nil, registryHarvests: WorkSignal? = nil, client: HTTPClient, logger: Logger
    ) throws -> [any Service] {
        let credentials = try config.credentialsFile.map { try Credentials(file: $0) } ?? Credentials()
        let uws = UWSExecutor.standard(client: client, credentials: credentials, logger: logger)
        let binder = BinderExecutor(
            client: client, settings: binderSettings(config), sealer: sealer, credentials: credentials,
            logger: Logger(label: "skyport.binderhub", factory: { _ in logger.handler }))
        let broker = BrokerExecutor(
            client: client, credentials: credentials, sealer: sealer, logger: Logger(label: "skyport.federation", factory: { _ in logger.handler }))
        var forwarding = ForwardingService.Settings()
        forwarding.concurrency = config.forwardConcurrency
        forwarding.lease = .seconds(config.forwardLease)
        var services: [any Service] = [
            OfferExpiryService(store: store, interval: .seconds(config.expirySweep), logger: logger),
            ForwardingService(
                store: store, executors: [.uws: uws, .djangoUWS: uws, .binderhub: binder, .executionbroker: broker], notifier: HTTPNotifier(client: client, logger: logger),
                settings: forwarding, work: work, logger: logger),
        ]
        if let health, config.healthPeriod > 0 {
            var settings = HealthService.Settings()
            settings.period = .seconds(config.healthPeriod)
            settings.failedPeriod = .seconds(max(1, config.healthPeriod / 2))
            settings.federation = config.binderFederation
            let probe = HealthProbe(client: client, logger: Logger(label: "skyport.health", factory: { _ in logger.handler }))
            services.append(HealthService(store: store, board: health, settings: settings, logger: logger, probe: { await probe.probe($0) }))
        }
        if config.registryPeriod > 0 {
            let harvester = OAIHarvester(http: RemoteHTTP(client: client, timeout: .seconds(60), maxBodyBytes: XMLDoc.defaultMaxBytes))
            var settings = RegistryHarvestService.Settings()
            settings.period = .seconds(config.registryPeriod)
            services.append(RegistryHarvestService(
                store: store, settings: settings, signal: registryHarvests,
                logger: Logger(label: "skyport.registry", factory: { _ in logger.handler })
            ) { url, from, page in
                for try await p in harvester.pages(baseURL: url, from: from) { try await page(p.records) }
            })
        }
        return services
    }

    /// Reads VOSI capabilities documents for `POST /facilities/{id}/refresh`, which an operator waits for: a short
    /// timeout, one retry, a small body cap.
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

    /// Runs the broker until SIGTERM or SIGINT; in-flight requests finish before it returns.
    public static func serve(_ config: SkyportConfiguration, logger: Logger) async throws {
        let store = try makeStore(config)
        let sealer = try makeSealer(config)
        let work = WorkSignal()
        // In memory: after a start, facilities are unprobed (and offered) until the first round of checks.
        let health = HealthBoardBox()
        let registryHarvests = WorkSignal()
        for url in config.registrySources where try await store.registrySource(url) == nil {
            try await store.upsertRegistrySource(RegistrySource(url: url, addedBy: "registry", added: Date()))
        }
        var clientConfiguration = RemoteHTTP.clientConfiguration
        // Every tracked job may hold a blocking WAIT at its facility: let that many connections open per host.
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, config.forwardConcurrency)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let federation = try makeFederation(config, client: client, logger: logger)
        let app = buildApplication(
            config, store: store, sealer: sealer, work: work, health: health, registryHarvests: registryHarvests, federation: federation,
            logger: logger,
            onServerRunning: { port in
                logger.notice("skyport listening", metadata: [
                    "address": .string("http://\(config.host):\(port)"), "store": .string(store.kind),
                    "database": .string(config.database), "version": .string(version), "broker": .string(config.brokerID),
                ])
            },
            capabilities: capabilitiesFetch(client: client, logger: logger))
        do {
            let services = try backgroundServices(
                config, store: store, sealer: sealer, work: work, health: health, registryHarvests: registryHarvests, client: client,
                logger: logger) + [app]
            let group = ServiceGroup(
                configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}

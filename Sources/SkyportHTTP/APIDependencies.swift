import Foundation
import Prometheus
import SkyportCore

/// GETs the VOSI capabilities document at a URL and reads its capabilities; throws when the service cannot be
/// reached or answers with anything else (the composition root passes `VOSICapabilitiesClient.capabilities(at:)`).
public typealias CapabilitiesFetch = @Sendable (URL) async throws -> [RegistryCapability]

/// What the HTTP edge needs from the rest of Skyport, handed in by the composition root.
public struct APIDependencies: Sendable {
    public var store: any BrokerStore
    public var metrics: PrometheusCollectorRegistry
    public var version: String
    /// The largest request body accepted, in bytes (413 beyond it).
    public var maxBodyBytes: Int
    /// How offers are negotiated (how many, how long they live, defaults).
    public var planner: OfferPlanner.Settings
    /// The clock; tests pass a fixed one.
    public var now: @Sendable () -> Date
    /// Opens the sealed notebook tokens of sessions, to show them in the session's links.
    public var sealer: (any SecretSealer)?
    /// Rung when a session needs the forwarding service (accepted, cancelled), so that it starts at once.
    public var work: WorkSignal?
    /// The facilities' last health checks (written by the health service): matching rejects unavailable ones.
    public var health: HealthBoardBox?
    /// Rung when an operator adds a registry source, so that the registry harvest service harvests it at once.
    public var registryHarvests: WorkSignal?
    /// Asks the facilities that are other ExecutionBrokers for their offers; nil: such facilities are offered nothing.
    public var federation: (any OfferForwarder)? = nil
    /// How long another broker's offers are waited for, in seconds, when its endpoint sets no `offerDeadline`.
    public var federationDeadline: Double = 3
    /// Reads a VOSI capabilities document (`POST /facilities/{id}/refresh`); nil: refreshing is not configured (503).
    public var capabilities: CapabilitiesFetch?

    public init(
        store: any BrokerStore, metrics: PrometheusCollectorRegistry, version: String,
        maxBodyBytes: Int = 1 << 20, planner: OfferPlanner.Settings = .init(), sealer: (any SecretSealer)? = nil,
        work: WorkSignal? = nil, health: HealthBoardBox? = nil, registryHarvests: WorkSignal? = nil,
        now: @escaping @Sendable () -> Date = { Date() }, capabilities: CapabilitiesFetch? = nil
    ) {
        self.capabilities = capabilities
        self.registryHarvests = registryHarvests
        self.health = health
        self.sealer = sealer
        self.work = work
        self.planner = planner
        self.store = store
        self.metrics = metrics
        self.version = version
        self.maxBodyBytes = maxBodyBytes
        self.now = now
    }
}

extension APIDependencies {
    /// A client's phase change (see `OfferStore.changePhase`); wakes the forwarding service when it has work.
    func changePhase(of id: UUID, to phase: SessionPhase, now: Date) async throws -> SessionRecord {
        let session = try await store.changePhase(of: id, to: phase, now: now)
        if phase == .accepted || phase == .cancelled || (phase == .rejected && session.needsWork) { work?.ring() }
        return session
    }

    /// The session as its owner sees it: while its notebook server is up, the links to it carry the token
    /// (`url + urlpath + ?token=`), opened from its sealed form; the store never holds it in clear.
    func reveal(_ session: SessionRecord) -> SessionRecord {
        guard var remote = session.remote, let server = remote.access else { return session }
        var s = session
        let live = [.available, .running].contains(session.phase)
        let token = live ? remote.sealedToken.flatMap { sealer?.open($0) } : nil
        // Another broker's link already leads to the notebook; only its token was kept apart.
        let link = remote.endpoint.kind == .executionbroker
            ? token.map { server + (server.contains("?") ? "&" : "?") + "token=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) } ?? server
            : BinderAccess.link(server: server, path: session.executable.path, token: token)
        remote.access = link
        remote.results = remote.results.map { r in
            var r = r
            if r.id == "notebook" { r.href = link }
            return r
        }
        remote.sealedToken = nil
        s.remote = remote
        return s
    }

    func reveal(_ sessions: [SessionRecord]) -> [SessionRecord] { sessions.map(reveal) }
}

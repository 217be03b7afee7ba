import Foundation
import Logging
import SkyportCore

/// GETs the VOSI capabilities document at a URL and reads its capabilities; throws when the service cannot be
/// reached or answers with anything else (the composition root passes `VOSICapabilitiesClient.capabilities(at:)`).
public typealias CapabilitiesFetch = @Sendable (URL) async throws -> [RegistryCapability]
/// Reads a document a user names by URL (a codemeta.json), through the egress gate, bounded in size and time.
public typealias DocumentFetch = @Sendable (URL) async throws -> Data

/// Skyport's use cases and what they need, handed in once by the composition root. The HTTP routes, the UWS
/// interface, the background services and the CLI call these; none of them talks to the store about a rule.
public struct Broker: Sendable {
    public var store: any BrokerStore
    /// How offers are negotiated (how many, how long they live, defaults).
    public var planner: OfferPlanner.Settings
    /// The clock; tests pass a fixed one.
    public var now: @Sendable () -> Date
    /// Opens the sealed notebook tokens of sessions, to show them to their owner.
    public var sealer: (any SecretSealer)?
    /// Rung when a session needs the forwarding service (accepted, cancelled), so that it starts at once.
    public var work: WorkSignal?
    /// The facilities' last health checks (written by the health service): matching rejects unavailable ones.
    public var health: HealthBoardBox?
    /// Rung when an operator adds a registry source, so that the registry harvest service harvests it at once.
    public var registryHarvests: WorkSignal?
    /// Asks the facilities that are other ExecutionBrokers for their offers; nil: such facilities are offered nothing.
    public var federation: (any OfferForwarder)?
    /// How long another broker's offers are waited for, in seconds, when its endpoint sets no `offerDeadline`.
    public var federationDeadline: Double
    /// Longest a long poll (`?wait=`, UWS `WAIT`) holds its answer, in seconds (`SKYPORT_WAIT_MAX`).
    public var maxWait = Sessions.defaultMaxWait
    /// Reads a VOSI capabilities document (facility refresh); nil: refreshing is not configured.
    public var capabilities: CapabilitiesFetch?
    /// Reads a document a user names by URL (the web page's codemeta URL); nil: the broker fetches none.
    public var documents: DocumentFetch?
    /// Which URLs others write (facility endpoints, callbacks, repositories, registry sources) the broker will call:
    /// judged where they enter, and again, resolved, by the egress gate when they are called.
    public var egress: EgressPolicy
    /// The quota file's quotas, the merged table as last read, and audit events waiting to be written.
    public var accounts: AccountBook
    /// Exchanges a user's token at their issuer for one meant for a facility (RFC 8693); nil: no exchange.
    public var tokenExchange: (any TokenExchanging)?
    /// Where the use cases report what operators count (offer requests and their answers).
    public var telemetry = Telemetry.off
    /// Offer sets' rejections as last explained, by what they were explained from (`RejectionsKey`).
    public var explained = Broker.explainedRejections()

    /// Room for 256 explanations in about 16 MiB: the facilities that turn a request down, with their reasons as
    /// values, take some twenty times their stored text (`RejectionList.text`), so each is sized at that.
    static func explainedRejections() -> BoundedMemo<RejectionsKey, RejectionList> { BoundedMemo(capacity: 256, budget: 16 << 20) }
    static let explainedSizeFactor = 20

    public init(
        store: any BrokerStore, planner: OfferPlanner.Settings = .init(), sealer: (any SecretSealer)? = nil, work: WorkSignal? = nil,
        health: HealthBoardBox? = nil, registryHarvests: WorkSignal? = nil, federation: (any OfferForwarder)? = nil,
        federationDeadline: Double = 3, capabilities: CapabilitiesFetch? = nil, egress: EgressPolicy = EgressPolicy(),
        accounts: AccountBook = AccountBook(), now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.accounts = accounts
        self.egress = egress
        self.store = store
        self.planner = planner
        self.sealer = sealer
        self.work = work
        self.health = health
        self.registryHarvests = registryHarvests
        self.federation = federation
        self.federationDeadline = federationDeadline
        self.capabilities = capabilities
        self.now = now
    }

    /// Asking where a request can run: offer sets (local and federated), and the stateless `/accepts` probe.
    public var negotiation: Negotiation { Negotiation(broker: self) }
    /// A client's sessions: phase changes, what the owner sees, waiting for a change.
    public var sessions: Sessions { Sessions(broker: self) }
    /// Skyport's own UWS jobs and their lifecycle.
    public var uwsJobs: UWSJobs { UWSJobs(broker: self) }
    /// Facilities as operators register, change, remove and refresh them.
    public var facilities: FacilityCatalog { FacilityCatalog(broker: self) }
    /// Quotas and usage.
    public var quotas: Quotas { Quotas(broker: self) }
    /// Who did what.
    public var audit: AuditTrail { AuditTrail(broker: self) }
    /// The IVOA registries Skyport harvests.
    public var registrySources: RegistrySources { RegistrySources(broker: self) }
}

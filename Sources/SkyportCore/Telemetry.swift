import Foundation
import Synchronization

/// Something the broker did that an operator counts: the use cases and adapters report these, and the composition
/// root turns them into Prometheus series. Every label a report carries comes from a closed set (an enum) or from
/// registration (a facility id), never from what a caller sent.
public enum TelemetryEvent: Sendable, Hashable {
    /// An offer request answered (`POST /requests`, a UWS job's offers, `/direct`).
    case offerRequest(OfferAnswer)
    /// Offers that ended other than by running: accepted, rejected (a sibling was accepted, or the client said so),
    /// expired.
    case offersEnded(OfferEnd, count: Int)
    /// Sessions moved from one phase to another (reported by the store, so every writer counts: clients, the
    /// forwarding service, expiry, an acceptance rejecting its siblings).
    case phaseChanged(from: SessionPhase, to: SessionPhase, count: Int)
    /// Forwarding claimed sessions; `takenOver` of them were last leased to another worker (a replica or an earlier
    /// process) whose lease ran out.
    case forwardingClaimed(sessions: Int, takenOver: Int)
    /// A forwarding step failed and is retried after a hold-off.
    case forwardingRetry(facility: FacilityID)
    /// A call to a facility: what was asked, how it ended, and how long it took.
    case remoteCall(facility: FacilityID, operation: RemoteOperation, outcome: RemoteOutcome, seconds: Double)
    /// Another broker's answer to a federated offer request.
    case federationAnswer(broker: FacilityID, outcome: FederationOutcome, seconds: Double)
    /// One harvest of a registry source (its URL; `records` applied).
    case registryHarvest(source: String, records: Int, failed: Bool, seconds: Double)
    /// Rows retention deleted, by what they were.
    case retentionDeleted(RetainedKind, count: Int)
}

/// An offer request's answer as counted: `YES` with offers, or `NO` and the one reason that decided it.
public struct OfferAnswer: Sendable, Hashable {
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        /// Offers were made.
        case offered
        /// The request asks what this broker cannot do (its refusals).
        case refused
        /// Facilities accepted it, but none had room inside the start window (and no other broker offered).
        case noCapacity = "no-capacity"
        /// No facility is registered (or none could be asked).
        case noFacilities = "no-facilities"
        /// No facility passed matching: `clause` says which clause rejected the last of them.
        case noMatch = "no-match"
        /// The requester's quota left no room for an offer.
        case quota
    }
    public var offers: Int
    public var reason: Reason
    /// For a `NO` that no facility passed: the matching clause that rejected the last of them (`MatchClause`).
    public var clause: MatchClause?

    public init(offers: Int, reason: Reason, clause: MatchClause? = nil) {
        self.offers = offers
        self.reason = reason
        self.clause = clause
    }

    public var result: String { offers > 0 ? "YES" : "NO" }
    /// The `reason` label: `offered`, `refused`, `no-capacity`, `no-facilities`, or the matching clause that emptied
    /// the funnel (`kind`, `cores`, `health`, ...).
    public var label: String { clause?.rawValue ?? reason.rawValue }

    /// The answer an offer set gives (pure: from the set as stored and how many offers it holds).
    public static func of(_ set: OfferSetRecord, offers: Int) -> OfferAnswer {
        if offers > 0 { return OfferAnswer(offers: offers, reason: .offered) }
        if !(set.request.refusals ?? []).isEmpty { return OfferAnswer(offers: 0, reason: .refused) }
        guard let funnel = set.funnel else { return OfferAnswer(offers: 0, reason: .noFacilities) }
        if funnel.total == 0 { return OfferAnswer(offers: 0, reason: .noFacilities) }
        if set.messages.contains(where: { $0.kind == "urn:\(PlanNoteCode.quotaExceeded.rawValue)" }) { return OfferAnswer(offers: 0, reason: .quota) }
        if let clause = funnel.emptiedBy, clause != .capacity { return OfferAnswer(offers: 0, reason: .noMatch, clause: clause) }
        return OfferAnswer(offers: 0, reason: .noCapacity)
    }
}

public enum OfferEnd: String, Sendable, Hashable, CaseIterable {
    case accepted, rejected, expired
}

/// The calls Skyport makes to facilities, as counted.
public enum RemoteOperation: String, Sendable, Hashable, CaseIterable {
    case submit, find, start, status, abort, rejectOffer = "reject_offer", list, health, capabilities, offers
}

public enum RemoteOutcome: String, Sendable, Hashable, CaseIterable {
    /// The facility answered as asked.
    case ok
    /// The facility answered, refusing (a 4xx, a job it would not take).
    case refused
    /// No usable answer: unreachable, timed out, a 5xx, a document that could not be read.
    case error
}

public enum FederationOutcome: String, Sendable, Hashable, CaseIterable {
    /// Answered within its deadline (offers or `NO`).
    case inTime = "in_time"
    /// No answer within the deadline.
    case late
    /// Could not be asked, or answered with an error (a loop counts here too).
    case unreachable
}

public enum RetainedKind: String, Sendable, Hashable, CaseIterable {
    case offerSets = "offer_sets", sessions, uwsJobs = "uws_jobs", accounting
}

/// Where telemetry events go; `off` drops them (the default everywhere but the composition root).
public struct Telemetry: Sendable {
    public let record: @Sendable (TelemetryEvent) -> Void

    public init(_ record: @escaping @Sendable (TelemetryEvent) -> Void) { self.record = record }

    public static let off = Telemetry { _ in }

    /// The phase changes, and the offers ending, in `count` sessions going from `old` to `new` (nothing when the
    /// phase is the same).
    public func changed(from old: SessionPhase, to new: SessionPhase, count: Int = 1) {
        guard old != new, count > 0 else { return }
        record(.phaseChanged(from: old, to: new, count: count))
        guard old == .offered else { return }
        switch new {
        case .accepted: record(.offersEnded(.accepted, count: count))
        case .rejected, .cancelled: record(.offersEnded(.rejected, count: count))
        case .expired: record(.offersEnded(.expired, count: count))
        default: break
        }
    }

    /// The phase changes between two versions of sessions, matched by id (`before` lacks new sessions).
    public func changed(_ before: [UUID: SessionRecord], _ after: [SessionRecord]) {
        for s in after { if let old = before[s.id] { changed(from: old.phase, to: s.phase) } }
    }
}

/// A `Telemetry` connected after it is handed out (a store is made before the metrics it reports to).
public final class TelemetryRelay: Sendable {
    private let sink = Mutex(Telemetry.off)
    public init() {}
    public func connect(_ telemetry: Telemetry) { sink.withLock { $0 = telemetry } }
    public func record(_ event: TelemetryEvent) { sink.withLock { $0 }.record(event) }
    public var telemetry: Telemetry { Telemetry { [self] in record($0) } }
}

/// What the store holds now, read when metrics are scraped (so that it is right after a restart, and the same from
/// every replica that reads one store).
public struct StoreStatistics: Sendable, Hashable {
    /// Sessions by phase (phases with none are absent).
    public var sessions: [SessionPhase: Int] = [:]
    /// Sessions that need forwarding work and that no worker holds now: the forwarding queue.
    public var queued = 0
    /// Sessions a worker or a job-list tracker holds now.
    public var leased = 0
    /// Rows by table.
    public var rows: [String: Int] = [:]
    /// The store's size on disk (nil: not known, or in memory).
    public var bytes: Int?
    /// The write-ahead log of an SQLite file (nil for other stores).
    public var log: WriteAheadLogCounts?

    public init() {}
}

/// What the writer of an SQLite file did with its write-ahead log since the store was opened.
public struct WriteAheadLogCounts: Sendable, Hashable {
    /// Frames (pages) in the log after the last commit.
    public var frames = 0
    /// Commits that changed pages, and the frames they wrote to the log (a page a commit changes is written whole).
    public var commits = 0
    public var written = 0
    /// Checkpoints run (copies of the log into the database file); those that reached the end of the log, and those
    /// that failed (an I/O error: the file or the disk); the others stopped short (a reader's older snapshot, or another
    /// connection checkpointing).
    public var checkpoints = 0
    public var completed = 0
    public var failed = 0
    /// Times the log started again from its beginning (after a checkpoint that reached its end).
    public var restarts = 0
    /// Checkpoints ahead of the writer's, on a connection and a thread of their own; those that copied every page the
    /// log held when they began (commits since may still keep it from starting again), and those that failed (the
    /// writer checkpoints anyway).
    public var ahead = 0
    public var aheadCompleted = 0
    public var aheadFailed = 0

    public init() {}
}

/// Reads `StoreStatistics`.
public protocol StatisticsStore: Sendable {
    func statistics(now: Date) async throws -> StoreStatistics
}

extension Duration {
    /// The duration in seconds, as a `Double` (what metrics and timeouts take).
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Whether the work under way is traced: set where a trace is decided (an HTTP request the sampler picked or whose
/// caller sent a `traceparent`, a forwarding turn of a session accepted in a trace). Spans are made only inside such
/// a scope, so that untraced work (99 requests in 100 at a 1% sample, health checks, harvests) pays nothing for them.
public enum TraceScope {
    @TaskLocal public static var traced = false
}

import Foundation
import Prometheus
import SkyportCore
import Synchronization

/// The Prometheus face of `TelemetryEvent`s and of what the store and the health board hold: the metric families
/// `/metrics` serves besides the HTTP ones, under the names the README lists, the alert rules use and the dashboard
/// queries (`ops/`). Counters come from events as they happen; gauges are read when `/metrics` is scraped, from the
/// store (so they are right after a restart) and the health board.
public final class BrokerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    /// Facility keys with a health gauge, so that a facility's series go when it does.
    private let healthSeries = Mutex<[String: Gauge]>([:])
    /// Every other series labelled with a facility (or broker) id, by its key: removed when the facility is.
    private let facilitySeries = Mutex<[String: FacilitySeries]>([:])
    /// When the store was last read for the gauges, and whether a read is under way.
    private let statistics = Mutex<(last: ContinuousClock.Instant?, reading: Bool)>((nil, false))
    /// Totals counted elsewhere (the offer requests' gate, the store's log), by series, as last read: a counter gets
    /// the difference (`added`).
    private let seen = Mutex<[String: Int]>([:])
    /// The store is read for the gauges at most this often.
    public static let statisticsMaxAge: Duration = .seconds(5)

    struct FacilitySeries {
        var counters: [ObjectIdentifier: Counter] = [:]
        var histograms: [ObjectIdentifier: DurationHistogram] = [:]
    }

    /// Buckets for calls to facilities and other brokers: a quick answer to a blocking `WAIT` of up to a minute.
    static let remoteBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]
    /// Buckets for registry harvests: a page to a full registry.
    static let harvestBuckets: [Duration] = [.milliseconds(100), .seconds(1), .seconds(5), .seconds(15), .seconds(60), .seconds(300), .seconds(1800)]

    public init(_ registry: PrometheusCollectorRegistry, version: String) {
        self.registry = registry
        registry.makeGauge(name: "skyport_build_info", labels: [("version", version)], help: Help.build).set(1.0)
        // Closed label sets start at zero, so that rates and alerts see them before the first event.
        for reason in OfferAnswer.Reason.allCases where reason != .noMatch {
            counter("skyport_offer_requests_total", [("result", reason == .offered ? "YES" : "NO"), ("reason", reason.rawValue)], Help.requests)
        }
        counter("skyport_offers_made_total", [], Help.made)
        for end in OfferEnd.allCases { counter("skyport_offers_ended_total", [("outcome", end.rawValue)], Help.ended) }
        counter("skyport_forwarding_claims_total", [], Help.claims)
        counter("skyport_forwarding_takeovers_total", [], Help.takeovers)
        for kind in RetainedKind.allCases { counter("skyport_retention_deleted_total", [("kind", kind.rawValue)], Help.retention) }
    }

    /// The sink the use cases, services and store report to.
    public var telemetry: Telemetry { Telemetry { [self] in record($0) } }

    public func record(_ event: TelemetryEvent) {
        switch event {
        case .offerRequest(let answer):
            counter("skyport_offer_requests_total", [("result", answer.result), ("reason", answer.label)], Help.requests).increment()
            if answer.offers > 0 { counter("skyport_offers_made_total", [], Help.made).increment(by: Int64(answer.offers)) }
        case .offersEnded(let end, let count):
            counter("skyport_offers_ended_total", [("outcome", end.rawValue)], Help.ended).increment(by: Int64(count))
        case .phaseChanged(let from, let to, let count):
            counter("skyport_session_transitions_total", [("from", from.rawValue), ("to", to.rawValue)], Help.transitions)
                .increment(by: Int64(count))
        case .forwardingClaimed(let sessions, let takenOver):
            counter("skyport_forwarding_claims_total", [], Help.claims).increment(by: Int64(sessions))
            if takenOver > 0 { counter("skyport_forwarding_takeovers_total", [], Help.takeovers).increment(by: Int64(takenOver)) }
        case .forwardingRetry(let facility):
            kept(counter("skyport_forwarding_retries_total", [("facility", facility.rawValue)], Help.retries), for: facility).increment()
        case .remoteCall(let facility, let operation, let outcome, let seconds):
            kept(counter("skyport_remote_calls_total", [("facility", facility.rawValue), ("operation", operation.rawValue), ("outcome", outcome.rawValue)],
                         Help.remoteCalls), for: facility).increment()
            kept(registry.makeDurationHistogram(
                name: "skyport_remote_call_duration_seconds", labels: [("facility", facility.rawValue), ("operation", operation.rawValue)],
                buckets: Self.remoteBuckets, help: Help.remoteDuration
            ), for: facility).record(.seconds(seconds))
        case .federationAnswer(let broker, let outcome, let seconds):
            kept(counter("skyport_federation_answers_total", [("broker", broker.rawValue), ("outcome", outcome.rawValue)], Help.federation), for: broker)
                .increment()
            kept(registry.makeDurationHistogram(
                name: "skyport_federation_answer_duration_seconds", labels: [("broker", broker.rawValue)], buckets: Self.remoteBuckets,
                help: Help.federationDuration
            ), for: broker).record(.seconds(seconds))
        case .registryHarvest(let source, let records, let failed, let seconds):
            counter("skyport_registry_harvests_total", [("registry", source), ("outcome", failed ? "failed" : "ok")], Help.harvests).increment()
            counter("skyport_registry_records_total", [("registry", source)], Help.records).increment(by: Int64(records))
            registry.makeDurationHistogram(name: "skyport_registry_harvest_duration_seconds", buckets: Self.harvestBuckets, help: Help.harvestDuration)
                .record(.seconds(seconds))
        case .retentionDeleted(let kind, let count):
            counter("skyport_retention_deleted_total", [("kind", kind.rawValue)], Help.retention).increment(by: Int64(count))
        }
    }

    /// Sets the gauges from what the store holds and the health board says (before `/metrics` is written).
    public func refresh(_ stats: StoreStatistics, health: HealthBoard, facilities: [FacilityID]) {
        for phase in SessionPhase.allCases {
            registry.makeGauge(name: "skyport_sessions", labels: [("phase", phase.rawValue)], help: Help.sessions)
                .set(Double(stats.sessions[phase] ?? 0))
        }
        registry.makeGauge(name: "skyport_forwarding_queue_sessions", help: Help.queue).set(Double(stats.queued))
        registry.makeGauge(name: "skyport_forwarding_held_sessions", help: Help.held).set(Double(stats.leased))
        for (table, n) in stats.rows { registry.makeGauge(name: "skyport_store_rows", labels: [("table", table)], help: Help.rows).set(Double(n)) }
        if let bytes = stats.bytes { registry.makeGauge(name: "skyport_store_size_bytes", help: Help.size).set(Double(bytes)) }
        if let log = stats.log {
            registry.makeGauge(name: "skyport_store_wal_frames", help: Help.walFrames).set(Double(log.frames))
            counter("skyport_store_checkpoints_total", [("outcome", "complete")], Help.checkpoints).increment(by: added("complete", log.completed))
            counter("skyport_store_checkpoints_total", [("outcome", "partial")], Help.checkpoints)
                .increment(by: added("partial", log.checkpoints - log.completed - log.failed))
            counter("skyport_store_checkpoints_total", [("outcome", "failed")], Help.checkpoints).increment(by: added("failed", log.failed))
            counter("skyport_store_wal_restarts_total", [], Help.walRestarts).increment(by: added("restarts", log.restarts))
            counter("skyport_store_checkpoints_ahead_total", [("outcome", "complete")], Help.checkpointsAhead)
                .increment(by: added("aheadComplete", log.aheadCompleted))
            counter("skyport_store_checkpoints_ahead_total", [("outcome", "partial")], Help.checkpointsAhead)
                .increment(by: added("aheadPartial", log.ahead - log.aheadCompleted - log.aheadFailed))
            counter("skyport_store_checkpoints_ahead_total", [("outcome", "failed")], Help.checkpointsAhead)
                .increment(by: added("aheadFailed", log.aheadFailed))
            counter("skyport_store_commits_total", [], Help.commits).increment(by: added("commits", log.commits))
            counter("skyport_store_wal_frames_written_total", [], Help.walWritten).increment(by: added("written", log.written))
        }
        // A facility's series go with it (a registry harvest may remove many).
        let registered = Set(facilities.map(\.key))
        let gone = facilitySeries.withLock { series in
            let keys = series.keys.filter { !registered.contains($0) }
            return keys.compactMap { series.removeValue(forKey: $0) }
        }
        for series in gone {
            for counter in series.counters.values { registry.unregisterCounter(counter) }
            for histogram in series.histograms.values { registry.unregisterDurationHistogram(histogram) }
        }
        // One series per registered facility that has been probed: 1 healthy, 0 unavailable; gone with the facility.
        let probed = facilities.compactMap { id in health[id].map { (id, $0.status == .healthy ? 1.0 : 0.0) } }
        healthSeries.withLock { series in
            let keep = Set(probed.map(\.0.key))
            for (key, gauge) in series where !keep.contains(key) {
                registry.unregisterGauge(gauge)
                series[key] = nil
            }
            for (id, up) in probed {
                let gauge = series[id.key] ?? registry.makeGauge(name: "skyport_facility_up", labels: [("facility", id.rawValue)], help: Help.up)
                gauge.set(up)
                series[id.key] = gauge
            }
        }
    }

    /// Sets the offer requests' gate's gauges, and adds what it counted since the last scrape to its counters. On
    /// every scrape (the gate is in memory), when there is a gate.
    public func refresh(_ gate: Admission.Counts) {
        registry.makeGauge(name: "skyport_offer_admission_limit", help: Help.admissionLimit).set(Double(gate.limit))
        registry.makeGauge(name: "skyport_offer_admission_running", help: Help.admissionRunning).set(Double(gate.running))
        registry.makeGauge(name: "skyport_offer_admission_waiting", help: Help.admissionWaiting).set(Double(gate.waiting))
        registry.makeGauge(name: "skyport_offer_admission_overloaded", help: Help.admissionOverloaded).set(gate.overloaded ? 1.0 : 0.0)
        counter("skyport_offer_admission_refused_total", [], Help.admissionRefused).increment(by: added("refused", gate.refused))
        counter("skyport_offer_admission_waited_total", [], Help.admissionWaited).increment(by: added("waited", gate.waited))
    }

    /// What a total counted elsewhere gained since it was last read. Reads may overlap: a total read before the last
    /// one adds nothing.
    private func added(_ series: String, _ total: Int) -> Int64 {
        seen.withLock { seen in
            defer { seen[series] = max(seen[series] ?? 0, total) }
            return Int64(max(0, total - (seen[series] ?? 0)))
        }
    }

    /// Runs `read` unless the gauges were read less than `statisticsMaxAge` before `now`, or a read is under way.
    public func refreshing(now: ContinuousClock.Instant, _ read: () async -> Void) async {
        let due = statistics.withLock { state in
            guard !state.reading, state.last.map({ now - $0 >= Self.statisticsMaxAge }) ?? true else { return false }
            state.reading = true
            return true
        }
        guard due else { return }
        await read()
        statistics.withLock { $0 = (now, false) }
    }

    /// Keeps a facility's series, to remove them with it.
    func kept(_ counter: Counter, for facility: FacilityID) -> Counter {
        facilitySeries.withLock { $0[facility.key, default: FacilitySeries()].counters[ObjectIdentifier(counter)] = counter }
        return counter
    }

    func kept(_ histogram: DurationHistogram, for facility: FacilityID) -> DurationHistogram {
        facilitySeries.withLock { $0[facility.key, default: FacilitySeries()].histograms[ObjectIdentifier(histogram)] = histogram }
        return histogram
    }

    @discardableResult
    func counter(_ name: String, _ labels: [(String, String)], _ help: String) -> Counter {
        labels.isEmpty ? registry.makeCounter(name: name, help: help) : registry.makeCounter(name: name, labels: labels, help: help)
    }

    /// Each family's help text (one per name: Prometheus wants it the same every time).
    enum Help {
        static let build = "Always 1; the version label says which Skyport this is"
        static let requests = "Offer requests answered, by result (YES/NO) and the reason that decided it"
        static let made = "Offers made (this broker's and other brokers' offers stored in offer sets)"
        static let ended = "Offers that ended without running on their own: accepted, rejected (a sibling was accepted, or the client said so), expired"
        static let transitions = "Session phase changes, by phase left and phase entered"
        static let claims = "Sessions claimed by forwarding workers"
        static let takeovers = "Claims of sessions whose lease, held by another worker (a replica, or this broker before a restart), ran out"
        static let retries = "Forwarding steps that failed and are retried after a hold-off, by facility"
        static let remoteCalls = "Calls to facilities by facility, operation and outcome (ok, refused, error)"
        static let remoteDuration = "Time of calls to facilities by facility and operation (status calls include a blocking WAIT)"
        static let federation = "Other brokers' answers to federated offer requests, by broker and outcome (in_time, late, unreachable)"
        static let federationDuration = "Time other brokers took to answer federated offer requests (a late one counts its deadline)"
        static let harvests = "Registry harvests by source and outcome"
        static let records = "Registry records applied by harvests, by source"
        static let harvestDuration = "Time of registry harvests"
        static let retention = "Rows deleted by retention, by kind"
        static let sessions = "Sessions stored now, by phase"
        static let queue = "Sessions waiting for a forwarding worker (need work, held by none)"
        static let held = "Sessions held by a forwarding worker or job-list tracker, or holding off after a failure"
        static let rows = "Rows stored now, by table"
        static let size = "The store's size on disk"
        static let admissionLimit = "Offer requests that may negotiate at once (SKYPORT_OFFER_CONCURRENCY)"
        static let admissionRunning = "Offer requests negotiating now"
        static let admissionWaiting = "Offer requests waiting for the gate now"
        static let admissionOverloaded = "1 while the gate judges the broker overloaded (a queue that stands) and refuses what cannot start at once"
        static let admissionRefused = "Offer requests refused by the gate (answered 503 overloaded with Retry-After)"
        static let walFrames = "Frames (pages) in the SQLite write-ahead log after the last commit"
        static let checkpoints = "Checkpoints of the SQLite write-ahead log by the writer: complete (reached the end of the log), partial (stopped short: a reader held an older snapshot, or another connection was checkpointing) or failed (an I/O error)"
        static let commits = "Transactions the SQLite writer committed that changed pages"
        static let walWritten = "Frames (pages) the SQLite writer's commits appended to the write-ahead log"
        static let checkpointsAhead = "Checkpoints of the SQLite write-ahead log ahead of the writer's, on a connection and a thread of their own: complete (copied every page the log held when it began), partial (stopped short: a reader's older snapshot, or the writer checkpointing) or failed"
        static let walRestarts = "Times the SQLite write-ahead log started again from its beginning"
        static let admissionWaited = "Offer requests that could not start at once and waited for the gate"
        static let up = "1 when a facility passed its last health check, 0 when it failed it (facilities not probed yet have no series)"
    }
}

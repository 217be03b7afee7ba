import Foundation
import Logging
import ServiceLifecycle
import SkyportBroker
import SkyportCore

/// Harvests the configured IVOA publishing registries (`RegistrySourceStore`) over OAI-PMH every `period`, and
/// applies their records to the facilities exactly as `skyport registry harvest` does (`RegistryApply`).
///
/// A source's first harvest is a full one; later ones ask for records changed since the start of the last
/// successful harvest, less `overlap` (clocks differ, and a record changed during a harvest is caught next time).
/// A run that fails (an OAI-PMH error, malformed XML, a registry that is down, a store error) is logged as an error
/// and recorded on the source; its `lastHarvest` stays, so the next run asks again from the same point. The records
/// of pages read before the failure are valid and stay applied; nothing is ever removed or disabled because a run
/// failed (only a record the registry marks deleted disables its facility). A failed source is retried after
/// `retryPeriod`. A new source (never attempted) is harvested at once when `signal` rings.
public struct RegistryHarvestService: Service {
    public struct Settings: Sendable {
        /// Between two harvests of a source.
        public var period: Duration = .seconds(3600)
        /// Between a failed harvest and the next try (at most `period`).
        public var retryPeriod: Duration = .seconds(300)
        /// Subtracted from the last successful harvest's start for the next `from=`.
        public var overlap: TimeInterval = 60
        /// Told of every harvest: records applied, failed or not, how long it took.
        public var telemetry = Telemetry.off

        public init() {}
    }

    /// Fetches the records of `url` changed since `from` (all of them when nil) and hands them over page by page;
    /// throws when the harvest cannot complete. The composition root passes an `OAIHarvester`'s pages.
    public typealias Harvest = @Sendable (
        _ url: URL, _ from: Date?, _ page: ([OAIRecord]) async throws -> Void
    ) async throws -> Void

    /// What one harvest of one source did.
    public struct Run: Sendable, Hashable {
        public var url: String
        public var started: Date
        /// The `from=` asked for; nil for a full harvest.
        public var from: Date?
        public var tally: RegistryApply.Tally
        /// Why the run failed; nil when it completed.
        public var error: String?
        /// The line recorded as the source's `lastResult`.
        public var summary: String
        public var succeeded: Bool { error == nil }
    }

    let store: any FacilityStore & RegistrySourceStore
    let harvest: Harvest
    let settings: Settings
    let signal: WorkSignal?
    let logger: Logger
    let now: @Sendable () -> Date
    /// Judges the endpoints each record names (`RegistryApply`).
    let egress: EgressPolicy

    public init(
        store: any FacilityStore & RegistrySourceStore, settings: Settings = .init(), signal: WorkSignal? = nil, logger: Logger,
        egress: EgressPolicy, now: @escaping @Sendable () -> Date = { Date() }, turns: Turns = .always, harvest: @escaping Harvest
    ) {
        self.turns = turns
        self.store = store
        self.harvest = harvest
        self.settings = settings
        self.signal = signal
        self.logger = logger
        self.now = now
        self.egress = egress
    }

    /// Replicas sharing a store take turns: a due source is harvested by the one that takes its turn (the others then
    /// read its new `lastAttempt`).
    let turns: Turns

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let next = await round()
            let pause = max(0.01, min(next.timeIntervalSince(now()), Self.seconds(settings.period)))
            let wait = Duration.milliseconds(Int64(pause * 1000))
            // The pause can be an hour: a graceful shutdown ends it (as a cancellation) instead of waiting it out.
            let signal = signal
            try? await cancelWhenGracefulShutdown {
                if let signal { await signal.wait(upTo: wait) } else { try await Task.sleep(for: wait) }
            }
        }
    }

    /// Harvests every source that is due; returns when the next one will be.
    @discardableResult
    public func round() async -> Date {
        let start = now()
        let sources: [RegistrySource]
        do {
            sources = try await store.registrySources()
        } catch {
            logger.error("reading registry sources failed", metadata: ["error": .string(String(describing: error))])
            return start.addingTimeInterval(Self.seconds(settings.retryPeriod))
        }
        var next = start.addingTimeInterval(Self.seconds(settings.period))
        for source in sources {
            if Task.isCancelled { break }
            var due = dueDate(source)
            let turn = Self.seconds(min(settings.retryPeriod, settings.period)) * 0.9
            if due <= start {
                if await turns.take("registry-harvest " + source.url, .seconds(turn), start) {
                    let run = await harvest(source)
                    due = run.succeeded
                        ? run.started.addingTimeInterval(Self.seconds(settings.period))
                        : run.started.addingTimeInterval(Self.seconds(min(settings.retryPeriod, settings.period)))
                } else {
                    due = start.addingTimeInterval(turn)   // another replica harvests it now
                }
            }
            next = min(next, due)
        }
        return next
    }

    /// When a source should next be harvested: at once if never tried.
    func dueDate(_ source: RegistrySource) -> Date {
        guard let attempt = source.lastAttempt else { return .distantPast }
        let failed = source.lastHarvest.map { $0 < attempt } ?? true
        return attempt.addingTimeInterval(Self.seconds(failed ? min(settings.retryPeriod, settings.period) : settings.period))
    }

    /// Harvests the source with this URL now, whether or not it is due; nil when there is no such source.
    public func harvestNow(_ url: String) async throws -> Run? {
        guard let source = try await store.registrySource(url) else { return nil }
        return await harvest(source)
    }

    /// One harvest of one source (incremental when it has a successful one), recorded on the source.
    public func harvest(_ source: RegistrySource) async -> Run {
        let started = now()
        let clock = ContinuousClock.now
        let from = source.lastHarvest.map { $0.addingTimeInterval(-settings.overlap) }
        var tally = RegistryApply.Tally()
        var failure: String?
        var metadata: Logger.Metadata = ["registry": .string(source.url), "from": .string(from.map(Timestamp.format) ?? "full")]
        if let base = URL(string: source.url), FacilityDocument.httpURLProblem(source.url) == nil {
            do {
                let store = self.store
                let now = self.now
                let logger = self.logger
                let egress = self.egress
                try await harvest(base, from) { records in
                    tally.pages += 1
                    for record in records {
                        let outcome = try await RegistryApply.apply(record, to: store, now: now(), source: source.url, egress: egress)
                        tally.count(outcome.verb)
                        logger.debug("registry record", metadata: [
                            "registry": .string(source.url), "outcome": .string(outcome.verb.rawValue),
                            "facility": .string(outcome.id), "detail": .string(outcome.detail),
                        ])
                    }
                }
            } catch {
                failure = Self.describe(error)
            }
        } else {
            failure = "'\(source.url)' is not an http(s) URL"
        }
        settings.telemetry.record(.registryHarvest(source: source.url, records: tally.records, failed: failure != nil, seconds: (ContinuousClock.now - clock).seconds))
        let counted = "\(tally.records) records in \(tally.pages) pages (\(tally.parts))"
        let summary: String
        if let failure {
            summary = "failed at \(Timestamp.format(started)): \(failure); kept lastHarvest, \(counted) applied before the failure"
            metadata["error"] = .string(failure)
            metadata["applied"] = .stringConvertible(tally.records)
            logger.error("registry harvest failed", metadata: metadata)
        } else {
            summary = "ok at \(Timestamp.format(started)) (\(from.map { "since \(Timestamp.format($0))" } ?? "full")): \(counted)"
            metadata["records"] = .stringConvertible(tally.records)
            metadata["pages"] = .stringConvertible(tally.pages)
            for verb in RegistryApply.Verb.allCases { metadata[verb.rawValue] = .stringConvertible(tally.counts[verb, default: 0]) }
            logger.info("registry harvested", metadata: metadata)
        }
        do {
            try await store.recordHarvest(url: source.url, attempt: started, completed: failure == nil ? started : nil, result: summary)
        } catch StoreError.notFound {
            logger.debug("registry source removed during its harvest", metadata: ["registry": .string(source.url)])
        } catch {
            logger.error("recording a registry harvest failed", metadata: ["registry": .string(source.url), "error": .string(String(describing: error))])
        }
        return Run(url: source.url, started: started, from: from, tally: tally, error: failure, summary: summary)
    }

    /// One line for an error, whatever its kind.
    static func describe(_ error: any Error) -> String {
        String(describing: error).replacingOccurrences(of: "\n", with: " ")
    }

    static func seconds(_ d: Duration) -> TimeInterval {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

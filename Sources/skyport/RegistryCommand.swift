import ArgumentParser
import AsyncHTTPClient
import Foundation
import SkyportApp
import SkyportCore
import SkyportRemotes

/// `skyport registry ...`: discover facilities from IVOA registries.
struct RegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry", abstract: "Discover facilities from IVOA registries.", subcommands: [Harvest.self])

    /// `skyport registry harvest URL`: harvest an OAI-PMH publishing registry into the facility store.
    struct Harvest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Harvest an OAI-PMH registry (ivo_vor) and add or update a facility per executable resource.",
            discussion: """
                Resources with a TAP or UWS capability become uws facilities, ExecutionBroker capabilities executionbroker \
                endpoints, and BinderHub/JupyterHub interfaces binderhub endpoints; anything else is skipped with its reason.

                Facilities are owned by 'registry'. A harvest never changes what an operator set (status, capacity, \
                data.rses), and a deleted record disables its facility (it is never removed).

                Prints one line per record, added|updated|disabled|skipped <ivoid> <detail>, then a summary.
                """)

        @OptionGroup var store: StoreOptions
        @Argument(help: "The registry's OAI-PMH base URL, e.g. http://localhost:8080/oai.xml.") var url: String
        @Option(help: "Only records changed since this date (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ).") var from: String?
        @Flag(help: "Harvest and map, but write nothing (and read no store: every facility counts as new).") var dryRun = false
        @Option(help: "Stop with an error after this many pages.") var maxPages = 2_000
        @Option(help: "Stop with an error after this many records.") var maxRecords = 500_000

        func run() async throws {
            guard let base = URL(string: url), FacilityDocument.httpURLProblem(url) == nil else {
                throw ValidationError("'\(url)' is not an http(s) URL")
            }
            var since: Date?
            if let from {
                guard let date = RegistryDate.parse(from) else { throw ValidationError("--from '\(from)' is not a date (YYYY-MM-DD)") }
                since = date
            }
            guard maxPages > 0, maxRecords > 0 else { throw ValidationError("--max-pages and --max-records must be positive") }
            let facilities: (any BrokerStore)? = dryRun ? nil : try SkyportComposition.makeStore(try store.configuration())
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: RemoteHTTP.clientConfiguration)
            let failure: (any Error)?
            var tally = Tally()
            let started = ContinuousClock.now
            do {
                let harvester = OAIHarvester(http: RemoteHTTP(client: client, timeout: .seconds(60), maxBodyBytes: XMLDoc.defaultMaxBytes), maxPages: maxPages, maxRecords: maxRecords)
                for try await page in harvester.pages(baseURL: base, from: since) {
                    tally.pages += 1
                    for record in page.records {
                        let (verb, id, detail) = try await Self.apply(record, to: facilities, now: Date())
                        tally.count(verb)
                        print("\(verb) \(id) \(detail)")
                    }
                }
                failure = nil
            } catch {
                failure = error
            }
            try? await client.shutdown()
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(tally.summary(url: url, seconds: seconds, dryRun: dryRun))
            if let failure {
                FileHandle.standardError.write(Data("harvest stopped: \(failure)\n".utf8))
                throw ExitCode.failure
            }
        }

        /// Applies one record to the store (or, with no store, only maps it); returns the line to print.
        static func apply(_ record: OAIRecord, to store: (any BrokerStore)?, now: Date) async throws -> (String, String, String) {
            let id = record.resource?.ivoid ?? FacilityID(record.header.identifier)
            if record.header.isDeleted || record.resource?.status == .deleted {
                guard let store else { return ("disabled", id.rawValue, "deleted in the registry (dry run)") }
                guard var existing = try await store.facility(id) else { return ("skipped", id.rawValue, "deleted: no such facility") }
                if existing.status == .disabled { return ("skipped", id.rawValue, "deleted: facility already disabled") }
                existing.status = .disabled
                existing.modified = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
                try await store.replaceFacility(existing)
                return ("disabled", id.rawValue, "deleted in the registry")
            }
            guard let resource = record.resource else {
                return ("skipped", id.rawValue, "unreadable-record: \(record.problem ?? "no metadata")")
            }
            switch RegistryMapping.facility(from: resource, owner: "registry", now: now) {
            case .failure(let reason):
                return ("skipped", id.rawValue, reason.description)
            case .success(let harvested):
                let detail = harvested.endpoints.map { "\($0.kind.rawValue) \($0.url)" }.joined(separator: ", ")
                    + " accepts " + harvested.accepts.map(\.rawValue).joined(separator: ",")
                guard let store else { return ("added", id.rawValue, detail + " (dry run)") }
                if let existing = try await store.facility(id) {
                    try await store.replaceFacility(RegistryMapping.merge(harvested: harvested, existing: existing))
                    return ("updated", id.rawValue, detail)
                }
                do {
                    try await store.insertFacility(harvested)
                } catch StoreError.duplicate {
                    try await store.replaceFacility(RegistryMapping.merge(harvested: harvested, existing: try await store.facility(id)))
                    return ("updated", id.rawValue, detail)
                }
                return ("added", id.rawValue, detail)
            }
        }
    }

    /// Counts per outcome, for the summary line.
    struct Tally {
        var pages = 0
        var counts: [String: Int] = [:]

        mutating func count(_ verb: String) { counts[verb, default: 0] += 1 }

        func summary(url: String, seconds: Double, dryRun: Bool) -> String {
            let records = counts.values.reduce(0, +)
            let rate = seconds > 0 ? Double(records) / seconds : 0
            let parts = ["added", "updated", "disabled", "skipped"].map { "\(counts[$0, default: 0]) \($0)" }.joined(separator: ", ")
            return "harvested \(records) records in \(pages) pages from \(url) in \(String(format: "%.2f", seconds)) s"
                + " (\(String(format: "%.0f", rate)) records/s): \(parts)\(dryRun ? " (dry run: nothing written)" : "")"
        }
    }
}

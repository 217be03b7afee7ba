import ArgumentParser
import AsyncHTTPClient
import Foundation
import SkyportApp
import SkyportBroker
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
            var config = try store.configuration()
            // A dry run reads no store: every facility counts as new, and nothing is written anywhere.
            if dryRun { config.database = ":memory:" }
            let started = ContinuousClock.now
            var tally = Tally()
            let failure: (any Error)? = try await SkyportRuntime.with(config) { runtime in
                let facilities: (any FacilityStore)? = dryRun ? nil : runtime.store
                do {
                    for try await page in runtime.registryHarvester(maxPages: maxPages, maxRecords: maxRecords, trusted: true).pages(baseURL: base, from: since) {
                        tally.pages += 1
                        for record in page.records {
                            let outcome = try await RegistryApply.apply(record, to: facilities, now: Date(), source: url, egress: config.egress)
                            tally.count(outcome.verb)
                            print(outcome)
                        }
                    }
                    return nil
                } catch {
                    return error
                }
            }
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(tally.summary(url: url, seconds: seconds, dryRun: dryRun))
            if let failure {
                FileHandle.standardError.write(Data("harvest stopped: \(failure)\n".utf8))
                throw ExitCode.failure
            }
        }
    }

    /// Counts per outcome, for the summary line.
    struct Tally {
        var shared = RegistryApply.Tally()
        var pages: Int {
            get { shared.pages }
            set { shared.pages = newValue }
        }

        mutating func count(_ verb: RegistryApply.Verb) { shared.count(verb) }

        func summary(url: String, seconds: Double, dryRun: Bool) -> String {
            let records = shared.records
            let rate = seconds > 0 ? Double(records) / seconds : 0
            return "harvested \(records) records in \(pages) pages from \(url) in \(String(format: "%.2f", seconds)) s"
                + " (\(String(format: "%.0f", rate)) records/s): \(shared.parts)\(dryRun ? " (dry run: nothing written)" : "")"
        }
    }
}

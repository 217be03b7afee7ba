import ArgumentParser
import Foundation
import SkyportBench
import SkyportCore
import SkyportBroker

/// `skyport match`: the matcher, offline, on files.
struct MatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "match",
        abstract: "Run the matcher offline: ranked candidates and every rejection reason.",
        discussion: """
            --facilities takes a JSON or YAML list of facility documents (or a GET /facilities answer), or JSON Lines.
            With --request, prints a readable report for one request document (JSON or YAML).
            With --requests FILE.jsonl, matches many requests (one per line) and writes one JSON line per request
            (to --output, or standard output) with the ranked facility ids; identical request shapes are matched once.
            """)

    @Option(help: "Facilities: JSON, YAML or JSON Lines.") var facilities: String
    @Option(help: "One request document (JSON or YAML).") var request: String?
    @Option(help: "Many requests, one JSON document per line.") var requests: String?
    @Option(help: "Where to write the JSON lines (default: standard output).") var output: String?

    func validate() throws {
        if (request == nil) == (requests == nil) { throw ValidationError("give exactly one of --request or --requests") }
    }

    func run() async throws {
        let list = try Self.loadFacilities(facilities)
        let now = Date()
        if let request {
            let parsed = try ExecutionRequestParser.parse(try Self.load(request), now: now, strict: true)
            print(MatchReport.text(for: parsed, against: list), terminator: "")
            return
        }
        guard let requests else { return }
        var parsed: [NormalisedRequest] = []
        for (n, line) in try Self.lines(requests).enumerated() {
            do {
                parsed.append(try ExecutionRequestParser.parse(try JSONValue.parse(line), now: now, strict: true))
            } catch {
                throw ValidationError("\(requests) line \(n + 1): \(Self.describe(error))")
            }
        }
        let started = ContinuousClock.now
        var batch = MatchBatch(facilities: list)
        let lines = batch.lines(for: parsed)
        let elapsed = ContinuousClock.now - started
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var out = Data()
        for line in lines {
            out.append(try encoder.encode(line))
            out.append(0x0A)
        }
        if let output { try out.write(to: URL(fileURLWithPath: output)) } else { FileHandle.standardOutput.write(out) }
        FileHandle.standardError.write(Data(
            "matched \(parsed.count) requests (\(batch.distinctShapes) distinct shapes) against \(list.count) facilities in \(elapsed)\n".utf8))
    }

    static func load(_ path: String) throws -> JSONValue {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let yaml = path.hasSuffix(".yaml") || path.hasSuffix(".yml")
        do { return try Documents.parse(data, yaml: yaml) } catch { throw ValidationError("\(path): \(describe(error))") }
    }

    static func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(whereSeparator: \.isNewline).map(String.init)
            .filter { !$0.trimmingSpaces().isEmpty }
    }

    /// Facility documents from a list, a `{"facilities": [...]}` answer, a single document, or JSON Lines.
    static func loadFacilities(_ path: String) throws -> [Facility] {
        let documents: [JSONValue]
        if path.hasSuffix(".jsonl") || path.hasSuffix(".ndjson") {
            documents = try lines(path).map { try JSONValue.parse($0) }
        } else {
            let doc = try load(path)
            documents = doc.arrayValue ?? doc["facilities"]?.arrayValue ?? [doc]
        }
        let now = Date()
        return try documents.enumerated().map { i, doc in
            do { return try FacilityDocument(doc).validated(owner: "file", created: now, now: now) } catch {
                throw ValidationError("\(path): facility \(i + 1): \(describe(error))")
            }
        }
    }

    static func describe(_ error: any Error) -> String {
        if let failure = error as? ValidationFailure { return failure.errors.map(\.description).joined(separator: "; ") }
        return String(describing: error)
    }
}

/// `skyport bench ...`: benchmarks whose numbers go into notes, never into tests.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks.", subcommands: [MatchBench.self, LoadBench.self, TokenBench.self, ContractBench.self, LedgerBench.self])

    struct MatchBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "match", abstract: "Time the matcher on a synthetic workload (deterministic, seeded).")
        @Option(help: "Facilities.") var facilities = 1_000
        @Option(help: "Requests.") var requests = 10_000
        @Option(help: "Distinct request shapes among them.") var shapes = 500
        @Option(help: "Seed.") var seed: UInt64 = 42
        @Flag(help: "Use the whole vocabulary: GPUs, architectures, runtimes, environments, registries, scratch, data sizes, locality and ranking.")
        var vocabulary = false
        @Option(help: "Print the funnel of this many requests (the first ones nothing satisfies, then the first that match).")
        var funnels = 0

        func run() async throws {
            let fs = vocabulary
                ? SyntheticWorkload.vocabularyFacilities(count: facilities, seed: seed)
                : SyntheticWorkload.facilities(count: facilities, seed: seed)
            let rs = vocabulary
                ? SyntheticWorkload.vocabularyRequests(count: requests, distinctShapes: shapes, seed: seed &+ 1)
                : SyntheticWorkload.requests(count: requests, distinctShapes: shapes, seed: seed &+ 1)
            let clock: () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }
            for cached in [false, true] {
                let r = MatchBenchmark.run(facilities: fs, requests: rs, shapeCache: cached, clock: clock)
                print(String(
                    format: "%@: %d requests x %d facilities = %d pairs (%d evaluated, %d distinct shapes); index %.1f ms; match %.1f ms; %.3f us/pair; %.3f us/evaluated pair; %.0f requests/s; %d matched",
                    cached ? "shape cache on " : "shape cache off", r.requests, r.facilities, r.pairs, r.evaluatedPairs, r.distinctShapes,
                    Double(r.indexNanoseconds) / 1e6, Double(r.matchNanoseconds) / 1e6, r.microsecondsPerPair,
                    r.microsecondsPerEvaluatedPair, r.requestsPerSecond, r.matchedRequests))
            }
            guard funnels > 0 else { return }
            let index = MatchIndex(fs)
            let outcomes = rs.prefix(2_000).map { ($0, index.match($0)) }
            let empty = outcomes.filter { !$0.1.isMatch }.prefix((funnels + 1) / 2)
            let matched = outcomes.filter { $0.1.isMatch }.prefix(funnels - empty.count)
            for (request, outcome) in Array(empty) + Array(matched) {
                print("\(request.name ?? "-") [\(MatchReport.summary(outcome.shape))]: \(outcome.funnel.text)")
            }
        }
    }
}

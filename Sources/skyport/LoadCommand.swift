import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// `skyport bench load`: an open-loop HTTP load generator. Request `i` is sent at `start + i / rate` whatever happened
/// to the ones before it, and its latency counts from that scheduled time, so a server that falls behind shows it
/// in the numbers (queueing in the client included) instead of slowing the client down, as a closed loop would.
/// Bodies are taken in turn from a file of one JSON document per line. Prints one line of results and, with
/// `--json`, the same as JSON.
struct LoadBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load", abstract: "Open-loop HTTP load: requests at a fixed rate, latency from the scheduled send time.")

    @Option(help: "The URL every request goes to.") var url: String
    @Option(help: "HTTP method.") var method = "POST"
    @Option(help: "A file of request bodies, one per line (taken in turn); none sends no body.") var bodies: String?
    @Option(help: "Requests per second.") var rate: Double = 100
    @Option(help: "Seconds to send for.") var duration: Double = 60
    @Option(help: "Keep-alive connections at most (requests beyond them wait in the client, and that wait counts).") var connections = 64
    @Option(help: "Seconds after which a request counts as failed.") var timeout: Double = 30
    @Option(help: "Statuses that count as success (comma-separated).") var expect = "200,201,303"
    @Option(help: "A label for the results line.") var label = "load"
    @Flag(help: "Also print the results as one JSON object.") var json = false

    func run() async throws {
        guard rate > 0, duration > 0, connections > 0 else { throw ValidationError("--rate, --duration and --connections must be positive") }
        let lines = try bodies.map { path in
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").filter { !$0.isEmpty }.map { ByteBuffer(string: String($0)) }
        } ?? []
        let expected = Set(expect.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) })
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        configuration.redirectConfiguration = .disallow
        configuration.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let results = LoadCollector()
        let total = Int(rate * duration)
        let clock = ContinuousClock()
        let start = clock.now + .milliseconds(100)
        let method = HTTPMethod(rawValue: self.method)
        let (url, timeout) = (self.url, self.timeout)
        await withDiscardingTaskGroup { group in
            for i in 0..<total {
                let due = start + .seconds(Double(i) / rate)
                if due > clock.now { try? await clock.sleep(until: due) }
                group.addTask {
                    var request = HTTPClientRequest(url: url)
                    request.method = method
                    if !lines.isEmpty {
                        request.headers.add(name: "Content-Type", value: "application/json")
                        request.body = .bytes(lines[i % lines.count])
                    }
                    var status: Int?
                    do {
                        let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
                        _ = try await response.body.collect(upTo: 16 << 20)
                        status = Int(response.status.code)
                    } catch {
                        status = nil
                    }
                    let latency = due.duration(to: clock.now)
                    results.state.withLock { $0.add(latency: latency, status: status, ok: status.map(expected.contains) ?? false) }
                }
            }
        }
        let elapsed = start.duration(to: clock.now)
        try await client.shutdown()
        let summary = results.state.withLock { $0.summary(elapsed: elapsed, target: rate) }
        print("\(label): \(summary.line)")
        if json { print(String(decoding: try JSONEncoder().encode(summary), as: UTF8.self)) }
    }
}

/// Where the request tasks of a run record their results.
final class LoadCollector: Sendable {
    let state = Mutex(LoadResults())
}

/// Latencies and statuses of one load run.
struct LoadResults {
    var latencies: [Double] = []
    var statuses: [String: Int] = [:]
    var failures = 0

    mutating func add(latency: Duration, status: Int?, ok: Bool) {
        latencies.append(Double(latency.components.seconds) + Double(latency.components.attoseconds) / 1e18)
        statuses[status.map(String.init) ?? "error", default: 0] += 1
        if !ok { failures += 1 }
    }

    struct Summary: Encodable {
        var target: Double, achieved: Double, requests: Int, failures: Int
        var p50: Double, p99: Double, p999: Double, max: Double
        var statuses: [String: Int]
        var line: String {
            String(format: "target %.0f/s, achieved %.1f/s, %d requests, %d failed; latency from the scheduled time p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms; statuses %@",
                   target, achieved, requests, failures, p50 * 1000, p99 * 1000, p999 * 1000, max * 1000,
                   statuses.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", "))
        }
    }

    func summary(elapsed: Duration, target: Double) -> Summary {
        let sorted = latencies.sorted()
        func q(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(p * Double(sorted.count)))] }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Summary(
            target: target, achieved: Double(sorted.count - failures) / Swift.max(seconds, 1e-9), requests: sorted.count, failures: failures,
            p50: q(0.5), p99: q(0.99), p999: q(0.999), max: sorted.last ?? 0, statuses: statuses)
    }
}

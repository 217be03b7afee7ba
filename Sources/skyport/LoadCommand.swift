import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import SkyportBench
import SkyportCore

/// `skyport bench load`: an open-loop HTTP load generator. Request `i` is sent at `start + i / rate` whatever happened
/// to the ones before it, and its latency counts from that scheduled time, so a server that falls behind shows it
/// in the numbers (queueing in the client included) instead of slowing the client down, as a closed loop would.
/// Bodies are taken in turn from a file of one JSON document per line. Prints one line of results and, with
/// `--json`, the same as JSON. With `--accept-every N`, every Nth request that is answered `303` is followed, as a
/// client would, by reading its offer set (`GET` its `Location`) and accepting its first offer (`POST` to the offer's
/// URL); those two calls are timed on their own (from when each was sent) and reported on a second line, not in the
/// first line's numbers.
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
    @Option(help: "Follow every Nth request answered 303 by reading its offer set and accepting its first offer (0: never).")
    var acceptEvery = 0
    @Option(help: "A file holding a bearer token sent with every request (`Authorization: Bearer ...`), e.g. an OpenID access token.")
    var bearerFile: String?
    @Option(help: "A file to write the run's timeline to: per second of scheduled send time, the requests, p50, p99 and max (ms).")
    var timeline: String?
    @Option(help: "Also report the latencies of the requests scheduled from this second on (e.g. the offer lifetime: the steady state).")
    var steadyFrom: Int?
    @Flag(help: "Also print the results as one JSON object.") var json = false

    func run() async throws {
        guard rate > 0, duration > 0, connections > 0 else { throw ValidationError("--rate, --duration and --connections must be positive") }
        if let steadyFrom, steadyFrom < 0 { throw ValidationError("--steady-from must be 0 or more seconds") }
        let lines = try bodies.map { path in
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").filter { !$0.isEmpty }.map { ByteBuffer(string: String($0)) }
        } ?? []
        let authorization = try bearerFile.map { "Bearer " + (try String(contentsOfFile: $0, encoding: .utf8)).trimmingWhitespace() }
        let expected = Set(expect.split(separator: ",").compactMap { Int($0.trimmingSpaces()) })
        guard let parts = URLComponents(string: url), parts.scheme == "http", let host = parts.host else {
            throw ValidationError("--url must be an http:// URL")
        }
        let path = (parts.percentEncodedPath.isEmpty ? "/" : parts.percentEncodedPath) + (parts.percentEncodedQuery.map { "?" + $0 } ?? "")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let driver = OpenLoopDriver(
            plan: .init(host: host, port: parts.port ?? 80, path: path, method: HTTPMethod(rawValue: method), bodies: lines,
                        authorization: authorization, rate: rate, total: Int(rate * duration), connections: connections,
                        timeout: .milliseconds(Int64(timeout * 1000)), expected: expected, acceptEvery: acceptEvery),
            loop: group.next())
        try await driver.run()
        try await group.shutdownGracefully()
        let results = driver.results
        let elapsed = Duration.nanoseconds(driver.elapsed.nanoseconds)
        let summary = results.summary(elapsed: elapsed, target: rate)
        // The generator's own CPU, so that a run on the broker's cores says what the load itself cost.
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("\(label): \(summary.line); generator CPU \(String(format: "%.2f", cpu / max(seconds, 1e-9))) cores")
        if acceptEvery > 0 { print("\(label), every \(acceptEvery)th request followed: \(driver.followLine)") }
        if let steadyFrom {
            let w = results.window(from: steadyFrom)
            print("\(label), from \(steadyFrom) s on: " + String(
                format: "%d requests; p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms", w.count, w.p50 * 1000, w.p99 * 1000, w.p999 * 1000, w.max * 1000))
        }
        if json { print(String(decoding: try JSONEncoder().encode(summary), as: UTF8.self)) }
        if let timeline { try results.timeline.write(toFile: timeline, atomically: true, encoding: .utf8) }
    }
}

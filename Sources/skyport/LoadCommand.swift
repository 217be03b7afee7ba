import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SkyportCore
import Synchronization

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
    @Flag(help: "Also print the results as one JSON object.") var json = false

    func run() async throws {
        guard rate > 0, duration > 0, connections > 0 else { throw ValidationError("--rate, --duration and --connections must be positive") }
        let lines = try bodies.map { path in
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").filter { !$0.isEmpty }.map { ByteBuffer(string: String($0)) }
        } ?? []
        let authorization = try bearerFile.map { "Bearer " + (try String(contentsOfFile: $0, encoding: .utf8)).trimmingWhitespace() }
        let expected = Set(expect.split(separator: ",").compactMap { Int($0.trimmingSpaces()) })
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        configuration.redirectConfiguration = .disallow
        configuration.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let results = LoadCollector()
        let follow = acceptEvery > 0 ? AcceptFollower(client: client, base: url, timeout: timeout, authorization: authorization) : nil
        let total = Int(rate * duration)
        let clock = ContinuousClock()
        let start = clock.now + .milliseconds(100)
        let method = HTTPMethod(rawValue: self.method)
        let (url, timeout, acceptEvery) = (self.url, self.timeout, self.acceptEvery)
        await withDiscardingTaskGroup { group in
            for i in 0..<total {
                let due = start + .seconds(Double(i) / rate)
                if due > clock.now { try? await clock.sleep(until: due) }
                group.addTask {
                    var request = HTTPClientRequest(url: url)
                    request.method = method
                    if let authorization { request.headers.add(name: "Authorization", value: authorization) }
                    if !lines.isEmpty {
                        request.headers.add(name: "Content-Type", value: "application/json")
                        request.body = .bytes(lines[i % lines.count])
                    }
                    var status: Int?
                    var location: String?
                    do {
                        let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
                        _ = try await response.body.collect(upTo: 16 << 20)
                        status = Int(response.status.code)
                        location = response.headers.first(name: "Location")
                    } catch {
                        status = nil
                    }
                    let latency = due.duration(to: clock.now)
                    results.state.withLock {
                        $0.add(latency: latency, status: status, ok: status.map(expected.contains) ?? false, second: Int(Double(i) / rate))
                    }
                    if let follow, i % acceptEvery == 0, status == 303, let location {
                        await follow.readAndAccept(offerSet: location)
                    }
                }
            }
        }
        let elapsed = start.duration(to: clock.now)
        try await client.shutdown()
        let summary = results.state.withLock { $0.summary(elapsed: elapsed, target: rate) }
        print("\(label): \(summary.line)")
        if let follow { print("\(label), every \(acceptEvery)th request followed: \(follow.line)") }
        if json { print(String(decoding: try JSONEncoder().encode(summary), as: UTF8.self)) }
        if let timeline { try results.state.withLock { $0.timeline }.write(toFile: timeline, atomically: true, encoding: .utf8) }
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
    /// Latencies by the second of their scheduled send time (for `--timeline`).
    var seconds: [[Double]] = []

    mutating func add(latency: Duration, status: Int?, ok: Bool, second: Int? = nil) {
        let value = Double(latency.components.seconds) + Double(latency.components.attoseconds) / 1e18
        latencies.append(value)
        if let second, second >= 0 {
            if seconds.count <= second { seconds.append(contentsOf: repeatElement([], count: second + 1 - seconds.count)) }
            seconds[second].append(value)
        }
        statuses[status.map(String.init) ?? "error", default: 0] += 1
        if !ok { failures += 1 }
    }

    /// The latency at quantile `p` (1 is the largest); 0 when there is none.
    func quantile(_ p: Double) -> Double {
        let sorted = latencies.sorted()
        return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(p * Double(sorted.count)))]
    }

    /// One line per second of scheduled send time: the second, its requests, p50, p99 and max in ms.
    var timeline: String {
        seconds.enumerated().map { second, values in
            let sorted = values.sorted()
            func q(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(p * Double(sorted.count)))] * 1000 }
            return String(format: "%d %d %.2f %.2f %.2f", second, sorted.count, q(0.5), q(0.99), (sorted.last ?? 0) * 1000)
        }.joined(separator: "\n") + "\n"
    }

    var statusLine: String { statuses.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", ") }

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

/// A client following an offer set it was sent to: reads it, and accepts its first offer.
final class AcceptFollower: Sendable {
    let client: HTTPClient
    /// `scheme://host:port` of the load's URL, for a relative `Location`.
    let origin: String
    let timeout: TimeAmount
    let reads = LoadCollector()
    let accepts = LoadCollector()
    let withoutOffers = Mutex(0)
    let authorization: String?

    init(client: HTTPClient, base url: String, timeout: Double, authorization: String? = nil) {
        self.client = client
        self.authorization = authorization
        let parts = URLComponents(string: url)
        origin = "\(parts?.scheme ?? "http")://\(parts?.host ?? "127.0.0.1")\(parts?.port.map { ":\($0)" } ?? "")"
        self.timeout = .milliseconds(Int64(timeout * 1000))
    }

    private struct OfferSet: Decodable {
        struct Offer: Decodable {
            struct Meta: Decodable { var url: String }
            var meta: Meta
        }
        var offers: [Offer]
    }

    func readAndAccept(offerSet location: String) async {
        let clock = ContinuousClock()
        let url = location.hasPrefix("/") ? origin + location : location
        var sent = clock.now
        var offer: String?
        var status: Int?
        do {
            var read = HTTPClientRequest(url: url)
            if let authorization { read.headers.add(name: "Authorization", value: authorization) }
            let response = try await client.execute(read, timeout: timeout)
            let body = try await response.body.collect(upTo: 16 << 20)
            status = Int(response.status.code)
            if status == 200 { offer = try JSONDecoder().decode(OfferSet.self, from: body).offers.first?.meta.url }
        } catch {
            status = nil
        }
        let read = sent.duration(to: clock.now)
        reads.state.withLock { $0.add(latency: read, status: status, ok: status == 200) }
        guard let offer else {
            // A set without offers has nothing to accept (a failed read is counted with the reads).
            if status == 200 { withoutOffers.withLock { $0 += 1 } }
            return
        }
        var accept = HTTPClientRequest(url: offer.hasPrefix("/") ? origin + offer : offer)
        accept.method = .POST
        if let authorization { accept.headers.add(name: "Authorization", value: authorization) }
        accept.headers.add(name: "Content-Type", value: "application/json")
        accept.body = .bytes(ByteBuffer(string: #"{"kind":"uri:enum-value-update","path":"phase","value":"ACCEPTED"}"#))
        sent = clock.now
        status = nil
        do {
            let response = try await client.execute(accept, timeout: timeout)
            _ = try await response.body.collect(upTo: 16 << 20)
            status = Int(response.status.code)
        } catch {
            status = nil
        }
        let accepted = sent.duration(to: clock.now)
        accepts.state.withLock { $0.add(latency: accepted, status: status, ok: status == 200) }
    }

    var line: String {
        let r = reads.state.withLock { $0 }, a = accepts.state.withLock { $0 }
        func ms(_ s: LoadResults, _ p: Double) -> String { String(format: "%.2f ms", s.quantile(p) * 1000) }
        return "\(r.latencies.count) offer sets read (\(r.failures) failed; p50 \(ms(r, 0.5)), p99 \(ms(r, 0.99))), "
            + "\(a.latencies.count - a.failures) offers accepted (\(a.failures) failed; p50 \(ms(a, 0.5)), p99 \(ms(a, 0.99)), max \(ms(a, 1))); "
            + "\(withoutOffers.withLock { $0 }) sets without an offer; accept statuses \(a.statusLine)"
    }
}

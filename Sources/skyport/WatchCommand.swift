import ArgumentParser
import AsyncHTTPClient
import Foundation

/// `skyport watch SESSION`: follows a session live, with the facility's progress (a BinderHub build's phases and
/// messages) on one updating line, until the user can go in (or, with `--follow`, until it ends).
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "Show a session's progress live, until it is available or has ended.")

    @Argument(help: "The session: its UUID, or its URL.") var session: String
    @Option(help: "The broker's base URL (env SKYPORT_URL; default http://127.0.0.1:8090).") var broker: String?
    @Option(help: "Seconds between looks.") var interval: Double = 0.5
    @Flag(help: "Keep watching after the session is available, until it ends.") var follow = false

    /// The launch steps shown as a bar, in BinderHub's order.
    static let steps = ["waiting", "fetching", "building", "pushing", "built", "launching", "ready"]

    func run() async throws {
        let url = try sessionURL()
        let client = HTTPClient.shared
        let tty = isatty(STDOUT_FILENO) == 1
        let started = Date()
        var lastLine = ""
        var lastPhase = ""
        var spin = 0
        var failures = 0
        while true {
            let doc: [String: Any]
            do {
                doc = try await fetch(url, client)
                failures = 0
            } catch {
                failures += 1
                if failures >= 10 { throw ValidationError("cannot read \(url): \(error)") }
                try await Task.sleep(for: .seconds(interval))
                continue
            }
            let phase = doc["phase"] as? String ?? "UNKNOWN"
            let progress = doc["progress"] as? [String: Any]
            let remote = progress?["phase"] as? String
            let message = (progress?["message"] as? String) ?? (doc["message"] as? String) ?? ""
            let elapsed = Int(Date().timeIntervalSince(started))
            if phase != lastPhase {
                if tty, !lastLine.isEmpty { print("\r\u{1B}[2K", terminator: "") }
                print("\(Self.clock(elapsed)) \(phase)\(message.isEmpty ? "" : ": \(message)")")
                lastPhase = phase
                lastLine = ""
            } else {
                let line = "\(Self.bar(remote)) \(remote ?? phase.lowercased())  \(Self.clip(message, 70))"
                if tty {
                    spin += 1
                    let frame = ["|", "/", "-", "\\"][spin % 4]
                    print("\r\u{1B}[2K\(frame) \(Self.clock(elapsed)) \(line)", terminator: "")
                } else if line != lastLine {
                    print("\(Self.clock(elapsed)) \(line)")
                }
                lastLine = line
            }
            if ["AVAILABLE", "RUNNING"].contains(phase), !follow {
                if tty { print("") }
                for c in doc["connectors"] as? [[String: Any]] ?? [] {
                    if let location = c["location"] as? String { print("open: \(location)") }
                }
                return
            }
            if ["COMPLETED", "FAILED", "CANCELLED", "EXPIRED", "REJECTED"].contains(phase) {
                if tty { print("") }
                if phase != "COMPLETED" { throw ExitCode(1) }
                return
            }
            try await Task.sleep(for: .seconds(interval))
        }
    }

    func sessionURL() throws -> String {
        if session.hasPrefix("http://") || session.hasPrefix("https://") { return session }
        guard UUID(uuidString: session) != nil else { throw ValidationError("SESSION must be a session UUID or URL, not '\(session)'") }
        let base = broker ?? ProcessInfo.processInfo.environment["SKYPORT_URL"] ?? "http://127.0.0.1:8090"
        return (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/sessions/" + session.lowercased()
    }

    func fetch(_ url: String, _ client: HTTPClient) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 4 << 20)
        guard response.status.code == 200 else {
            if response.status.code == 404 { throw ValidationError("no session at \(url)") }
            throw ValidationError("HTTP \(response.status.code) from \(url)")
        }
        guard let doc = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else {
            throw ValidationError("\(url) did not answer with a session document")
        }
        return doc
    }

    /// Unbuffered, so that the updating line shows at once.
    func print(_ text: String, terminator: String = "\n") {
        FileHandle.standardOutput.write(Data((text + terminator).utf8))
    }

    static func bar(_ remote: String?) -> String {
        let done = remote.flatMap { steps.firstIndex(of: $0) }.map { $0 + 1 } ?? 0
        return "[" + String(repeating: "#", count: done) + String(repeating: ".", count: steps.count - done) + "]"
    }

    static func clock(_ seconds: Int) -> String { String(format: "%02d:%02d", seconds / 60, seconds % 60) }

    static func clip(_ s: String, _ n: Int) -> String {
        let one = s.replacingOccurrences(of: "\n", with: " ")
        return one.count > n ? String(one.prefix(n - 1)) + "…" : one
    }
}

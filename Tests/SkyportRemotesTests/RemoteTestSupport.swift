import AsyncHTTPClient
import Foundation
import SkyportCore
import SkyportRemotes

/// Runs `body` with a `RemoteHTTP` over a fresh `HTTPClient` configured as the composition root does, then shuts it down.
func withRemoteHTTP<T: Sendable>(
    auth: RemoteAuth? = nil, timeout: Duration = .seconds(10), maxBodyBytes: Int = 8 << 20,
    retry: RetryPolicy = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(20), maxDelay: .milliseconds(100)),
    _ body: (RemoteHTTP) async throws -> T
) async throws -> T {
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: RemoteHTTP.clientConfiguration)
    let http = RemoteHTTP(client: client, auth: auth, timeout: timeout, maxBodyBytes: maxBodyBytes, retry: retry)
    do {
        let result = try await body(http)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// The real peers started by `scripts/peers.sh`; a nil URL means the peer was not started and its tests are not run.
enum Peers {
    static let dachs: URL? = url("SKYPORT_TEST_DACHS_URL", peer: "dachs")
    static let djangoUWS: URL? = url("SKYPORT_TEST_DJANGO_UWS_URL", peer: "django-uws")
    static var djangoAuth: RemoteAuth {
        let env = ProcessInfo.processInfo.environment
        return .basic(username: env["SKYPORT_TEST_DJANGO_UWS_USER"] ?? "uws", password: env["SKYPORT_TEST_DJANGO_UWS_PASSWORD"] ?? "uws-pass")
    }

    private static func url(_ name: String, peer: String) -> URL? {
        if let text = ProcessInfo.processInfo.environment[name], !text.isEmpty, let url = URL(string: text) { return url }
        print("NOT RUN: \(peer) integration tests — \(name) is unset because the peer is not started (scripts/peers.sh start \(peer))")
        return nil
    }
}

/// Blocks (through `wait`) until the job is final or `timeout` has passed, and returns it.
func waitUntilFinal(_ service: some UWSJobService, job: URL, timeout: Duration = .seconds(60)) async throws -> UWSJob {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    var current = try await service.job(job)
    while !current.phase.isFinal, clock.now < deadline {
        current = try await service.wait(job: job, timeout: min(deadline - clock.now, .seconds(20)), knownPhase: current.phase)
    }
    return current
}

/// Starts a Python stand-in server: `script` prints its port on its first line and exits when its standard input
/// closes (so it ends with the test process). Returns the process and its base URL.
func startPythonStandIn(_ script: String, name: String, arguments: [String] = []) throws -> (process: Process, base: URL) {
    let dir = FileManager.default.temporaryDirectory.appending(path: "skyport-\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let file = dir.appending(path: "\(name).py")
    try Data(script.utf8).write(to: file)
    let process = Process()
    process.executableURL = URL(filePath: "/usr/bin/env")
    process.arguments = ["python3", file.path] + arguments
    let output = Pipe(), input = Pipe()
    process.standardOutput = output
    process.standardInput = input
    process.standardError = FileHandle.nullDevice
    try process.run()
    var line = Data()
    while !line.contains(UInt8(ascii: "\n")) {
        let chunk = output.fileHandleForReading.availableData
        if chunk.isEmpty { throw RemoteError(.connect, url: file, message: "\(name) did not start") }
        line += chunk
    }
    let port = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard let base = URL(string: "http://127.0.0.1:\(port)") else { throw RemoteError(.connect, url: file, message: "bad port \(port)") }
    return (process, base)
}

import AsyncHTTPClient
import Foundation
import SkyportCore
import SkyportRemotes
import SkyportTestSupport

/// Runs `body` with a `RemoteHTTP` over a fresh `HTTPClient` configured as the composition root does, then shuts it down.
func withRemoteHTTP<T: Sendable>(
    auth: RemoteAuth? = nil, timeout: Duration = .seconds(30), maxBodyBytes: Int = 8 << 20,
    retry: RetryPolicy = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(20), maxDelay: .milliseconds(100)),
    clock: any Clock<Duration> = ContinuousClock(), _ body: (RemoteHTTP) async throws -> T
) async throws -> T {
    try await HTTPClient.withHTTPClient(configuration: RemoteHTTP.clientConfiguration) { client in
        try await body(RemoteHTTP(client: client, auth: auth, timeout: timeout, maxBodyBytes: maxBodyBytes, retry: retry, clock: clock))
    }
}

/// The real peers started by `scripts/peers.sh` (the test command starts them and exports their URLs). A test that
/// needs one is enabled with `TestPeers.run(Peers.dachs != nil)` and fails through `requireDaCHS()` when it is
/// missing, unless `SKYPORT_TEST_ALLOW_MISSING_PEERS` is set (then it is skipped).
enum Peers {
    static let dachs: URL? = TestPeers.dachs
    static let djangoUWS: URL? = TestPeers.djangoUWS
    static var djangoAuth: RemoteAuth {
        let env = ProcessInfo.processInfo.environment
        return .basic(username: env["SKYPORT_TEST_DJANGO_UWS_USER"] ?? "uws", password: env["SKYPORT_TEST_DJANGO_UWS_PASSWORD"] ?? "uws-pass")
    }

    static func requireDaCHS() throws -> URL { try TestPeers.requireDaCHS() }
    static func requireDjangoUWS() throws -> URL { try TestPeers.requireDjangoUWS() }
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


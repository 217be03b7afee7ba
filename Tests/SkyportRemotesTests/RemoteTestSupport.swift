import AsyncHTTPClient
import Foundation
import SkyportCore
import SkyportRemotes
import SkyportTestSupport

/// Runs `body` with an egress gate that lets loopback through (the stub servers and peers of the tests listen there)
/// unless told otherwise, then shuts it down.
func withEgress<T: Sendable>(
    _ policy: EgressPolicy = .loopback, resolver: any HostResolver = TestResolver(),
    audit: @escaping @Sendable (EgressRefusal, EgressPurpose) -> Void = { _, _ in }, _ body: (Egress) async throws -> T
) async throws -> T {
    let egress = Egress(policy: policy, resolver: resolver, audit: audit)
    do {
        let value = try await body(egress)
        await egress.shutdown()
        return value
    } catch {
        await egress.shutdown()
        throw error
    }
}

/// Runs `body` with a `RemoteHTTP` through an egress gate configured as the composition root does (loopback
/// allowed), then shuts it down. The default timeout is long: these tests are about what a peer answers, not how fast,
/// and while the suites start hundreds of tests on 2 cores these clients waited past 30 s for DaCHS (which answered
/// another process within 0.3 s all the while).
func withRemoteHTTP<T: Sendable>(
    auth: RemoteAuth? = nil, timeout: Duration = .seconds(120), maxBodyBytes: Int = 8 << 20,
    retry: RetryPolicy = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(20), maxDelay: .milliseconds(100)),
    clock: any Clock<Duration> = ContinuousClock(), _ body: (RemoteHTTP) async throws -> T
) async throws -> T {
    try await withEgress { egress in
        try await body(RemoteHTTP(egress: egress, purpose: .uws, auth: auth, timeout: timeout, maxBodyBytes: maxBodyBytes, retry: retry, clock: clock))
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


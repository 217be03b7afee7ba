import AsyncHTTPClient
import Foundation
import SkyportCore
@testable import SkyportRemotes
import SkyportTestSupport
import Testing

/// Facilities in every state of health, served by an in-process stub server.
enum HealthStandIn {
    static func avail(_ up: Bool, _ note: String) -> StubResponse {
        .xml(#"<?xml version="1.0"?><avail:availability xmlns:avail="http://www.ivoa.net/xml/VOSIAvailability/v1.0">"#
             + "<avail:available>\(up)</avail:available><avail:note>\(note)</avail:note></avail:availability>")
    }
    static let checksBad = #"{"ok": false, "checks": [{"service": "Docker registry", "ok": true}, {"service": "JupyterHub API", "ok": false}, {"service": "Pod quota", "total_pods": 3, "build_pods": 1, "user_pods": 2, "quota": null, "ok": false, "_ignore_failure": true}]}"#
    static let checksOK = #"{"ok": true, "checks": [{"service": "Docker registry", "ok": true}, {"service": "JupyterHub API", "ok": true}, {"service": "Pod quota", "total_pods": 3, "build_pods": 1, "user_pods": 2, "quota": 10, "ok": true}]}"#
    /// A UWS 1.1 job list that ignores the PHASE filter: two of its three jobs are queued.
    static let jobList = """
        <uws:jobs xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1">
        <uws:jobref id="a" xlink:href="a"><uws:phase>QUEUED</uws:phase></uws:jobref>
        <uws:jobref id="b" xlink:href="b"><uws:phase>EXECUTING</uws:phase></uws:jobref>
        <uws:jobref id="c" xlink:href="c"><uws:phase> QUEUED </uws:phase></uws:jobref></uws:jobs>
        """
    static let versions = #"{"binderhub": "1.0.0", "builder_info": {"build_image": "quay.io/jupyterhub/repo2docker:2024.07.0"}}"#

    /// Runs `body` with a stub serving every case.
    static func with<T>(_ body: (StubHTTPServer) async throws -> T) async throws -> T {
        try await withStubHTTPServer { server in
            server.route("/up/tap/availability", avail(true, "all services are up"))
            server.route("/up/tap/async", .xml(jobList))
            server.route("/down/tap/availability", avail(false, "maintenance until 18:00 UTC"))
            server.route("/novosi/tap/async", .xml("<uws:jobs xmlns:uws='http://www.ivoa.net/xml/UWS/v1.0'/>"))
            server.route("/locked/tap/async", .text("login first", status: 401))
            server.route("/broken/tap/async", .text("boom", status: 500))
            server.route("/garbled/tap/availability", .text("<html><body>hello</body></html>", contentType: "text/html"))
            server.route("/bh-ok/health", .json(checksOK))
            server.route("/bh-ok/versions", .json(versions))
            server.route("/bh-bad/health", .json(checksBad, status: 503))
            server.route("/bh-bad/versions", .json(versions))
            server.route("/hang/broker/availability", .hang)
            return try await body(server)
        }
    }
}

extension StubHTTPServer {
    func address(_ path: String) -> String { base.absoluteString + path }
}

/// Runs `body` with a `HealthProbe` over a fresh `HTTPClient`, then shuts the client down.
private func withProbe<T: Sendable>(
    // Long, as `withRemoteHTTP`'s: a probe of the real DaCHS must not fail because the suites are starting.
    timeout: Duration = .seconds(120), retryDelay: Duration = .milliseconds(50), clock: any Clock<Duration> = ContinuousClock(),
    _ body: (HealthProbe) async throws -> T
) async throws -> T {
    try await withEgress { egress in
        try await body(HealthProbe(egress: egress, timeout: timeout, retryDelay: retryDelay, clock: clock))
    }
}

@Suite
struct HealthProbeTests {
    @Test func vosiAvailableTrueIsHealthy() async throws {
        try await HealthStandIn.with { server in
            let result = try await withProbe { await $0.probe(Endpoint(kind: .uws, url: server.address("/up/tap/async"))) }
            #expect(result.healthy)
            #expect(result.reason == "all services are up")
            // Its job list's queued jobs are its load (a ranking input).
            #expect(result.load == FacilityLoad(queued: 2))
        }
    }

    @Test func vosiAvailableFalseIsUnavailableWithTheNote() async throws {
        try await HealthStandIn.with { server in
            let result = try await withProbe { await $0.probe(Endpoint(kind: .djangoUWS, url: server.address("/down/tap/async"))) }
            #expect(!result.healthy)
            #expect(result.reason == "VOSI availability says not available: maintenance until 18:00 UTC")
        }
    }

    @Test func noVOSIFallsBackToTheJobList() async throws {
        try await HealthStandIn.with { server in
            try await withProbe { probe in
                let plain = await probe.probe(Endpoint(kind: .uws, url: server.address("/novosi/tap/async")))
                #expect(plain.healthy && plain.reason == nil)
                let locked = await probe.probe(Endpoint(kind: .uws, url: server.address("/locked/tap/async")))
                #expect(locked.healthy, "a 401 from the job list still says the service is up")
                let broken = await probe.probe(Endpoint(kind: .uws, url: server.address("/broken/tap/async")))
                #expect(!broken.healthy && broken.reason == "job list answered HTTP 500")
            }
        }
    }

    @Test func aGarbledAvailabilityDocumentIsAFailure() async throws {
        try await HealthStandIn.with { server in
            let result = try await withProbe { await $0.probe(Endpoint(kind: .uws, url: server.address("/garbled/tap/async"))) }
            #expect(!result.healthy)
            #expect(result.reason?.contains("no avail:available") == true)
        }
    }

    @Test func binderHubHealthOkIsHealthyAndKeepsTheVersionsFingerprint() async throws {
        try await HealthStandIn.with { server in
            let result = try await withProbe { await $0.probe(Endpoint(kind: .binderhub, url: server.address("/bh-ok"))) }
            #expect(result.healthy)
            #expect(result.fingerprint == #"{"binderhub":"1.0.0","builder_info":{"build_image":"quay.io/jupyterhub/repo2docker:2024.07.0"}}"#)
            // The pod quota less the pods: the launches it can take now.
            #expect(result.load == FacilityLoad(freeSlots: 7))
        }
    }

    @Test func binderHub503NamesTheFailingChecks() async throws {
        try await HealthStandIn.with { server in
            let result = try await withProbe { await $0.probe(Endpoint(kind: .binderhub, url: server.address("/bh-bad"))) }
            #expect(!result.healthy)
            // "Pod quota" is informational (`_ignore_failure`), so only the hub is named.
            #expect(result.reason == "BinderHub /health answered HTTP 503; failing: JupyterHub API")
            #expect(result.fingerprint != nil)
        }
    }

    @Test func aRefusedPortIsNotReachable() async throws {
        let clock = TestClock()
        // Bound and not listening for the whole test: a port let go could be taken by another test's server meanwhile.
        let refusing = try RefusingPort()
        let result = try await withProbe(retryDelay: .milliseconds(200), clock: clock) {
            await $0.probe(Endpoint(kind: .binderhub, url: "http://127.0.0.1:\(refusing.port)"))
        }
        withExtendedLifetime(refusing) {}
        #expect(!result.healthy)
        #expect(result.reason?.hasPrefix("not reachable: ") == true)
        // /versions, then /health: each is tried three times, 200 ms apart, before giving up.
        #expect(clock.sleeps == Array(repeating: .milliseconds(200), count: 4))
    }

    @Test func aSilentFacilityTimesOut() async throws {
        try await HealthStandIn.with { server in
            // The production default: long enough for a loaded machine to connect, then the silence is the timeout.
            let result = try await withProbe(timeout: .seconds(5)) {
                await $0.probe(Endpoint(kind: .executionbroker, url: server.address("/hang/broker")))
            }
            #expect(!result.healthy)
            #expect(result.reason?.hasPrefix("not reachable: no answer within") == true)
        }
    }

    @Test func theServiceRootIsBesideTheJobList() {
        #expect(HealthProbe.serviceRoot(of: URL(string: "http://localhost:8080/tap/async")!).absoluteString == "http://localhost:8080/tap/")
        #expect(HealthProbe.serviceRoot(of: URL(string: "http://localhost:8080/tap/async/")!).absoluteString == "http://localhost:8080/tap/")
    }

    @Test(.enabled(if: TestPeers.run(Peers.dachs != nil), "DaCHS not started")) func theRealDaCHSIsHealthy() async throws {
        let jobList = try Peers.requireDaCHS()
        let result = try await withProbe { await $0.probe(Endpoint(kind: .uws, url: jobList.absoluteString)) }
        #expect(result.healthy, "\(result.reason ?? "")")
        // DaCHS answers ?PHASE=QUEUED with a UWS job list: its queued count is known.
        #expect(result.load?.queued != nil)
    }
}

import AsyncHTTPClient
import Foundation
import SkyportCore
@testable import SkyportRemotes
import Testing

/// Facilities in every state of health on 127.0.0.1: a small Python HTTP server written to a temp dir, started
/// once per test process (off the concurrency pool), exiting when our end of its stdin closes.
final class HealthStandIn: Sendable {
    let base: URL
    private let process: Process

    private static let script = #"""
    import http.server, json, os, sys, threading, time
    def avail(up, note):
        return ('<?xml version="1.0"?><avail:availability xmlns:avail="http://www.ivoa.net/xml/VOSIAvailability/v1.0">'
                '<avail:available>%s</avail:available><avail:note>%s</avail:note></avail:availability>' % (up, note)).encode()
    CHECKS_BAD = {"ok": False, "checks": [
        {"service": "Docker registry", "ok": True},
        {"service": "JupyterHub API", "ok": False},
        {"service": "Pod quota", "total_pods": 3, "build_pods": 1, "user_pods": 2, "quota": None, "ok": False, "_ignore_failure": True}]}
    CHECKS_OK = {"ok": True, "checks": [{"service": "Docker registry", "ok": True}, {"service": "JupyterHub API", "ok": True}]}
    VERSIONS = {"binderhub": "1.0.0", "builder_info": {"build_image": "quay.io/jupyterhub/repo2docker:2024.07.0"}}
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *a): pass
        def reply(self, status, body=b"", ctype="text/plain"):
            self.send_response(status)
            self.send_header("Content-Type", ctype); self.send_header("Content-Length", str(len(body)))
            self.end_headers(); self.wfile.write(body)
        def do_GET(self):
            p = self.path.split("?")[0]
            if p == "/up/tap/availability": return self.reply(200, avail("true", "all services are up"), "text/xml")
            if p == "/down/tap/availability": return self.reply(200, avail("false", "maintenance until 18:00 UTC"), "text/xml")
            if p == "/novosi/tap/async": return self.reply(200, b"<uws:jobs xmlns:uws='http://www.ivoa.net/xml/UWS/v1.0'/>", "text/xml")
            if p == "/locked/tap/async": return self.reply(401, b"login first")
            if p == "/broken/tap/async": return self.reply(500, b"boom")
            if p == "/garbled/tap/availability": return self.reply(200, b"<html><body>hello</body></html>", "text/html")
            if p == "/bh-ok/health": return self.reply(200, json.dumps(CHECKS_OK).encode(), "application/json")
            if p == "/bh-ok/versions": return self.reply(200, json.dumps(VERSIONS).encode(), "application/json")
            if p == "/bh-bad/health": return self.reply(503, json.dumps(CHECKS_BAD).encode(), "application/json")
            if p == "/bh-bad/versions": return self.reply(200, json.dumps(VERSIONS).encode(), "application/json")
            if p.startswith("/hang/"): time.sleep(5); return self.reply(200, b"late")
            self.reply(404, b"not here")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    srv.serve_forever()
    """#

    static let available = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")
    private static let starting = Task { try await HealthStandIn.start() }

    /// The one server of this test process.
    static func shared() async throws -> HealthStandIn { try await starting.value }

    /// Starts the server on a thread of its own: reading its port blocks, and the concurrency pool is small.
    private static func start() async throws -> HealthStandIn {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do { continuation.resume(returning: try HealthStandIn()) } catch { continuation.resume(throwing: error) }
            }
        }
    }

    private init() throws {
        let (process, base) = try startPythonStandIn(Self.script, name: "health_standin")
        self.base = base
        self.process = process
    }

    func url(_ path: String) -> String { base.absoluteString + path }
}

/// Runs `body` with a `HealthProbe` over a fresh `HTTPClient`, then shuts the client down.
private func withProbe<T: Sendable>(
    timeout: Duration = .seconds(5), retryDelay: Duration = .milliseconds(50), _ body: (HealthProbe) async throws -> T
) async throws -> T {
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: RemoteHTTP.clientConfiguration)
    let probe = HealthProbe(client: client, timeout: timeout, retryDelay: retryDelay)
    do {
        let result = try await body(probe)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

@Suite(.enabled(if: HealthStandIn.available, "python3 is needed for the health stand-in"))
struct HealthProbeTests {
    @Test func vosiAvailableTrueIsHealthy() async throws {
        let server = try await HealthStandIn.shared()
        let result = try await withProbe { await $0.probe(Endpoint(kind: .uws, url: server.url("/up/tap/async"))) }
        #expect(result.healthy)
        #expect(result.reason == "all services are up")
    }

    @Test func vosiAvailableFalseIsUnavailableWithTheNote() async throws {
        let server = try await HealthStandIn.shared()
        let result = try await withProbe { await $0.probe(Endpoint(kind: .djangoUWS, url: server.url("/down/tap/async"))) }
        #expect(!result.healthy)
        #expect(result.reason == "VOSI availability says not available: maintenance until 18:00 UTC")
    }

    @Test func noVOSIFallsBackToTheJobList() async throws {
        let server = try await HealthStandIn.shared()
        try await withProbe { probe in
            let plain = await probe.probe(Endpoint(kind: .uws, url: server.url("/novosi/tap/async")))
            #expect(plain.healthy && plain.reason == nil)
            let locked = await probe.probe(Endpoint(kind: .uws, url: server.url("/locked/tap/async")))
            #expect(locked.healthy, "a 401 from the job list still says the service is up")
            let broken = await probe.probe(Endpoint(kind: .uws, url: server.url("/broken/tap/async")))
            #expect(!broken.healthy && broken.reason == "job list answered HTTP 500")
        }
    }

    @Test func aGarbledAvailabilityDocumentIsAFailure() async throws {
        let server = try await HealthStandIn.shared()
        let result = try await withProbe { await $0.probe(Endpoint(kind: .uws, url: server.url("/garbled/tap/async"))) }
        #expect(!result.healthy)
        #expect(result.reason?.contains("no avail:available") == true)
    }

    @Test func binderHubHealthOkIsHealthyAndKeepsTheVersionsFingerprint() async throws {
        let server = try await HealthStandIn.shared()
        let result = try await withProbe { await $0.probe(Endpoint(kind: .binderhub, url: server.url("/bh-ok"))) }
        #expect(result.healthy)
        #expect(result.fingerprint == #"{"binderhub":"1.0.0","builder_info":{"build_image":"quay.io/jupyterhub/repo2docker:2024.07.0"}}"#)
    }

    @Test func binderHub503NamesTheFailingChecks() async throws {
        let server = try await HealthStandIn.shared()
        let result = try await withProbe { await $0.probe(Endpoint(kind: .binderhub, url: server.url("/bh-bad"))) }
        #expect(!result.healthy)
        // "Pod quota" is informational (`_ignore_failure`), so only the hub is named.
        #expect(result.reason == "BinderHub /health answered HTTP 503; failing: JupyterHub API")
        #expect(result.fingerprint != nil)
    }

    @Test func aRefusedPortIsNotReachable() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await withProbe(retryDelay: .milliseconds(200)) {
            await $0.probe(Endpoint(kind: .binderhub, url: "http://127.0.0.1:1"))
        }
        #expect(!result.healthy)
        #expect(result.reason?.hasPrefix("not reachable: ") == true)
        #expect(clock.now - start >= .milliseconds(400), "two retries, 200 ms apart, before giving up")
    }

    @Test func aSilentFacilityTimesOut() async throws {
        let server = try await HealthStandIn.shared()
        let result = try await withProbe(timeout: .milliseconds(300)) {
            await $0.probe(Endpoint(kind: .executionbroker, url: server.url("/hang/broker")))
        }
        #expect(!result.healthy)
        #expect(result.reason?.hasPrefix("not reachable: no answer within") == true)
    }

    @Test func theServiceRootIsBesideTheJobList() {
        #expect(HealthProbe.serviceRoot(of: URL(string: "http://localhost:8080/tap/async")!).absoluteString == "http://localhost:8080/tap/")
        #expect(HealthProbe.serviceRoot(of: URL(string: "http://localhost:8080/tap/async/")!).absoluteString == "http://localhost:8080/tap/")
    }

    @Test(.enabled(if: Peers.dachs != nil, "DaCHS not started")) func theRealDaCHSIsHealthy() async throws {
        let jobList = try #require(Peers.dachs)
        let result = try await withProbe { await $0.probe(Endpoint(kind: .uws, url: jobList.absoluteString)) }
        #expect(result.healthy, "\(result.reason ?? "")")
    }
}

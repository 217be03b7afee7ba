import Foundation
import SkyportCore
import SkyportRemotes
import Testing

/// A misbehaving facility on 127.0.0.1: a small Python HTTP server written to a temp dir, one per test process.
/// It exits when our end of its stdin closes, i.e. when the test process ends.
final class StandInServer: Sendable {
    static let shared: StandInServer? = try? StandInServer()

    let base: URL
    private let process: Process

    private static let script = #"""
    import http.server, json, os, sys, threading, time
    hits, lock = {}, threading.Lock()
    JOB = ('<uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" version="1.1"><uws:jobId>j1</uws:jobId>'
           '<uws:ownerId/><uws:phase>EXECUTING</uws:phase><uws:startTime/><uws:endTime/>'
           '<uws:executionDuration>0</uws:executionDuration><uws:destruction/><uws:results/></uws:job>').encode()
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *a): pass
        def reply(self, status, body=b"", ctype="text/plain", headers=()):
            self.send_response(status)
            self.send_header("Content-Type", ctype); self.send_header("Content-Length", str(len(body)))
            for k, v in headers: self.send_header(k, v)
            self.end_headers(); self.wfile.write(body)
        def serve(self):
            path = self.path.split("?")[0]
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            with lock:
                hits[path] = hits.get(path, 0) + 1; count = hits[path]
            if path.startswith("/hits/"): return self.reply(200, str(hits.get(path[5:], 0)).encode())
            if path.startswith("/flaky/"): return self.reply(503, b"busy") if count == 1 else self.reply(200, b"ok")
            if path.startswith("/always503/"): return self.reply(503, b"busy", headers=[("Retry-After", "0")])
            if path.startswith("/missing/"): return self.reply(404, b"<html><body>no such job</body></html>", "text/html")
            if path == "/html": return self.reply(200, b"<!DOCTYPE html><html><body><form>Login</form></body></html>", "text/html; charset=utf-8")
            if path == "/badxml": return self.reply(200, b"<uws:job xmlns:uws='http://www.ivoa.net/xml/UWS/v1.0'><uws:jobId>", "text/xml")
            if path.startswith("/job/"): return self.reply(200, JOB, "text/xml")
            if path.startswith("/hang/"): time.sleep(30); return
            if path == "/big": return self.reply(200, b"x" * 100000)
            if path == "/bigchunked":
                self.send_response(200); self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
                for _ in range(100): self.wfile.write(b"3e8\r\n" + b"y" * 1000 + b"\r\n")
                self.wfile.write(b"0\r\n\r\n"); return
            if path == "/secret":
                return self.reply(500, json.dumps({"detail": "boom", "jobToken": {"key": "s3cr3tkey"}, "password": "hunter2"}).encode(), "application/json")
            if path == "/jobs": return self.reply(303, b"<html>see other</html>", "text/html", [("Location", "jobs/j42")])
            if path == "/jobs-nolocation": return self.reply(200, b"created")
            if path == "/echo":
                info = {"method": self.command, "body": body.decode(), "auth": self.headers.get("Authorization", "")}
                return self.reply(200, json.dumps(info).encode(), "application/json")
            self.reply(404, b"unknown stand-in path")
        do_GET = do_POST = do_DELETE = do_PUT = serve
    http.server.ThreadingHTTPServer.request_queue_size = 128
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    srv.serve_forever()
    """#

    init() throws {
        let (process, base) = try startPythonStandIn(Self.script, name: "standin")
        self.base = base
        self.process = process
    }

    func url(_ path: String) -> URL { base.appending(path: path) }

    /// How many requests `path` has received.
    func hits(_ path: String, _ http: RemoteHTTP) async throws -> Int {
        Int(String(decoding: try await http.get(url("hits" + path)).body, as: UTF8.self)) ?? -1
    }
}

private func unique() -> String { UUID().uuidString }

@Suite(.enabled(if: StandInServer.shared != nil, "python3 is needed for the stand-in server"))
struct RemoteHTTPTests {
    let server = StandInServer.shared!

    @Test func a503IsRetriedAndThenSucceeds() async throws {
        try await withRemoteHTTP { http in
            let path = "/flaky/\(unique())"
            let response = try await http.get(server.url(path))
            #expect(response.status == 200 && String(decoding: response.body, as: UTF8.self) == "ok")
            let pathHits = try await server.hits(path, http)
            #expect(pathHits == 2)
        }
    }

    @Test func a503IsRetriedOnlyUpToTheLimitAndIsTransient() async throws {
        try await withRemoteHTTP { http in
            let path = "/always503/\(unique())"
            let error = await #expect(throws: RemoteError.self) { try await http.get(server.url(path)) }
            #expect(error?.status == 503 && error?.isTransient == true && error?.kind == .status)
            let pathHits = try await server.hits(path, http)
            #expect(pathHits == 3)
        }
    }

    @Test func a404IsNotRetried() async throws {
        try await withRemoteHTTP { http in
            let path = "/missing/\(unique())"
            let error = await #expect(throws: RemoteError.self) { try await http.get(server.url(path)) }
            #expect(error?.status == 404 && error?.isTransient == false)
            #expect(error?.snippet?.contains("no such job") == true)
            let pathHits = try await server.hits(path, http)
            #expect(pathHits == 1)
        }
    }

    @Test func anHTMLPageInsteadOfAUWSJobIsAClearError() async throws {
        try await withRemoteHTTP { http in
            let client = UWSClient(http: http)
            let error = await #expect(throws: RemoteError.self) { try await client.job(server.url("/html")) }
            #expect(error?.kind == .invalidResponse && error?.message.contains("text/html") == true)
            #expect(error?.snippet?.contains("Login") == true)
            let malformed = await #expect(throws: RemoteError.self) { try await client.job(server.url("/badxml")) }
            #expect(malformed?.kind == .invalidResponse && malformed?.isTransient == false)
        }
    }

    @Test func aHangingServerHitsTheTimeoutAndIdempotentCallsAreRetried() async throws {
        try await withRemoteHTTP(timeout: .milliseconds(500)) { http in
            let path = "/hang/\(unique())"
            let started = ContinuousClock.now
            let error = await #expect(throws: RemoteError.self) { try await http.get(server.url(path)) }
            #expect(error?.kind == .timeout && error?.isTransient == true)
            #expect(ContinuousClock.now - started < .seconds(5))
            let pathHits = try await server.hits(path, http)
            #expect(pathHits == 3)
            let post = "/hang/\(unique())"
            let postError = await #expect(throws: RemoteError.self) { try await http.postForm(server.url(post), [("a", "b")]) }
            #expect(postError?.kind == .timeout && postError?.isTransient == false)
            let postHits = try await server.hits(post, http)
            #expect(postHits == 1)
        }
    }

    @Test func anOversizedBodyIsRefused() async throws {
        try await withRemoteHTTP(maxBodyBytes: 10_000) { http in
            for path in ["/big", "/bigchunked"] {
                let error = await #expect(throws: RemoteError.self) { try await http.get(server.url(path)) }
                #expect(error?.kind == .tooLarge, "\(path)")
            }
        }
    }

    @Test func anUnreachablePortIsATransientConnectError() async throws {
        try await withRemoteHTTP(timeout: .seconds(3)) { http in
            let url = try #require(URL(string: "http://127.0.0.1:\(try freePort())/tap/async"))
            let started = ContinuousClock.now
            let error = await #expect(throws: RemoteError.self) { try await http.get(url) }
            #expect(error?.kind == .connect && error?.isTransient == true)
            #expect(ContinuousClock.now - started < .seconds(2))
        }
    }

    @Test func secretsAreMaskedInErrors() async throws {
        try await withRemoteHTTP(auth: .basic(username: "u", password: "p")) { http in
            let error = await #expect(throws: RemoteError.self) { try await http.get(server.url("/secret")) }
            let text = error.map { "\($0)" } ?? ""
            #expect(text.contains("HTTP 500") && text.contains("boom"))
            #expect(!text.contains("s3cr3tkey") && !text.contains("hunter2"))
        }
    }

    @Test func authAndFormEncodingAreSent() async throws {
        try await withRemoteHTTP(auth: .token("abc", scheme: "Token")) { http in
            let response = try await http.postForm(server.url("/echo"), [("QUERY", "SELECT a+b FROM t WHERE x='é'"), ("LANG", "ADQL")])
            let echo = try JSONDecoder().decode([String: String].self, from: response.body)
            #expect(echo["auth"] == "Token abc" && echo["method"] == "POST")
            #expect(echo["body"] == "QUERY=SELECT+a%2Bb+FROM+t+WHERE+x%3D%27%C3%A9%27&LANG=ADQL")
        }
    }

    @Test func creationFollowsNoRedirectAndResolvesARelativeLocation() async throws {
        try await withRemoteHTTP { http in
            let client = UWSClient(http: http)
            let job = try await client.create(jobList: server.url("/jobs"), parameters: [("LANG", "ADQL")])
            #expect(job.absoluteString == server.url("/jobs/j42").absoluteString)
            let error = await #expect(throws: RemoteError.self) { try await client.create(jobList: server.url("/jobs-nolocation"), parameters: []) }
            #expect(error?.kind == .invalidResponse)
        }
    }

    @Test func waitPollsWithBackoffWhenTheServerIgnoresWAIT() async throws {
        try await withRemoteHTTP { http in
            let client = UWSClient(http: http)
            let path = "/job/\(unique())"
            let started = ContinuousClock.now
            let job = try await client.wait(job: server.url(path), timeout: .seconds(3), knownPhase: .executing)
            let elapsed = ContinuousClock.now - started
            #expect(job.phase == .executing && job.jobId == "j1")
            #expect(elapsed >= .seconds(2.5) && elapsed < .seconds(6))
            let hits = try await server.hits(path, http)
            #expect(hits >= 3 && hits <= 10, "polled \(hits) times in 3 s")
        }
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
func freePort() throws -> Int {
    let process = Process()
    process.executableURL = URL(filePath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    process.waitUntilExit()
    return Int(String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 9
}

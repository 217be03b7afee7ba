import Foundation
import SkyportCore
import SkyportRemotes
import SkyportTestSupport
import Testing

/// A misbehaving facility: an in-process stub server per test, each route one kind of misbehaviour. Retry pauses
/// and wait loops run on a virtual clock, so the tests assert on what was asked and sent, never on elapsed time.
@Suite struct RemoteHTTPTests {
    static let job = """
        <uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" version="1.1"><uws:jobId>j1</uws:jobId>\
        <uws:ownerId/><uws:phase>EXECUTING</uws:phase><uws:startTime/><uws:endTime/>\
        <uws:executionDuration>0</uws:executionDuration><uws:destruction/><uws:results/></uws:job>
        """

    @Test func a503IsRetriedAndThenSucceeds() async throws {
        try await withStubHTTPServer { server in
            server.route("/flaky", inTurn: [.text("busy", status: 503), .text("ok")])
            try await withRemoteHTTP { http in
                let response = try await http.get(server.url("/flaky"))
                #expect(response.status == 200 && String(decoding: response.body, as: UTF8.self) == "ok")
                #expect(server.hits("/flaky") == 2)
            }
        }
    }

    @Test func a503IsRetriedOnlyUpToTheLimitAndIsTransient() async throws {
        try await withStubHTTPServer { server in
            server.route("/always503", .text("busy", status: 503, headers: [("Retry-After", "0")]))
            try await withRemoteHTTP { http in
                let error = await #expect(throws: RemoteError.self) { try await http.get(server.url("/always503")) }
                #expect(error?.status == 503 && error?.isTransient == true && error?.kind == .status)
                #expect(server.hits("/always503") == 3)
            }
        }
    }

    @Test func a404IsNotRetried() async throws {
        try await withStubHTTPServer { server in
            server.route("/missing", .text("<html><body>no such job</body></html>", status: 404, contentType: "text/html"))
            try await withRemoteHTTP { http in
                let error = await #expect(throws: RemoteError.self) { try await http.get(server.url("/missing")) }
                #expect(error?.status == 404 && error?.isTransient == false)
                #expect(error?.snippet?.contains("no such job") == true)
                #expect(server.hits("/missing") == 1)
            }
        }
    }

    @Test func anHTMLPageInsteadOfAUWSJobIsAClearError() async throws {
        try await withStubHTTPServer { server in
            server.route("/html", .text("<!DOCTYPE html><html><body><form>Login</form></body></html>", contentType: "text/html; charset=utf-8"))
            server.route("/badxml", .xml("<uws:job xmlns:uws='http://www.ivoa.net/xml/UWS/v1.0'><uws:jobId>"))
            try await withRemoteHTTP { http in
                let client = UWSClient(http: http)
                let error = await #expect(throws: RemoteError.self) { try await client.job(server.url("/html")) }
                #expect(error?.kind == .invalidResponse && error?.message.contains("text/html") == true)
                #expect(error?.snippet?.contains("Login") == true)
                let malformed = await #expect(throws: RemoteError.self) { try await client.job(server.url("/badxml")) }
                #expect(malformed?.kind == .invalidResponse && malformed?.isTransient == false)
            }
        }
    }

    @Test func aHangingServerHitsTheTimeoutAndIdempotentCallsAreRetried() async throws {
        try await withStubHTTPServer { server in
            server.route("/hang", .hang)
            server.route("/hang-post", .hang)
            let clock = TestClock()
            // Two seconds per attempt: ample for a loaded machine to connect and send, so each attempt reaches the stub.
            try await withRemoteHTTP(timeout: .seconds(2), clock: clock) { http in
                let error = await #expect(throws: RemoteError.self) { try await http.get(server.url("/hang")) }
                #expect(error?.kind == .timeout && error?.isTransient == true)
                #expect(clock.sleeps.count == 2, "three attempts, two pauses")
                #expect(await eventually { server.hits("/hang") == 3 }, "\(server.hits("/hang")) GETs arrived")
                let postError = await #expect(throws: RemoteError.self) { try await http.postForm(server.url("/hang-post"), [("a", "b")]) }
                #expect(postError?.kind == .timeout && postError?.isTransient == false)
                #expect(clock.sleeps.count == 2, "a POST is not retried")
                #expect(await eventually { server.hits("/hang-post") == 1 })
                #expect(server.hits("/hang-post") == 1)
            }
        }
    }

    @Test func anOversizedBodyIsRefused() async throws {
        try await withStubHTTPServer { server in
            server.route("/big", StubResponse(body: Data(repeating: UInt8(ascii: "x"), count: 100_000)))
            server.route("/bigchunked", StubResponse(body: Data(repeating: UInt8(ascii: "y"), count: 100_000), chunkSize: 1_000))
            try await withRemoteHTTP(maxBodyBytes: 10_000) { http in
                for path in ["/big", "/bigchunked"] {
                    let error = await #expect(throws: RemoteError.self) { try await http.get(server.url(path)) }
                    #expect(error?.kind == .tooLarge, "\(path)")
                }
            }
        }
    }

    /// A refused connection fails each attempt at once (the pool does not retry it until the deadline, which would
    /// end in a timeout instead): three connect errors, two pauses between them.
    @Test func anUnreachablePortIsATransientConnectError() async throws {
        let url = try #require(URL(string: "http://127.0.0.1:\(try await StubHTTPServer.unusedPort())/tap/async"))
        let clock = TestClock()
        try await withRemoteHTTP(timeout: .seconds(30), clock: clock) { http in
            let error = await #expect(throws: RemoteError.self) { try await http.get(url) }
            #expect(error?.kind == .connect && error?.isTransient == true)
            #expect(clock.sleeps.count == 2)
        }
    }

    /// What is shown of a remote error is its status and a short reason; the start of the body (secrets masked)
    /// is for the logs only.
    @Test func secretsAreMaskedInErrorsAndBodiesAreNotShown() async throws {
        try await withStubHTTPServer { server in
            server.route("/secret", .json(#"{"detail": "boom", "jobToken": {"key": "s3cr3tkey"}, "password": "hunter2"}"#, status: 500))
            try await withRemoteHTTP(auth: .basic(username: "u", password: "p")) { http in
                let error = await #expect(throws: RemoteError.self) { try await http.get(server.url("/secret")) }
                let shown = error.map { "\($0)" } ?? ""
                #expect(shown.contains("HTTP 500") && !shown.contains("boom"), "\(shown)")
                let logged = error?.detail ?? ""
                #expect(logged.contains("HTTP 500") && logged.contains("boom"))
                #expect(!logged.contains("s3cr3tkey") && !logged.contains("hunter2"))
            }
        }
    }

    @Test func authAndFormEncodingAreSent() async throws {
        try await withStubHTTPServer { server in
            server.route("/echo", .text("ok"))
            try await withRemoteHTTP(auth: .token("abc", scheme: "Token")) { http in
                _ = try await http.postForm(
                    server.url("/echo"), [("QUERY", "SELECT a+b FROM t WHERE x='é'"), ("LANG", "ADQL"), ("a b&c=d~", "😀\n*-._/%")])
                let sent = try #require(server.requests("/echo").first)
                #expect(sent.header("Authorization") == "Token abc" && sent.method == "POST")
                #expect(sent.text == "QUERY=SELECT+a%2Bb+FROM+t+WHERE+x%3D%27%C3%A9%27&LANG=ADQL&a+b%26c%3Dd%7E=%F0%9F%98%80%0A*-._%2F%25")
            }
        }
    }

    @Test func creationFollowsNoRedirectAndResolvesARelativeLocation() async throws {
        try await withStubHTTPServer { server in
            server.route("/jobs", .text("<html>see other</html>", status: 303, contentType: "text/html", headers: [("Location", "jobs/j42")]))
            server.route("/jobs-nolocation", .text("created"))
            try await withRemoteHTTP { http in
                let client = UWSClient(http: http)
                let job = try await client.create(jobList: server.url("/jobs"), parameters: [("LANG", "ADQL")])
                #expect(job.absoluteString == server.url("/jobs/j42").absoluteString)
                #expect(server.hits("/jobs/j42") == 0, "the redirect is not followed")
                let error = await #expect(throws: RemoteError.self) { try await client.create(jobList: server.url("/jobs-nolocation"), parameters: []) }
                #expect(error?.kind == .invalidResponse)
            }
        }
    }

    /// The server answers every blocking read at once, unchanged: the client polls with growing pauses (0.25 s,
    /// 0.5 s, 1 s, then what is left of the 3 s), asking for a shorter WAIT each time, and a last plain read at the end.
    @Test func waitPollsWithBackoffWhenTheServerIgnoresWAIT() async throws {
        try await withStubHTTPServer { server in
            server.route("/job", .xml(Self.job))
            let clock = TestClock()
            try await withRemoteHTTP(clock: clock) { http in
                let job = try await UWSClient(http: http).wait(job: server.url("/job"), timeout: .seconds(3), knownPhase: .executing)
                #expect(job.phase == .executing && job.jobId == "j1")
                #expect(clock.sleeps == [.milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(1250)])
                let waits = server.requests("/job").map { request in
                    URLComponents(string: "?" + (request.query ?? ""))?.queryItems?.first { $0.name == "WAIT" }?.value
                }
                #expect(waits == ["3", "2", "2", "1", nil])
            }
        }
    }
}

import Foundation
import NIOCore
import NIOPosix
import SkyportBench
import SkyportTestSupport
import Testing

/// The open-loop generator of `skyport bench load`, against a stub server in the test process: counts and contents of
/// what it sent and recorded, never its timing.
@Suite struct OpenLoopDriverTests {
    private func run(_ server: StubHTTPServer, rate: Double, total: Int, connections: Int, timeout: TimeAmount, acceptEvery: Int)
        async throws -> OpenLoopDriver
    {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let driver = OpenLoopDriver(
            plan: .init(host: "127.0.0.1", port: server.url("/").port!, path: "/requests?x=1", method: .POST,
                        bodies: [ByteBuffer(string: #"{"n":1}"#), ByteBuffer(string: #"{"n":2}"#)], authorization: "Bearer t", rate: rate,
                        total: total, connections: connections, timeout: timeout, expected: [303], acceptEvery: acceptEvery),
            loop: group.next())
        try await driver.run()
        try await group.shutdownGracefully()
        return driver
    }

    /// Every scheduled request is sent once, with its body in turn and the token; every 10th answered 303 is followed
    /// by a read of its offer set and an accept of the set's first offer.
    @Test func everyRequestIsSentOnceAndEveryTenthFollowed() async throws {
        try await withStubHTTPServer { server in
            server.route("/requests", StubResponse(status: 303, headers: [("Location", server.url("/offersets/a").absoluteString)]))
            server.route("/offersets/a", .json(#"{"offers":[{"meta":{"url":"/sessions/s"}},{"meta":{"url":"/sessions/t"}}]}"#))
            server.route("/sessions/s", .json("{}"))
            let driver = try await run(server, rate: 400, total: 40, connections: 4, timeout: .seconds(30), acceptEvery: 10)

            #expect(driver.results.statuses == ["303": 40] && driver.results.failures == 0)
            #expect(driver.reads.statuses == ["200": 4] && driver.accepts.statuses == ["200": 4] && driver.withoutOffers == 0)
            let sent = server.requests("/requests")
            #expect(sent.count == 40)
            #expect(sent.allSatisfy { $0.method == "POST" && $0.query == "x=1" && $0.header("Authorization") == "Bearer t" })
            #expect(sent.filter { $0.text == #"{"n":1}"# }.count == 20 && sent.filter { $0.text == #"{"n":2}"# }.count == 20)
            #expect(server.requests("/offersets/a").map(\.method) == ["GET", "GET", "GET", "GET"])
            #expect(server.hits("/sessions/t") == 0)
            #expect(server.requests("/sessions/s").allSatisfy { $0.method == "POST" && $0.text.contains(#""value":"ACCEPTED""#) })
            #expect(server.hits("/sessions/s") == 4)
        }
    }

    /// A request that is never answered fails at the timeout and gives its connection up; the requests after it go
    /// out on a new connection, and the run ends. (Requests 6 s apart, a 5 s timeout, one connection: the second is
    /// due a second after the first has failed.) Whether an answered request came within its timeout depends on how
    /// busy the machine is (the timeout counts from the scheduled time; a run of the whole suite on a loaded machine
    /// once took over a second), so only what does not is asserted: all three reached the server, the unanswered one
    /// failed, and a later one was answered.
    @Test(.timeLimit(.minutes(1))) func anUnansweredRequestFailsAndTheRunGoesOnOnANewConnection() async throws {
        try await withStubHTTPServer { server in
            server.route("/requests", inTurn: [.hang, StubResponse(status: 303)])
            let driver = try await run(server, rate: 1.0 / 6, total: 3, connections: 1, timeout: .seconds(5), acceptEvery: 0)

            #expect(server.hits("/requests") == 3)
            let statuses = driver.results.statuses
            #expect(statuses.values.reduce(0, +) == 3 && Set(statuses.keys).isSubset(of: ["error", "303"]))
            #expect((statuses["error"] ?? 0) >= 1 && (statuses["303"] ?? 0) >= 1)
            #expect(driver.results.failures == statuses["error"] ?? 0)
        }
    }

    /// A server that closes each connection after its answer (`Connection: close`) gets every request on a fresh
    /// connection, none of them sent on the one being closed.
    @Test(.timeLimit(.minutes(1))) func aConnectionTheServerClosesIsNotUsedAgain() async throws {
        try await withStubHTTPServer { server in
            server.route("/requests", StubResponse(status: 303, headers: [("Connection", "close")]))
            let driver = try await run(server, rate: 200, total: 20, connections: 1, timeout: .seconds(30), acceptEvery: 0)

            #expect(driver.results.statuses == ["303": 20])
            #expect(server.hits("/requests") == 20)
        }
    }

    /// The window of a run from a second on holds the requests scheduled from then, and only those.
    @Test func theWindowFromASecondOnHoldsTheRequestsScheduledFromThen() {
        var results = LoadResults()
        for (ms, second) in [(1, 0), (2, 0), (50, 1), (10, 2), (30, 2), (20, 3)] {
            results.add(latency: .milliseconds(ms), status: 303, ok: true, second: second)
        }
        let w = results.window(from: 2)
        #expect(w.count == 3 && w.p50 == 0.02 && w.max == 0.03)
        #expect(results.window(from: 0).count == 6 && results.window(from: 9).count == 0)
        #expect(results.window(from: -1).count == 6)
    }
}

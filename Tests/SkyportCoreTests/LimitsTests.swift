import SkyportCore
import Testing

/// The token bucket rule behind `SKYPORT_RATE_LIMIT`: a pure function of the bucket, the limit and the time.
@Suite struct RateLimitTests {
    let limit = RateLimit(perSecond: 2, burst: 3)

    @Test func aFreshClientHasTheWholeBurstThenWaitsForTheNextToken() {
        var table = RateLimitTable(limit: limit)
        for _ in 0..<3 { #expect(table.take("a", now: .zero) == .allowed) }
        let refused = table.take("a", now: .zero)
        #expect(refused == .denied(retryAfter: .milliseconds(500)))
        #expect(refused.retryAfterSeconds == 1)
        // Another client is not held back by the first.
        #expect(table.take("b", now: .zero) == .allowed)
        // Half a second later one token has come back, and only one.
        #expect(table.take("a", now: .milliseconds(500)) == .allowed)
        #expect(table.take("a", now: .milliseconds(500)) != .allowed)
    }

    @Test func tokensNeverExceedTheBurst() {
        var bucket = TokenBucket.full(limit, at: .zero)
        #expect(bucket.take(limit, now: .seconds(3_600)) == .allowed)
        #expect(bucket.tokens == 2)
    }

    @Test func retryAfterIsRoundedUpToWholeSeconds() {
        let slow = RateLimit(perSecond: 0.25, burst: 1)
        var table = RateLimitTable(limit: slow)
        #expect(table.take("a", now: .zero) == .allowed)
        let refused = table.take("a", now: .milliseconds(100))
        #expect(refused.retryAfterSeconds == 4)
    }

    @Test func offAllowsEverything() {
        var table = RateLimitTable(limit: .off)
        for _ in 0..<1_000 { #expect(table.take("a", now: .zero) == .allowed) }
        #expect(table.clientCount == 0)
    }

    @Test func idleClientsAreForgottenSoMemoryStaysBounded() {
        var table = RateLimitTable(limit: limit, maxClients: 1_000)
        for i in 0..<500 { _ = table.take("client-\(i)", now: .zero) }
        #expect(table.clientCount == 500)
        // After the refill time their buckets are full again, the same as no bucket: the next sweep drops them.
        _ = table.take("late", now: .seconds(2))
        #expect(table.clientCount == 1)
    }

    @Test func aFloodOfAddressesNeverGrowsPastTheCap() {
        var table = RateLimitTable(limit: RateLimit(perSecond: 0.001, burst: 1), maxClients: 100)
        for i in 0..<10_000 { _ = table.take("client-\(i)", now: .milliseconds(i)) }
        #expect(table.clientCount <= 100)
        // The most recent clients are the ones kept: the last one is still limited.
        #expect(table.take("client-9999", now: .milliseconds(10_000)) != .allowed)
    }
}

/// The connection deadlines: each timeout counts its whole part, never the gap between two bytes.
@Suite struct ConnectionDeadlinesTests {
    let timeouts = ConnectionTimeouts(idle: .seconds(60), header: .seconds(10), body: .seconds(30))

    @Test func aHeadTrickledInByteByByteIsCutAtTheHeaderTimeoutFromTheOpening() {
        var d = ConnectionDeadlines(timeouts)
        for second in 0..<10 { d.bytesArrived(at: .seconds(second)) }
        #expect(d.deadline?.at == .seconds(10))
        #expect(d.timerFired(at: .seconds(9)) == .wait(until: .seconds(10)))
        #expect(d.timerFired(at: .seconds(10)) == .close(.header, answer408: true))
    }

    @Test func aBodyTrickledInIsCutAtTheBodyTimeoutFromTheHead() {
        var d = ConnectionDeadlines(timeouts)
        d.headReceived(at: .seconds(1))
        for second in 2..<40 { d.bytesArrived(at: .seconds(second)) }
        #expect(d.deadline?.at == .seconds(31))
        #expect(d.timerFired(at: .seconds(31)) == .close(.body, answer408: true))
    }

    @Test func noDeadlineWhileTheAnswerIsMadeThenTheIdleTimeoutThenANewHeaderDeadline() {
        var d = ConnectionDeadlines(timeouts)
        d.headReceived(at: .seconds(1))
        d.requestEnded(at: .seconds(1))
        #expect(d.deadline == nil)
        #expect(d.timerFired(at: .seconds(500)) == .none)
        d.responseBegan()
        d.responseEnded(at: .seconds(600))
        #expect(d.deadline?.at == .seconds(660))
        #expect(d.deadline?.part == .idle)
        #expect(d.timerFired(at: .seconds(660)) == .close(.idle, answer408: false))
        d.bytesArrived(at: .seconds(630))
        #expect(d.deadline?.at == .seconds(640))
        #expect(d.deadline?.part == .header)
    }

    @Test func anEarlyAnswerIsNotFollowedByA408() {
        // A 413 written before the body came: the body deadline still closes the connection, silently.
        var d = ConnectionDeadlines(timeouts)
        d.headReceived(at: .zero)
        d.responseBegan()
        d.responseEnded(at: .seconds(1))
        #expect(d.timerFired(at: .seconds(30)) == .close(.body, answer408: false))
    }

    @Test func aTimeoutThatIsOffSetsNoDeadline() {
        var d = ConnectionDeadlines(ConnectionTimeouts(idle: nil, header: nil, body: nil))
        #expect(d.deadline == nil)
        d.headReceived(at: .zero)
        #expect(d.deadline == nil)
    }
}

/// The bounds on what a client may store.
@Suite struct FieldLimitTests {
    @Test func aLongNameIsRefusedNamingTheField() throws {
        let doc = try JSONValue.parse(#"{"name": "\#(String(repeating: "x", count: 257))", "executable": {"kind": "tap-query", "query": "SELECT 1"}}"#)
        #expect(throws: ValidationFailure.self) { try ExecutionRequestParser.parse(doc, now: .init(), strict: true) }
        do {
            _ = try ExecutionRequestParser.parse(doc, now: .init())
        } catch let failure as ValidationFailure {
            #expect(failure.errors.map(\.field) == ["name"])
            #expect(failure.errors[0].message.contains("at most 256"))
        }
    }

    @Test func theBoundsAreByField() {
        #expect(FieldLimits.maxLength(for: "meta.name") == 256)
        #expect(FieldLimits.maxLength(for: "executable.query") == 65_536)
        #expect(FieldLimits.maxLength(for: "callback") == 4_096)
        #expect(FieldLimits.problem(String(repeating: "é", count: 256), field: "name") == nil)  // characters, not bytes
        #expect(FieldLimits.problem(String(repeating: "é", count: 257), field: "name") != nil)
    }
}

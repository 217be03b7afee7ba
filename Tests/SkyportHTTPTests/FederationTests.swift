import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import SkyportCore
import SkyportRemotes
import SkyportStore
import SkyportTestSupport
import Testing

/// Skyport federating other ExecutionBrokers: stand-in brokers (`Tests/Standins/broker_standin.py`) with chosen
/// latencies and failures, other Skyport instances on loopback, and (when it runs) the real DaCHS behind them.
@Suite struct FederationTests {
    /// Stand-in brokers in one Python process, killed (SIGKILL) when stopped.
    final class StandinBrokers: @unchecked Sendable {
        let process: Process
        let ports: [Int]

        init(_ arguments: [String]) async throws {
            let script = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appending(path: "Standins/broker_standin.py")
            let portsFile = FileManager.default.temporaryDirectory.appending(path: "skyport-brokers-\(UUID().uuidString).json")
            let process = Process()
            process.executableURL = URL(filePath: "/usr/bin/env")
            process.arguments = ["python3", script.path, "--ports-file", portsFile.path] + arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            self.process = process
            let deadline = ContinuousClock.now + .seconds(60)  // a loaded machine starts python slowly
            while ContinuousClock.now < deadline {
                if let data = try? Data(contentsOf: portsFile),
                   let listed = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] {
                    ports = listed.compactMap { $0["port"] as? Int }
                    try? FileManager.default.removeItem(at: portsFile)
                    return
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            kill(process.processIdentifier, SIGKILL)
            throw CancellationError()
        }

        func url(_ i: Int) -> String { "http://127.0.0.1:\(ports[i])" }

        func stats(_ i: Int) async throws -> [String: Any] {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url(i) + "/_standin/stats"), timeout: .seconds(60))
            let body = try await response.body.collect(upTo: 1 << 20)
            return try #require(JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any])
        }

        func stop() { kill(process.processIdentifier, SIGKILL) }
    }

    /// The default deadline is generous: a prompt stand-in answers at once, and a loaded machine must not make it late.
    static func brokerFacility(_ id: String, url: String, deadline: String = "PT20S") -> String {
        FacilityDocuments.json(
            id: id, name: "Broker \(id)", kind: "executionbroker", url: url, endpoint: ["offerDeadline": deadline],
            accepts: ["tap-query", "jupyter-notebook", "uws-job"])
    }

    static let tapRequest = #"{"executable": {"kind": "tap-query", "query": "SELECT TOP 3 table_name FROM tap_schema.tables"}, "compute": {"cores": {"min": 2, "max": 2}, "memory": {"min": 3, "max": 3}}, "schedule": {"requested": {"duration": "PT10M"}}}"#

    static func register(_ client: any TestClientProtocol, _ facility: String) async throws {
        let r = try await client.send(.post, "/facilities", json: facility, token: TestBroker.aliceToken)
        #expect(r.status == .created, "\(r.text)")
    }

    static func reasons(_ body: [String: Any], _ facility: String) -> [[String: Any]] {
        let rejected = body["rejected"] as? [[String: Any]] ?? []
        return rejected.first { $0["facility"] as? String == facility }?["reasons"] as? [[String: Any]] ?? []
    }

    static func federated(_ offer: [String: Any]) -> [String: Any]? { offer["federated"] as? [String: Any] }

    /// Follows a session until it ends (or `seconds` pass).
    static func follow(_ client: any TestClientProtocol, _ url: String, seconds: Int = 60) async throws -> [String: Any] {
        let path = URL(string: url)?.path ?? url
        var session: [String: Any] = [:]
        _ = try await eventually(within: .seconds(seconds), every: .milliseconds(200)) {
            session = try await client.send(.get, path).json()
            return ["COMPLETED", "FAILED", "CANCELLED"].contains(session["phase"] as? String ?? "")
        }
        return session
    }

    /// The deadline (5 s) is far beyond what the prompt brokers need however loaded the machine, and the late one
    /// (b2) answers only after a minute: which broker is late does not depend on scheduling.
    @Test func offersOfSeveralBrokersAreMergedAndTheLateAndBrokenOnesListed() async throws {
        let brokers = try await StandinBrokers(["--count", "5", "--delays", "0,40,60000,0,0", "--modes", "ok,ok,ok,error,garbage"])
        defer { brokers.stop() }
        let broker = try await TestBroker()
        try await broker.run { client in
            try await Self.register(client, facilityJSON(id: "local-tap", accepts: #"["tap-query"]"#))
            for i in 0..<5 { try await Self.register(client, Self.brokerFacility("b\(i)", url: brokers.url(i), deadline: "PT5S")) }

            let (status, _, body) = try await client.request(json: Self.tapRequest)
            #expect(status == .seeOther)
            let all = offers(body)
            // Round one: the local facility and each answering broker once, in rank order; then their second offers.
            let facilities = all.map { ($0["facility"] as? [String: Any])?["id"] as? String ?? "" }
            #expect(Set(facilities) == ["local-tap", "b0", "b1"], "\(facilities)")
            #expect(Set(facilities.prefix(3)).count == 3, "\(facilities)")
            let remote = all.filter { Self.federated($0) != nil }
            #expect(remote.count == 4, "two offers from each of b0 and b1: \(all)")
            for offer in remote {
                let link = try #require(Self.federated(offer)?["session"] as? String)
                let broker = Self.federated(offer)?["broker"] as? String
                #expect(link.hasPrefix(brokers.url(broker == "b0" ? 0 : 1) + "/sessions/"), "\(offer)")
                #expect((offer["compute"] as? [String: Any])?["cores"] as? [String: Int] == ["min": 2, "max": 2])
                #expect(offer["phase"] as? String == "OFFERED")
                #expect(offer["expires"] is String)
            }
            #expect(Self.reasons(body, "b2").first?["code"] as? String == "broker-late", "\(body["rejected"] ?? "")")
            #expect(Self.reasons(body, "b3").first?["code"] as? String == "broker-unreachable")
            #expect((Self.reasons(body, "b3").first?["message"] as? String)?.contains("500") == true)
            #expect(Self.reasons(body, "b4").first?["code"] as? String == "broker-unreachable")
            let messages = (body["meta"] as? [String: Any])?["messages"] as? [[String: Any]] ?? []
            #expect(messages.contains { $0["kind"] as? String == "urn:broker-late" && ($0["message"] as? String)?.contains("b2") == true })

            // Each broker was asked once, with this broker on the federation path.
            let seen = try await brokers.stats(0)
            #expect(seen["requests"] as? Int == 1)
            #expect((seen["vias"] as? [String])?.first == broker.config.brokerID)
        }
    }

    @Test func acceptingAFederatedOfferAcceptsItThereRejectsTheOthersAndFollowsItToCompletion() async throws {
        let brokers = try await StandinBrokers(["--count", "2", "--delays", "0,0", "--complete-after", "1.5"])
        defer { brokers.stop() }
        try await TestBroker(withServices: true).run { client in
            for i in 0..<2 { try await Self.register(client, Self.brokerFacility("b\(i)", url: brokers.url(i))) }
            let (_, setPath, body) = try await client.request(json: Self.tapRequest)
            let chosen = try #require(offers(body).first { Self.federated($0)?["broker"] as? String == "b1" })
            let remoteSession = try #require(Self.federated(chosen)?["session"] as? String)
            #expect(try await client.setPhase(sessionURL(chosen), "ACCEPTED").status == .ok)

            let session = try await Self.follow(client, sessionURL(chosen))
            #expect(session["phase"] as? String == "COMPLETED", "\(session)")
            let result = try #require((session["results"] as? [[String: Any]])?.first?["href"] as? String)
            #expect(result.hasPrefix(brokers.url(1) + "/results/"))
            let connector = try #require((session["connectors"] as? [[String: Any]])?.first)
            #expect(connector["location"] as? String == remoteSession)

            // There: the accepted session completed and its sibling was rejected by the remote broker itself; the
            // other broker's offers were rejected by this broker once they were turned down here.
            let b1 = try await brokers.stats(1)["sessions"] as? [String: String] ?? [:]
            #expect(b1[String(remoteSession.split(separator: "/").last ?? "")] == "COMPLETED")
            #expect(b1.values.sorted() == ["COMPLETED", "REJECTED"], "\(b1)")
            var b0: [String: String] = [:]
            _ = try await eventually(every: .milliseconds(100)) {
                b0 = try await brokers.stats(0)["sessions"] as? [String: String] ?? [:]
                return b0.count == 2 && b0.values.allSatisfy { $0 == "REJECTED" }
            }
            #expect(b0.count == 2 && b0.values.allSatisfy { $0 == "REJECTED" }, "\(b0)")
            let set = try await client.send(.get, try #require(setPath)).json()
            #expect(offers(set).filter { $0["phase"] as? String == "REJECTED" }.count == 3)
        }
    }

    @Test func aBrokerThatAsksItselfRoundALoopIsStopped() async throws {
        let a = try await TestBroker(withServices: false)
        let b = try await TestBroker(withServices: false)
        try await a.run { clientA in
            try await b.run { clientB in
                let portA = try #require(clientA.port), portB = try #require(clientB.port)
                try await Self.register(clientA, Self.brokerFacility("broker-b", url: "http://127.0.0.1:\(portB)"))
                try await Self.register(clientB, Self.brokerFacility("broker-a", url: "http://127.0.0.1:\(portA)"))
                try await Self.register(clientB, facilityJSON(id: "b-tap", accepts: #"["tap-query"]"#))

                // A asks B, B asks A again: A refuses, B answers with its own facility's offers and lists the loop.
                let (status, _, body) = try await clientA.request(json: Self.tapRequest)
                #expect(status == .seeOther)
                let fromB = offers(body).filter { Self.federated($0)?["broker"] as? String == "broker-b" }
                #expect(!fromB.isEmpty, "\(body)")
                #expect(fromB.allSatisfy { ($0["facility"] as? [String: Any])?["name"] as? String == "Broker broker-b: Example TAP" })
                let session = try await clientB.send(.get, URL(string: Self.federated(fromB[0])?["session"] as? String ?? "")?.path ?? "")
                let offerSetURL = try #require(try session.json()["offerset"] as? String)
                let setAtB = try await clientB.send(.get, URL(string: offerSetURL)?.path ?? "").json()
                let loop = Self.reasons(setAtB, "broker-a")
                #expect(loop.first?["code"] as? String == "federation-loop", "\(setAtB["rejected"] ?? "")")

                // A request that already passed through A is refused by A with 508 and a structured error.
                var headers = HTTPFields()
                headers[HTTPField.Name("Skyport-Via")!] = "someone-else, \(a.config.brokerID)"
                let refused = try await clientA.send(.post, "/requests", json: Self.tapRequest, headers: headers)
                #expect(refused.status.code == 508)
                #expect(try refused.json()["code"] as? String == "federation-loop")
                #expect(try refused.errorFields() == ["Skyport-Via"])
            }
        }
    }

    @Test func offersOutsideTheRequestAreDroppedAndSaidSo() async throws {
        let brokers = try await StandinBrokers(["--count", "1", "--cores", "64"])
        defer { brokers.stop() }
        try await TestBroker().run { client in
            try await Self.register(client, Self.brokerFacility("greedy", url: brokers.url(0)))
            let (_, _, body) = try await client.request(json: Self.tapRequest)
            #expect(offers(body).isEmpty)
            let reason = try #require(Self.reasons(body, "greedy").first)
            #expect(reason["code"] as? String == "broker-no-offers")
            #expect(reason["offered"] as? String == "64 cores, 64 cores")
            let messages = (body["meta"] as? [String: Any])?["messages"] as? [[String: Any]] ?? []
            #expect(messages.contains { $0["kind"] as? String == "urn:broker-offer-dropped" })
        }
    }

    @Test func aReplayedRequestIsAnsweredFromTheStoreWithoutAskingAgain() async throws {
        let brokers = try await StandinBrokers(["--count", "1"])
        defer { brokers.stop() }
        try await TestBroker().run { client in
            try await Self.register(client, Self.brokerFacility("b0", url: brokers.url(0)))
            let first = try await client.request(json: Self.tapRequest, key: "retry-1")
            let again = try await client.request(json: Self.tapRequest, key: "retry-1")
            #expect(first.path != nil && again.path == first.path)
            #expect(offers(again.body).map(sessionURL) == offers(first.body).map(sessionURL))
            #expect(try await brokers.stats(0)["requests"] as? Int == 1)
            let other = try await client.request(json: Self.tapRequest.replacingOccurrences(of: "TOP 3", with: "TOP 4"), key: "retry-1")
            #expect(other.status == .conflict)
            #expect(try await brokers.stats(0)["requests"] as? Int == 1)
        }
    }

    @Test func aRemoteOfferAcceptedTooLateIsRefusedHere() async throws {
        // Long enough that a loaded machine still gets the offer back before it closes here (2 s before there).
        let brokers = try await StandinBrokers(["--count", "1", "--offer-lifetime", "8"])
        defer { brokers.stop() }
        try await TestBroker(withServices: true).run { client in
            try await Self.register(client, Self.brokerFacility("b0", url: brokers.url(0)))
            let (_, _, body) = try await client.request(json: Self.tapRequest)
            let offer = try #require(offers(body).first)
            // Closed here before it closes there.
            let expires = try #require((offer["expires"] as? String).flatMap(Timestamp.parse))
            #expect(expires.timeIntervalSinceNow < 6.5)
            try await Task.sleep(for: .seconds(max(0, expires.timeIntervalSinceNow) + 0.5))
            let late = try await client.setPhase(sessionURL(offer), "ACCEPTED")
            #expect(late.status == .conflict)
            #expect(try late.json()["code"] as? String == "offer-expired")
        }
    }

    /// The whole chain on real peers: C harvests the real DaCHS registry and so learns its TAP service; A federates
    /// B and C; B federates A (a loop). A tap-query asked of A is offered by C, accepted at A, forwarded by A to C
    /// and by C to DaCHS, and followed by A to its VOTable.
    @Test(.enabled(if: TestPeers.run(ForwardingIntegrationTests.dachs != nil), "DaCHS is not running: start it with scripts/peers.sh (the test command does)"))
    func aTapQueryRunsThroughAFederationOfThreeBrokersOnAFacilityHarvestedFromDaCHS() async throws {
        let tap = try TestPeers.requireDaCHS()
        var parts = try #require(URLComponents(url: tap, resolvingAgainstBaseURL: false))
        parts.path = "/oai.xml"
        let oai = try #require(parts.url).absoluteString
        let storeC = InMemoryStore()
        try await storeC.upsertRegistrySource(RegistrySource(url: oai, addedBy: "registry", added: Date()))
        var c = try await TestBroker(store: storeC, withServices: true)
        c.config.registryPeriod = 3600
        let a = try await TestBroker(withServices: true)
        let b = try await TestBroker(withServices: true)
        try await c.run { clientC in
            // C harvests DaCHS at start: its TAP service becomes a facility.
            let harvested = try await eventually(every: .milliseconds(100)) {
                try await clientC.send(.get, "/facilities/ivo%3A%2F%2Fskyport.test%2Ftap").status == .ok
            }
            #expect(harvested, "DaCHS' TAP service was not harvested from \(oai)")
            try await a.run { clientA in
                try await b.run { clientB in
                    let portA = try #require(clientA.port), portB = try #require(clientB.port), portC = try #require(clientC.port)
                    try await Self.register(clientA, Self.brokerFacility("broker-b", url: "http://127.0.0.1:\(portB)"))
                    try await Self.register(clientA, Self.brokerFacility("broker-c", url: "http://127.0.0.1:\(portC)"))
                    try await Self.register(clientB, Self.brokerFacility("broker-a", url: "http://127.0.0.1:\(portA)"))

                    let (_, _, body) = try await clientA.request(json: Self.tapRequest)
                    let offer = try #require(offers(body).first, "\(body)")
                    #expect(Self.federated(offer)?["broker"] as? String == "broker-c")
                    let loop = Self.reasons(body, "broker-b")
                    #expect(loop.first?["code"] as? String == "broker-no-offers")
                    #expect((loop.first?["message"] as? String)?.contains("federation loop") == true, "\(loop)")

                    #expect(try await clientA.setPhase(sessionURL(offer), "ACCEPTED").status == .ok)
                    let session = try await Self.follow(clientA, sessionURL(offer), seconds: 90)
                    #expect(session["phase"] as? String == "COMPLETED", "\(session)")
                    let href = try #require((session["results"] as? [[String: Any]])?.first?["href"] as? String)
                    #expect(href.hasPrefix(tap.absoluteString.replacingOccurrences(of: "/tap/async", with: "")))
                    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: href), timeout: .seconds(30))
                    #expect(String(buffer: try await response.body.collect(upTo: 16 << 20)).contains("VOTABLE"))

                    // At C, the session A accepted ran on DaCHS' TAP service.
                    let atC = try await clientC.send(.get, URL(string: Self.federated(offer)?["session"] as? String ?? "")?.path ?? "").json()
                    #expect(atC["phase"] as? String == "COMPLETED")
                    #expect((atC["facility"] as? [String: Any])?["id"] as? String == "ivo://skyport.test/tap")
                }
            }
        }
    }

    /// The broker executor on its own, against a stand-in broker: an acceptance answered twice (the first answer lost)
    /// finds the accepted session instead of failing; `status` holds until the remote phase moves; an offer turned
    /// down here is rejected there; cancelling cancels there.
    @Test func theBrokerExecutorAcceptsOnceFollowsAndCancels() async throws {
        // The accepted session stays PREPARING for 10 s (ample for the calls before `start` on a loaded machine), then
        // RUNNING until long after the test has cancelled it.
        let brokers = try await StandinBrokers(["--count", "1", "--offers", "3", "--run-after", "10", "--complete-after", "300"])
        defer { brokers.stop() }
        let client = Egress(policy: .loopback, resolver: TestResolver())
        do {
            let logger = Logger(label: "broker-executor-test")
            let endpoint = Endpoint(kind: .executionbroker, url: brokers.url(0))
            let request = try ExecutionRequestParser.parse(
                try JSONDecoder().decode(JSONValue.self, from: Data(Self.tapRequest.utf8)), now: Date())
            let answers = await BrokerFederation(brokerID: "test-broker", egress: client, logger: logger).ask(
                request, of: [BrokerQuestion(facility: FacilityID("b"), endpoint: endpoint, deadline: 5)], path: FederationPath())
            guard case .offers(_, let remote, _)? = answers[FacilityID("b")] else {
                Issue.record("no offers: \(answers)")
                return
            }
            #expect(remote.count == 3)
            func session(_ offer: RemoteOffer) -> SessionRecord {
                var s = SessionRecord.sample(
                    facility: "b", phase: .accepted, created: Date(), lifetime: 60, cores: offer.cores, memory: offer.memory, start: offer.start,
                    duration: offer.duration, executable: request.executable)
                var job = RemoteJob(endpoint: endpoint)
                job.offer = offer.session
                job.remotePhase = "OFFERED"
                s.remote = job
                return s
            }
            let executor = BrokerExecutor(egress: client, logger: logger)
            let accepted = session(remote[0])
            #expect(try await executor.find(accepted, at: endpoint) == nil, "not accepted yet")
            let url = try await executor.submit(accepted, to: endpoint)
            #expect(url == remote[0].session)
            #expect(try await executor.submit(accepted, to: endpoint) == url, "a repeated acceptance finds the accepted session")
            #expect(try await executor.find(accepted, at: endpoint) == url)

            var job = try #require(accepted.remote)
            job.stage = .created(url: url)
            let first = try await executor.start(job, for: accepted)
            #expect(first.phase == .preparing && first.remotePhase == .broker(.preparing))
            job.phase = first.remotePhase
            let moved = try await executor.status(job, for: accepted, wait: 60)
            #expect(moved.phase == .running && moved.remotePhase == .broker(.running))

            // The siblings were rejected by the remote broker itself; accepting one now is refused with its reason.
            await #expect(throws: FacilityRefusal.self) { try await executor.submit(session(remote[1]), to: endpoint) }

            var cancelled = accepted
            cancelled.phase = .cancelled
            job.phase = moved.remotePhase
            let aborted = try await executor.abort(job, for: cancelled)
            #expect(aborted.phase == .cancelled && aborted.remotePhase == .broker(.cancelled))
            let phases = try await brokers.stats(0)["sessions"] as? [String: String] ?? [:]
            #expect(phases.values.sorted() == ["CANCELLED", "REJECTED", "REJECTED"], "\(phases)")
        } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
    }

    /// A federated broker's sessions stay on that broker: a 303 to another origin, and offers whose sessions are on
    /// another host (here the metadata address), are refused, said in rejected[], and counted on /metrics.
    @Test func aBrokerThatPointsElsewhereIsRefusedAndCounted() async throws {
        try await withStubHTTPServer { server in
            let port = server.url("/").port!
            server.route("/away/requests", .init(status: 303, headers: [("Location", "http://127.0.0.2:\(port)/offersets/1")], body: Data()))
            let start = Timestamp.format(Date())
            let offer = #"{"phase": "OFFERED", "meta": {"url": "http://169.254.169.254/latest/meta-data/"}, "compute": {"cores": {"min": 2, "max": 2}, "memory": {"min": 3, "max": 3}}, "schedule": {"available": {"start": "\#(start)/PT0S", "duration": "PT10M"}}}"#
            server.route("/elsewhere/requests", .json(#"{"result": "YES", "offers": [\#(offer)]}"#))
            let broker = try await TestBroker()
            try await broker.run { client in
                try await Self.register(client, Self.brokerFacility("away", url: server.url("/away/").absoluteString, deadline: "PT10S"))
                try await Self.register(client, Self.brokerFacility("elsewhere", url: server.url("/elsewhere/").absoluteString, deadline: "PT10S"))
                // An operator sees other brokers' words in rejected[] (anonymous callers see the status only).
                let body = try await client.send(.post, "/requests", json: Self.tapRequest, token: TestBroker.aliceToken).json()
                #expect(offers(body).isEmpty, "\(body)")
                let away = Self.reasons(body, "away").compactMap { $0["message"] as? String }
                #expect(away.contains { $0.contains("another origin") }, "\(away)")
                let elsewhere = Self.reasons(body, "elsewhere").compactMap { $0["message"] as? String }
                #expect(elsewhere.contains { $0.contains("dropped") }, "\(elsewhere)")
                let metrics = try await client.send(.get, "/metrics").text
                let refused = metrics.split(separator: "\n").filter { $0.hasPrefix("skyport_egress_refused_total") && $0.contains("cross-origin") }
                #expect(refused.count == 1 && refused[0].hasSuffix(" 2"), "\(refused)")
                // Each broker's answer is counted by its outcome: a refused 303 is no answer; offers outside are one.
                let answers = metrics.split(separator: "\n").filter { $0.hasPrefix("skyport_federation_answers_total{") }
                #expect(answers.contains { $0.contains("away") && $0.contains(#"outcome="unreachable"} 1"#) }, "\(answers)")
                #expect(answers.contains { $0.contains("elsewhere") && $0.contains(#"outcome="in_time"} 1"#) }, "\(answers)")
                #expect(metrics.contains("skyport_federation_answer_duration_seconds_count{broker="), "\(metrics)")
            }
            #expect(server.requests().allSatisfy { $0.path.hasPrefix("/away/requests") || $0.path.hasPrefix("/elsewhere/requests") })
        }
    }
}

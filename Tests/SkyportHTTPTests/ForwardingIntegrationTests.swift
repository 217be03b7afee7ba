import AsyncHTTPClient
import Foundation
import HummingbirdTesting
import NIOCore
import SkyportCore
import SkyportTestSupport
import Testing

/// The whole broker against real UWS services on loopback, started by `scripts/peers.sh` (the test command
/// starts them and exports their URLs). Without them these tests fail, naming the peer (or, with
/// SKYPORT_TEST_ALLOW_MISSING_PEERS=1, do not run).
@Suite struct ForwardingIntegrationTests {
    static let dachs = TestPeers.dachs?.absoluteString
    static let django = TestPeers.djangoUWS?.absoluteString

    static func tapRequest(_ query: String) -> String {
        let quoted = String(decoding: try! JSONEncoder().encode(query), as: UTF8.self)
        return #"{"executable": {"kind": "tap-query", "query": \#(quoted), "format": "votable"}, "compute": {"cores": {"min": 1, "max": 1}, "memory": {"min": 1, "max": 1}}, "schedule": {"requested": {"duration": "PT10M"}}}"#
    }

    /// Registers the facility, asks, accepts the first offer, and follows the session until it ends.
    static func runToEnd(_ client: any TestClientProtocol, facility: String?, request: String) async throws -> [String: Any] {
        if let facility {
            let registered = try await client.send(.post, "/facilities", json: facility, token: TestBroker.aliceToken)
            #expect(registered.status == .created, "\(registered.text)")
        }
        let offers = SkyportHTTPTests.offers(try await client.request(json: request).body)
        let first = try #require(offers.first, "no offer: \(facility ?? "")")
        let url = try #require(URL(string: sessionURL(first))?.path)
        #expect(try await client.setPhase(url, "ACCEPTED").status == .ok)
        var session: [String: Any] = [:]
        _ = try await eventually(within: .seconds(90), every: .milliseconds(200)) {
            session = try await client.send(.get, url).json()
            return ["COMPLETED", "FAILED", "CANCELLED"].contains(session["phase"] as? String ?? "")
        }
        return session
    }

    static func facility(_ id: String, kind: String, url: String) -> String {
        FacilityDocuments.json(
            id: id, kind: kind, url: url, accepts: ["tap-query", "uws-job"], limits: .init(cores: 1, memory: 2, duration: "PT1H"), capacity: (8, 16))
    }

    @Test(.enabled(if: TestPeers.run(dachs != nil), "DaCHS is not running: start it with scripts/peers.sh (the test command does)"))
    func aTapQueryRunsOnDaCHSToCompletionWithADownloadableVOTable() async throws {
        let list = try TestPeers.requireDaCHS().absoluteString
        try await TestBroker(withServices: true).run { client in
            let session = try await Self.runToEnd(
                client, facility: Self.facility("ivo://skyport.test/tap", kind: "uws", url: list),
                request: Self.tapRequest("SELECT TOP 3 table_name FROM tap_schema.tables"))
            #expect(session["phase"] as? String == "COMPLETED", "\(session)")
            let connector = try #require((session["connectors"] as? [[String: Any]])?.first)
            #expect((connector["location"] as? String)?.hasPrefix(list.replacingOccurrences(of: "/tap/async", with: "")) == true)
            let href = try #require((session["results"] as? [[String: Any]])?.first?["href"] as? String)
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: href), timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 16 << 20)
            #expect(String(buffer: body).contains("VOTABLE"))
        }
    }

    /// With every job followed by reading DaCHS's job list by phase (from the first job on), queries still run to their
    /// ends, and the list is never found unusable.
    @Test(.enabled(if: TestPeers.run(dachs != nil), "DaCHS is not running: start it with scripts/peers.sh (the test command does)"))
    func queriesOnDaCHSFollowedByItsJobListRunToTheirEnds() async throws {
        let list = try TestPeers.requireDaCHS().absoluteString
        var broker = try await TestBroker(withServices: true)
        broker.config.trackListMinimum = 1
        broker.config.trackListInterval = 50
        try await broker.run { client in
            let facility = Self.facility("ivo://skyport.test/tap", kind: "uws", url: list)
            let done = try await Self.runToEnd(client, facility: facility, request: Self.tapRequest("SELECT TOP 5 table_name FROM tap_schema.tables"))
            #expect(done["phase"] as? String == "COMPLETED", "\(done)")
            let failed = try await Self.runToEnd(client, facility: nil, request: Self.tapRequest("SELECT FROM nowhere"))
            #expect(failed["phase"] as? String == "FAILED", "\(failed)")
            let metrics = try await client.send(.get, "/metrics").text
            #expect(metrics.contains("skyport_tracking_lists_left_total 0"), "\(metrics)")
            // Every call to DaCHS is counted and timed by facility and operation; the sessions' ends by phase.
            #expect(metrics.contains(#"skyport_remote_calls_total{facility="ivo://skyport.test/tap",operation="submit",outcome="ok"}"#), "\(metrics)")
            #expect(metrics.contains(#"skyport_remote_call_duration_seconds_count{facility="ivo://skyport.test/tap",operation="start"}"#), "\(metrics)")
            #expect(MetricsAPITests.value(metrics, #"skyport_sessions{phase="COMPLETED"}"#) == 1, "\(metrics)")
            #expect(MetricsAPITests.value(metrics, #"skyport_sessions{phase="FAILED"}"#) == 1, "\(metrics)")
            #expect((MetricsAPITests.value(metrics, "skyport_forwarding_claims_total") ?? 0) >= 2, "\(metrics)")
        }
    }

    @Test(.enabled(if: TestPeers.run(dachs != nil), "DaCHS is not running: start it with scripts/peers.sh (the test command does)"))
    func aFailingQueryOnDaCHSEndsFailedWithTheFacilitysMessage() async throws {
        let list = try TestPeers.requireDaCHS().absoluteString
        try await TestBroker(withServices: true).run { client in
            let session = try await Self.runToEnd(
                client, facility: Self.facility("ivo://skyport.test/tap", kind: "uws", url: list),
                request: Self.tapRequest("SELECT FROM nowhere"))
            #expect(session["phase"] as? String == "FAILED", "\(session)")
            #expect(((session["message"] as? String) ?? "").isEmpty == false)
        }
    }

    @Test(.enabled(if: TestPeers.run(django != nil), "django-uws is not running: start it with scripts/peers.sh (the test command does)"))
    func aJobRunsOnDjangoUWSToCompletion() async throws {
        let list = try TestPeers.requireDjangoUWS().absoluteString
        let env = ProcessInfo.processInfo.environment
        let credentials = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID().uuidString).json")
        try Data(#"{"\#(list)": {"user": "\#(env["SKYPORT_TEST_DJANGO_UWS_USER"] ?? "")", "password": "\#(env["SKYPORT_TEST_DJANGO_UWS_PASSWORD"] ?? "")"}}"#.utf8)
            .write(to: credentials)
        try await TestBroker(withServices: true, credentialsFile: credentials.path).run { client in
            let session = try await Self.runToEnd(
                client, facility: Self.facility("astron-django-uws", kind: "django-uws", url: list),
                request: #"{"executable": {"kind": "uws-job", "parameters": {"type": "echo", "greeting": "hello"}}, "compute": {"cores": {"min": 1}}}"#)
            #expect(session["phase"] as? String == "COMPLETED", "\(session)")
            // The echo worker returns every parameter as a result.
            #expect((session["results"] as? [[String: Any]])?.contains { $0["id"] as? String == "greeting" } == true, "\(session)")
            #expect((session["connectors"] as? [[String: Any]])?.first?["location"] as? String != nil)
        }
    }
}

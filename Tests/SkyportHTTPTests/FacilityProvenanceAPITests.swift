import AsyncHTTPClient
import Foundation
import HummingbirdTesting
import Logging
import SkyportApp
import SkyportCore
import SkyportHTTP
import SkyportRemotes
import SkyportTestSupport
import Testing

/// The stand-in VOSI service (`Tests/Standins/vosi_standin.py`) serving `fixtures/registry/vosi-capabilities-tap.xml`
/// on loopback, for one test; `stop` kills it by its pid (it also exits when our end of its stdin closes).
final class VOSIService: Sendable {
    static let root = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let available = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")

    let base: String
    private let process: Process
    private let input: Pipe

    private init() throws {
        process = Process()
        process.executableURL = URL(filePath: "/usr/bin/env")
        process.arguments = [
            "python3", Self.root.appending(path: "Tests/Standins/vosi_standin.py").path,
            Self.root.appending(path: "fixtures/registry/vosi-capabilities-tap.xml").path,
        ]
        let output = Pipe()
        input = Pipe()
        process.standardOutput = output
        process.standardInput = input
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { throw RigError("the VOSI stand-in did not start") }
            line += chunk
        }
        base = "http://127.0.0.1:" + String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Starts one off the concurrency pool (reading its port blocks).
    static func start() async throws -> VOSIService {
        try TestPeers.requirePresent(available, "python3 is needed for the VOSI stand-in (Tests/Standins/vosi_standin.py)")
        return try await offload { try VOSIService() }
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        let reaped = Unchecked(process)
        Thread.detachNewThread { reaped.value.waitUntilExit() }
    }

    deinit { stop() }
}

/// A broker whose refresh reads VOSI capabilities over a real HTTP client (as `skyport serve` wires it).
private func withRefreshingBroker<T: Sendable>(_ test: @Sendable @escaping (any TestClientProtocol, any BrokerStore) async throws -> T) async throws -> T {
    let client = Egress(policy: .loopback, resolver: TestResolver())
    var broker = try await TestBroker()
    broker.capabilities = SkyportRuntime.capabilitiesFetch(egress: client, logger: Logger(label: "test.capabilities"))
    let store = broker.store
    do {
        let value = try await broker.run { try await test($0, store) }
        await client.shutdown()
        return value
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// A facility document with one endpoint and no duration limit (a refresh may set it).
private func uwsFacility(_ id: String, url: String, kind: String = "uws", accepts: String = "tap-query") -> String {
    FacilityDocuments.json(id: id, kind: kind, url: url, accepts: [accepts], limits: .init(cores: 2))
}

@Suite struct FacilityProvenanceAPITests {
    @Test func getShowsWhereEachFieldCameFromAndTheDocumentPutsBack() async throws {
        try await TestBroker().run { client in
            #expect(try await client.send(.post, "/facilities", json: facilityJSON(), token: TestBroker.aliceToken).status == .created)
            let read = try await client.send(.get, tapPath).json()
            let provenance = try #require(read["provenance"] as? [String: Any])
            let fields = try #require(provenance["fields"] as? [String: [String: Any]])
            #expect(Set(fields.keys) == ["name", "description", "endpoints", "accepts", "limits.cores", "limits.memory", "limits.duration", "capacity", "data"])
            #expect(fields.values.allSatisfy { $0["source"] as? String == "operator" && $0["by"] as? String == "alice" })
            #expect(fields["status"] == nil, "status was left to its default")
            #expect(provenance["lastHarvested"] == nil && provenance["refreshed"] == nil)

            // The document read back, one field changed, is accepted as it is (provenance and all).
            var document = read
            document["name"] = "Renamed"
            let body = String(decoding: try JSONSerialization.data(withJSONObject: document), as: UTF8.self)
            let put = try await client.send(.put, tapPath, json: body, token: TestBroker.aliceToken)
            #expect(put.status == .ok, "\(put.text)")
            let after = try #require(try put.json()["provenance"] as? [String: Any])
            #expect((after["fields"] as? [String: [String: Any]])?["name"]?["source"] as? String == "operator")
        }
    }

    @Test func aHarvestedFacilityNamesItsRegistryRecord() async throws {
        let broker = try await TestBroker()
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        let record = FacilityProvenance.RegistryRecord(source: "http://registry.example/oai.xml", identifier: "ivo://example.org/tap", datestamp: t)
        let facility = try RegistryMapping.facility(from: Self.resource(capabilities: "http://example.org/tap/capabilities"), owner: "registry", now: t, record: record).get()
        try await broker.store.insertFacility(facility)
        try await broker.run { client in
            let provenance = try #require(try await client.send(.get, tapPath).json()["provenance"] as? [String: Any])
            let registry = try #require(provenance["registry"] as? [String: Any])
            #expect(registry["source"] as? String == "http://registry.example/oai.xml")
            #expect(registry["identifier"] as? String == "ivo://example.org/tap")
            #expect(registry["datestamp"] as? String == "2027-01-15T08:00:00Z")
            #expect(provenance["lastHarvested"] as? String == "2027-01-15T08:00:00Z")
            #expect(provenance["capabilities"] as? String == "http://example.org/tap/capabilities")
            let name = (provenance["fields"] as? [String: [String: Any]])?["name"]
            #expect(name?["source"] as? String == "registry" && name?["by"] as? String == "http://registry.example/oai.xml")
        }
    }

    static func resource(capabilities: String) -> RegistryResource {
        let paramHTTP = QualifiedName(namespace: "http://www.ivoa.net/xml/VODataService/v1.1", local: "ParamHTTP")
        return RegistryResource(ivoid: FacilityID("ivo://example.org/tap"), title: "Harvested TAP", capabilities: [
            RegistryCapability(standardID: "ivo://ivoa.net/std/TAP", interfaces: [
                RegistryInterface(type: paramHTTP, role: "std", accessURLs: [AccessURL(url: "http://old.example.org/tap", use: .base)]),
            ]),
            RegistryCapability(standardID: "ivo://ivoa.net/std/VOSI#capabilities", interfaces: [
                RegistryInterface(type: paramHTTP, role: "std", accessURLs: [AccessURL(url: capabilities, use: .full)]),
            ]),
        ])
    }
}

@Suite(.enabled(if: TestPeers.run(VOSIService.available), "python3 is needed for the VOSI stand-in"))
struct FacilityRefreshAPITests {
    @Test func anOperatorsFacilityLearnsWhatItDidNotSetFromItsCapabilities() async throws {
        let service = try await VOSIService.start()
        defer { service.stop() }
        try await withRefreshingBroker { client, _ in
            let jobs = service.base + "/tap/async"
            #expect(try await client.send(.post, "/facilities", json: uwsFacility("mine", url: jobs), token: TestBroker.aliceToken).status == .created)
            let r = try await client.send(.post, "/facilities/mine/refresh", token: TestBroker.aliceToken)
            #expect(r.status == .ok, "\(r.text)")
            let body = try r.json()
            // The duration limit comes from the TAPRegExt executionDuration; the operator's endpoint stays.
            #expect((body["limits"] as? [String: Any])?["duration"] as? String == "PT2H")
            #expect((body["limits"] as? [String: Any])?["cores"] as? Int == 2)
            #expect((body["endpoints"] as? [[String: Any]])?.first?["url"] as? String == jobs)
            let provenance = try #require(body["provenance"] as? [String: Any])
            let fields = try #require(provenance["fields"] as? [String: [String: Any]])
            #expect(fields["limits.duration"]?["source"] as? String == "vosi")
            #expect(fields["limits.duration"]?["by"] as? String == service.base + "/tap/capabilities")
            #expect(fields["endpoints"]?["source"] as? String == "operator")
            #expect(provenance["refreshed"] as? String != nil)
            // Stored: GET shows the same.
            let read = try await client.send(.get, "/facilities/mine").json()
            #expect((read["provenance"] as? [String: Any])?["refreshed"] as? String == provenance["refreshed"] as? String)
        }
    }

    @Test func anyOperatorMayRefreshAHarvestedFacilityButOnlyTheOwnerTheirOwn() async throws {
        let service = try await VOSIService.start()
        defer { service.stop() }
        try await withRefreshingBroker { client, store in
            let t = Date(timeIntervalSince1970: 1_800_000_000)
            let harvested = try RegistryMapping.facility(
                from: FacilityProvenanceAPITests.resource(capabilities: service.base + "/tap/capabilities"), owner: "registry", now: t).get()
            try await store.insertFacility(harvested)

            #expect(try await client.send(.post, tapPath + "/refresh").status == .unauthorized)
            let r = try await client.send(.post, tapPath + "/refresh", token: TestBroker.bobToken)
            #expect(r.status == .ok, "\(r.text)")
            let body = try r.json()
            #expect((body["endpoints"] as? [[String: Any]])?.map { $0["url"] as? String } == ["http://tap.example.org/tap/async"])
            let fields = (body["provenance"] as? [String: Any])?["fields"] as? [String: [String: Any]]
            #expect(fields?["endpoints"]?["source"] as? String == "vosi")
            #expect(fields?["name"]?["source"] as? String == "registry")
            #expect(body["owner"] as? String == "registry")

            #expect(try await client.send(.post, "/facilities", json: uwsFacility("alices", url: service.base + "/tap/async"), token: TestBroker.aliceToken).status == .created)
            let forbidden = try await client.send(.post, "/facilities/alices/refresh", token: TestBroker.bobToken)
            #expect(forbidden.status == .forbidden)
            #expect(try await client.send(.post, "/facilities/nothing/refresh", token: TestBroker.bobToken).status == .notFound)
        }
    }

    @Test func aFacilityWithNoCapabilitiesURLIsAConflictNamingTheField() async throws {
        try await withRefreshingBroker { client, _ in
            let hub = uwsFacility("hub", url: "https://binder.example.org/", kind: "binderhub", accepts: "binder-notebook")
            #expect(try await client.send(.post, "/facilities", json: hub, token: TestBroker.aliceToken).status == .created)
            let r = try await client.send(.post, "/facilities/hub/refresh", token: TestBroker.aliceToken)
            #expect(r.status == .conflict)
            #expect(try r.json()["code"] as? String == "no-capabilities-url")
            #expect(try r.errorFields() == ["endpoints"])
            #expect((try r.json()["detail"] as? String)?.contains("provenance.capabilities") == true)
        }
    }

    @Test(arguments: [
        ("broken", "capabilities-unavailable", "HTTP 500"),
        ("html", "capabilities-unavailable", "HTML"),
        ("moved", "capabilities-unavailable", "302"),
        ("vosi-only", "capabilities-unusable", "no-executable-capability"),
        ("refused", "capabilities-unavailable", "connect"),
    ])
    func aFailingServiceIsABadGatewayAndChangesNothing(_ path: String, _ code: String, _ says: String) async throws {
        let service = try await VOSIService.start()
        defer { service.stop() }
        try await withRefreshingBroker { client, _ in
            let jobs = path == "refused" ? "http://127.0.0.1:1/tap/async" : service.base + "/\(path)/async"
            #expect(try await client.send(.post, "/facilities", json: uwsFacility("f", url: jobs), token: TestBroker.aliceToken).status == .created)
            let before = try await client.send(.get, "/facilities/f").text
            let r = try await client.send(.post, "/facilities/f/refresh", token: TestBroker.aliceToken)
            #expect(r.status == .badGateway, "\(r.text)")
            #expect(try r.json()["code"] as? String == code)
            #expect((try r.json()["detail"] as? String)?.contains(says) == true, "\(r.text)")
            #expect(try r.errorFields() == ["capabilities"])
            #expect(try await client.send(.get, "/facilities/f").text == before)
        }
    }

    @Test func withoutACapabilitiesReaderRefreshingIsUnavailable() async throws {
        try await TestBroker().run { client in
            #expect(try await client.send(.post, "/facilities", json: facilityJSON(), token: TestBroker.aliceToken).status == .created)
            let r = try await client.send(.post, tapPath + "/refresh", token: TestBroker.aliceToken)
            #expect(r.status == .serviceUnavailable)
            #expect(try r.json()["code"] as? String == "refresh-unavailable")
        }
    }

    @Test(.enabled(if: TestPeers.run(ForwardingIntegrationTests.dachs != nil), "DaCHS not started (SKYPORT_TEST_DACHS_URL unset: scripts/peers.sh start dachs)"))
    func theRealDaCHSRefreshesItsFacility() async throws {
        let jobs = try TestPeers.requireDaCHS().absoluteString
        try await withRefreshingBroker { client, _ in
            #expect(try await client.send(.post, "/facilities", json: uwsFacility("dachs", url: jobs), token: TestBroker.aliceToken).status == .created)
            let r = try await client.send(.post, "/facilities/dachs/refresh", token: TestBroker.aliceToken)
            #expect(r.status == .ok, "\(r.text)")
            let provenance = try #require(try r.json()["provenance"] as? [String: Any])
            #expect(provenance["refreshed"] as? String != nil)
            let fields = try #require(provenance["fields"] as? [String: [String: Any]])
            #expect(fields["endpoints"]?["source"] as? String == "operator")
            #expect(try r.json()["accepts"] as? [String] == ["tap-query"])
        }
    }
}

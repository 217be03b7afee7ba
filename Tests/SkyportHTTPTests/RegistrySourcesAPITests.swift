import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SkyportBroker
import SkyportCore
import SkyportHTTP
import SkyportRemotes
import SkyportServices
import SkyportStore
import SkyportTestSupport
import Testing

@Suite struct RegistrySourcesAPITests {
    static let url = "http://registry.example/oai.xml"
    static let path = "/registry/sources/http%3A%2F%2Fregistry.example%2Foai.xml"

    @Test func everyRouteNeedsAnOperatorToken() async throws {
        try await TestBroker().run { client in
            let list = try await client.send(.get, "/registry/sources")
            #expect(list.status == .unauthorized)
            let add = try await client.send(.post, "/registry/sources", json: #"{"url": "\#(Self.url)"}"#)
            #expect(add.status == .unauthorized)
            let unknown = try await client.send(.post, "/registry/sources", json: #"{"url": "\#(Self.url)"}"#, token: "skp_nobody")
            #expect(unknown.status == .unauthorized)
            let delete = try await client.send(.delete, Self.path)
            #expect(delete.status == .unauthorized)
            let allowed = try await client.send(.get, "/registry/sources", token: TestBroker.aliceToken)
            #expect(allowed.status == .ok)
            #expect(try allowed.json()["count"] as? Int == 0)
        }
    }

    @Test(arguments: [
        (#"{"url": "ftp://registry.example/oai"}"#, ["url"]), (#"{"url": "registry.example/oai.xml"}"#, ["url"]), (#"{"url": 42}"#, ["url"]),
        (#"{"address": "http://registry.example/oai.xml"}"#, ["url"]), (#"["http://registry.example/oai.xml"]"#, ["body"]),
        (#"{"url": "http://user:secret@registry.example/oai.xml"}"#, ["url"]), (#"{"url": " http://registry.example/oai.xml "}"#, ["url"]),
    ])
    func aBadURLIsA422NamingURL(body: String, fields: [String]) async throws {
        try await TestBroker().run { client in
            let response = try await client.send(.post, "/registry/sources", json: body, token: TestBroker.aliceToken)
            #expect(response.status == .unprocessableContent, "\(response.text)")
            #expect(try response.errorFields() == fields)
        }
    }

    @Test func addListAndDelete() async throws {
        let store = InMemoryStore()
        try await TestBroker(store: store).run { client in
            let created = try await client.send(.post, "/registry/sources", yaml: "url: \(Self.url)\n", token: TestBroker.aliceToken)
            #expect(created.status == .created, "\(created.text)")
            #expect(created.headers[.location] == Self.path)
            let body = try created.json()
            #expect(body["url"] as? String == Self.url)
            #expect(body["addedBy"] as? String == "alice")
            #expect(body["added"] is String)
            #expect(body["lastHarvest"] == nil)

            // Adding it again (by anyone) changes nothing.
            let again = try await client.send(.post, "/registry/sources", json: #"{"url": "\#(Self.url)"}"#, token: TestBroker.bobToken)
            #expect(again.status == .ok)
            #expect(try again.json()["addedBy"] as? String == "alice")

            try await store.recordHarvest(url: Self.url, attempt: Date(timeIntervalSince1970: 1_800_000_000), completed: nil, result: "failed: down")
            _ = try await client.send(.post, "/registry/sources", json: #"{"url": "https://b.example/oai"}"#, token: TestBroker.bobToken)
            let list = try await client.send(.get, "/registry/sources", token: TestBroker.bobToken)
            #expect(list.status == .ok)
            let listed = try list.json()
            #expect(listed["count"] as? Int == 2)
            let sources = try #require(listed["sources"] as? [[String: Any]])
            #expect(sources.map { $0["url"] as? String } == [Self.url, "https://b.example/oai"])
            #expect(sources[0]["lastResult"] as? String == "failed: down")
            #expect(sources[0]["lastAttempt"] as? String == "2027-01-15T08:00:00Z")

            // Only the operator who added a source removes it.
            let notBobs = try await client.send(.delete, Self.path, token: TestBroker.bobToken)
            #expect(notBobs.status == .forbidden)
            #expect(try notBobs.json()["code"] as? String == "forbidden")
            #expect(try await client.send(.delete, Self.path, token: TestBroker.aliceToken).status == .noContent)
            #expect(try await client.send(.delete, Self.path, token: TestBroker.aliceToken).status == .notFound)
            #expect(try await store.registrySources().map(\.url) == ["https://b.example/oai"])
        }
    }

    @Test(.timeLimit(.minutes(1))) func addingASourceRingsTheHarvestSignal() async throws {
        let store = InMemoryStore()
        try await store.insertOperator(OperatorRecord(name: "alice", created: Date()), tokenHash: OperatorToken.hash(TestBroker.aliceToken))
        let signal = WorkSignal()
        let deps = APIDependencies(broker: Broker(store: store, registryHarvests: signal), metrics: .init(), version: "test")
        let app = Application(router: SkyportRouter.build(deps).router)
        try await app.test(.router) { client in
            let created = try await client.send(.post, "/registry/sources", json: #"{"url": "\#(Self.url)"}"#, token: TestBroker.aliceToken)
            #expect(created.status == .created)
        }
        // The ring was kept for the next wait: it returns at once rather than after an hour (past the time limit).
        await signal.wait(upTo: .seconds(3600))
    }

    /// The real DaCHS peer's OAI-PMH endpoint (its TAP job list's origin + `/oai.xml`), added as a source and
    /// harvested: its TAP service becomes a facility.
    @Test(.enabled(if: TestPeers.run(TestPeers.dachs != nil), "DaCHS is not running: start it with scripts/peers.sh (the test command does)"))
    func harvestsTheRealDaCHSRegistryAddedOverHTTP() async throws {
        let tap = try TestPeers.requireDaCHS()
        var parts = try #require(URLComponents(url: tap, resolvingAgainstBaseURL: false))
        parts.path = "/oai.xml"
        parts.query = nil
        let oai = try #require(parts.url).absoluteString
        let store = InMemoryStore()
        let broker = try await TestBroker(store: store)
        let client = Egress(policy: .loopback, resolver: TestResolver())
        do {
            let harvester = OAIHarvester(http: RemoteHTTP(egress: client, purpose: .registry, timeout: .seconds(60)))
            var logger = Logger(label: "registry-harvest-dachs")
            logger.logLevel = .warning
            let service = RegistryHarvestService(store: store, logger: logger, egress: .loopback) { url, from, page in
                for try await p in harvester.pages(baseURL: url, from: from) { try await page(p.records) }
            }
            try await broker.run { http in
                let created = try await http.send(.post, "/registry/sources", json: #"{"url": "\#(oai)"}"#, token: TestBroker.aliceToken)
                #expect(created.status == .created, "\(created.text)")
                await service.round()
                let listed = try await http.send(.get, "/registry/sources", token: TestBroker.aliceToken).json()
                let source = try #require((listed["sources"] as? [[String: Any]])?.first)
                #expect((source["lastResult"] as? String)?.hasPrefix("ok") == true, "\(source)")
                #expect(source["lastHarvest"] is String)
                let facility = try await http.send(.get, "/facilities/ivo%3A%2F%2Fskyport.test%2Ftap")
                #expect(facility.status == .ok, "\(facility.text)")
                let body = try facility.json()
                #expect(body["owner"] as? String == "registry")
                let endpoints = try #require(body["endpoints"] as? [[String: Any]])
                #expect(endpoints.first?["url"] as? String == tap.absoluteString)
                // A second run is incremental and keeps the facility.
                let run = try #require(try await service.harvestNow(oai))
                #expect(run.succeeded && run.from != nil, "\(run.summary)")
                #expect(try await http.send(.get, "/facilities/ivo%3A%2F%2Fskyport.test%2Ftap").status == .ok)
            }
            await client.shutdown()
        } catch {
            await client.shutdown()
            throw error
        }
    }

    @Test func aSourceFromTheConfigurationIsNoOperatorsToRemove() async throws {
        let store = InMemoryStore()
        try await store.upsertRegistrySource(RegistrySource(url: Self.url, addedBy: "registry", added: Date()))
        try await TestBroker(store: store).run { client in
            let r = try await client.send(.delete, Self.path, token: TestBroker.aliceToken)
            #expect(r.status == .forbidden)
            #expect(try r.json()["detail"] as? String ?? "" == "registry source '\(Self.url)' comes from the broker's configuration (SKYPORT_REGISTRY_SOURCES): it is removed there")
        }
        #expect(try await store.registrySources().count == 1)
    }
}

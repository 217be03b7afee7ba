import Foundation
import HummingbirdTesting
import SkyportApp
import SkyportCore
import SkyportStore
import SkyportTestSupport
import Testing

/// Two brokers on one PostgreSQL schema, as replicas behind a load balancer: what one is told, the other serves.
@Suite(.enabled(if: TestPeers.run(TestPeers.postgres != nil)))
struct ReplicaAPITests {
    @Test func replicasServeOneAnothersOffersAndSayWhoTheyAre() async throws {
        let url = try TestPeers.postgresSchemaURL()
        var first = try await TestBroker(store: try await PostgresStore.open(url: url, replica: "one"))
        var second = try await TestBroker(store: try await PostgresStore.open(url: url, replica: "two"))
        first.config.replicaID = "one"
        second.config.replicaID = "two"
        let other = second
        try await first.run { a in
            try await other.run { b in
                let health = try await b.send(.get, "/health").json()
                #expect(health["replica"] as? String == "two")
                #expect((health["store"] as? [String: Any])?["kind"] as? String == "postgres")
                // Facilities registered and offers made at one replica; read, accepted and refused at the other.
                let list = try await a.siblingOffers()
                let accepted = try await b.setPhase(sessionURL(list[1]), "ACCEPTED")
                #expect(accepted.status == .ok)
                let again = try await a.setPhase(sessionURL(list[2]), "ACCEPTED")
                #expect(again.status == .conflict)
                #expect(try again.json()["code"] as? String == "offer-set-already-accepted")
                let set = try await a.send(.get, try #require(URL(string: list[0]["offerset"] as? String ?? "")?.path)).json()
                #expect(offers(set).map { $0["phase"] as? String ?? "" }.filter { $0 == "ACCEPTED" }.count == 1)
            }
        }
    }

    @Test func aPostgreSQLStoreNeedsTheKeyEveryReplicaShares() async throws {
        var config = SkyportConfiguration()
        config.database = "postgres://skyport@127.0.0.1:1/skyport"
        #expect(throws: SkyportConfiguration.Invalid.self) { _ = try SkyportRuntime.makeSealer(config) }
        do {
            _ = try SkyportRuntime.makeSealer(config)
        } catch {
            #expect(String(describing: error).contains("SKYPORT_SECRET_KEY"))
        }
        // A malformed URL or schema is refused naming what is wrong, before any connection.
        for bad in ["postgres://127.0.0.1/skyport", "postgres://u@127.0.0.1/", "postgres://u@127.0.0.1/db?schema=a;drop", "postgres://u@h/db?sslmode=maybe"] {
            config.database = bad
            await #expect(throws: StoreError.self, "\(bad)") { _ = try await SkyportRuntime.openStore(config) }
        }
        #expect(throws: SkyportConfiguration.Invalid.self) { _ = try SkyportConfiguration.fromEnvironment(["SKYPORT_REPLICA_ID": "a b"]) }
    }
}

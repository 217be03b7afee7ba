import Foundation
import SkyportCore
import SkyportStore
import Testing

/// The registry source store's contract, run against every kind of store.
@Suite struct RegistrySourceStoreContractTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func source(_ url: String, by name: String = "alice") -> RegistrySource {
        RegistrySource(url: url, addedBy: name, added: now)
    }

    @Test(arguments: StoreKind.allCases)
    func storedSourceComesBackWholeAndUpsertReplaces(kind: StoreKind) async throws {
        let store = try await kind.make()
        #expect(try await store.registrySources().isEmpty)
        var whole = source("http://registry.example/oai.xml")
        whole.lastHarvest = now.addingTimeInterval(10.5)
        whole.lastAttempt = now.addingTimeInterval(10.5)
        whole.lastResult = "ok: 3 records"
        try await store.upsertRegistrySource(whole)
        #expect(try await store.registrySource("http://registry.example/oai.xml") == whole)
        #expect(try await store.registrySource("http://registry.example/other") == nil)
        // URLs are compared exactly.
        #expect(try await store.registrySource("HTTP://REGISTRY.EXAMPLE/oai.xml") == nil)

        var replaced = whole
        replaced.addedBy = "bob"
        replaced.lastResult = nil
        try await store.upsertRegistrySource(replaced)
        #expect(try await store.registrySources() == [replaced])
    }

    @Test(arguments: StoreKind.allCases)
    func listsByURLAndDeletes(kind: StoreKind) async throws {
        let store = try await kind.make()
        try await store.upsertRegistrySource(source("https://b.example/oai"))
        try await store.upsertRegistrySource(source("http://a.example/oai"))
        try await store.upsertRegistrySource(source("https://a.example/oai"))
        #expect(try await store.registrySources().map(\.url) == ["http://a.example/oai", "https://a.example/oai", "https://b.example/oai"])
        #expect(try await store.deleteRegistrySource("https://a.example/oai"))
        #expect(try await !store.deleteRegistrySource("https://a.example/oai"))
        #expect(try await store.registrySources().map(\.url) == ["http://a.example/oai", "https://b.example/oai"])
    }

    @Test(arguments: StoreKind.allCases)
    func recordHarvestAdvancesLastHarvestOnlyOnSuccess(kind: StoreKind) async throws {
        let store = try await kind.make()
        let url = "http://registry.example/oai.xml"
        try await store.upsertRegistrySource(source(url))
        let first = now.addingTimeInterval(60)
        try await store.recordHarvest(url: url, attempt: first, completed: first, result: "ok: 5 records")
        var got = try #require(try await store.registrySource(url))
        #expect(got.lastHarvest == first && got.lastAttempt == first && got.lastResult == "ok: 5 records")
        #expect(got.addedBy == "alice" && got.added == now)

        let second = now.addingTimeInterval(3_660)
        try await store.recordHarvest(url: url, attempt: second, completed: nil, result: "failed: the registry is down")
        got = try #require(try await store.registrySource(url))
        #expect(got.lastHarvest == first)
        #expect(got.lastAttempt == second)
        #expect(got.lastResult == "failed: the registry is down")

        await #expect(throws: StoreError.notFound("registry source http://missing.example/oai")) {
            try await store.recordHarvest(url: "http://missing.example/oai", attempt: second, completed: second, result: "ok")
        }
    }

    @Test func sqliteSourcesSurviveReopening() async throws {
        let path = TemporaryFile.path("registry.sqlite")
        let url = "http://registry.example/oai.xml"
        do {
            let store = try SQLiteStore(path: path)
            try await store.upsertRegistrySource(source(url))
            try await store.recordHarvest(url: url, attempt: now, completed: now, result: "ok")
        }
        let again = try SQLiteStore(path: path)
        #expect(try again.appliedMigrations().contains("v6-create-registry-source"))
        #expect(try await again.registrySource(url)?.lastHarvest == now)
    }
}

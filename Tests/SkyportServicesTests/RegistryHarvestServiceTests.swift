import Foundation
import Logging
import SkyportCore
import SkyportServices
import SkyportStore
import Synchronization
import Testing

/// A stand-in registry: answers each harvest with the pages (or the failure) the test set, and remembers what it was asked.
private final class FakeRegistry: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private let state = Mutex<(pages: [[OAIRecord]], failAfterPages: Int?, calls: [(url: String, from: Date?)])>(([], nil, []))

    /// The next harvests return `pages`; with `failAfter`, they throw after handing over that many pages.
    func answer(_ pages: [[OAIRecord]], failAfter: Int? = nil) { state.withLock { $0.pages = pages; $0.failAfterPages = failAfter } }
    var calls: [(url: String, from: Date?)] { state.withLock { $0.calls } }

    func harvest(_ url: URL, _ from: Date?, _ page: ([OAIRecord]) async throws -> Void) async throws {
        let (pages, failAfter) = state.withLock { s in
            s.calls.append((url.absoluteString, from))
            return (s.pages, s.failAfterPages)
        }
        for (n, records) in pages.enumerated() {
            if n == failAfter { break }
            try await page(records)
        }
        if failAfter != nil { throw Failure(description: "OAI-PMH error badResumptionToken: the token expired") }
    }
}

private final class Clock: Sendable {
    let date = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { date.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { date.withLock { $0 += seconds } }
}

@Suite struct RegistryHarvestServiceTests {
    static let url = "http://registry.example/oai.xml"

    static func tap(_ id: String, url: String = "http://a.example/tap", deleted: Bool = false) -> OAIRecord {
        let capability = RegistryCapability(
            standardID: "ivo://ivoa.net/std/TAP",
            interfaces: [RegistryInterface(
                type: QualifiedName(namespace: "http://www.ivoa.net/xml/VODataService/v1.1", local: "ParamHTTP"), role: "std",
                accessURLs: [AccessURL(url: url, use: .base)])])
        return OAIRecord(
            header: OAIRecordHeader(identifier: id, isDeleted: deleted),
            resource: deleted ? nil : RegistryResource(ivoid: FacilityID(id), title: "TAP \(id)", status: .active, capabilities: [capability]))
    }

    fileprivate static func make(
        _ store: InMemoryStore, _ registry: FakeRegistry, _ clock: Clock, signal: WorkSignal? = nil, egress: EgressPolicy = .loopback
    ) -> RegistryHarvestService {
        var settings = RegistryHarvestService.Settings()
        settings.period = .seconds(3600)
        settings.retryPeriod = .seconds(300)
        settings.overlap = 60
        var logger = Logger(label: "registry-harvest-test")
        logger.logLevel = .critical
        return RegistryHarvestService(
            store: store, settings: settings, signal: signal, logger: logger, egress: egress, now: { clock.now },
            harvest: { url, from, page in try await registry.harvest(url, from, page) })
    }

    fileprivate static func addSource(_ store: InMemoryStore, _ clock: Clock) async throws {
        try await store.upsertRegistrySource(RegistrySource(url: url, addedBy: "alice", added: clock.now))
    }

    @Test func firstRunIsFullAndTheNextAsksFromTheLastSuccessLessTheOverlap() async throws {
        let (store, registry, clock) = (InMemoryStore(), FakeRegistry(), Clock())
        let service = Self.make(store, registry, clock)
        try await Self.addSource(store, clock)
        registry.answer([[Self.tap("ivo://a.example/tap")], [Self.tap("ivo://b.example/tap", url: "http://b.example/tap")]])

        let started = clock.now
        await service.round()
        #expect(registry.calls.count == 1)
        #expect(registry.calls.first?.url == Self.url)
        #expect(registry.calls.first?.from == nil)
        let a = try #require(try await store.facility(FacilityID("ivo://a.example/tap")))
        #expect(a.owner == "registry" && a.status == .active)
        #expect(a.endpoints == [Endpoint(kind: .uws, url: "http://a.example/tap/async")])
        #expect(try await store.facility(FacilityID("ivo://b.example/tap")) != nil)
        var source = try #require(try await store.registrySource(Self.url))
        #expect(source.lastHarvest == started && source.lastAttempt == started)
        #expect(source.lastResult?.hasPrefix("ok") == true)
        #expect(source.lastResult?.contains("2 records in 2 pages (2 added, 0 updated, 0 disabled, 0 skipped)") == true)

        // Not due again before the period has passed.
        clock.advance(60)
        await service.round()
        #expect(registry.calls.count == 1)

        // Due after it: incremental, from the last success less a minute.
        clock.advance(3_600)
        registry.answer([[Self.tap("ivo://a.example/tap", url: "http://a.example/tap2")]])
        let run = try #require(try await service.harvestNow(Self.url))
        #expect(run.succeeded && run.from == started.addingTimeInterval(-60))
        #expect(registry.calls.last?.from == started.addingTimeInterval(-60))
        #expect(try await store.facility(FacilityID("ivo://a.example/tap"))?.endpoints.first?.url == "http://a.example/tap2/async")
        source = try #require(try await store.registrySource(Self.url))
        #expect(source.lastHarvest == clock.now)
        #expect(try await service.harvestNow("http://unknown.example/oai") == nil)
    }

    @Test func aFailedRunKeepsLastHarvestAndTheFacilities() async throws {
        let (store, registry, clock) = (InMemoryStore(), FakeRegistry(), Clock())
        let service = Self.make(store, registry, clock)
        try await Self.addSource(store, clock)
        registry.answer([[Self.tap("ivo://a.example/tap"), Self.tap("ivo://b.example/tap", url: "http://b.example/tap")]])
        let firstSuccess = clock.now
        await service.round()
        let before = try await store.facilities(FacilityQuery())
        #expect(before.count == 2)

        // The registry fails straight away (down, malformed XML, an OAI-PMH error: all throw).
        clock.advance(3_700)
        registry.answer([[Self.tap("ivo://a.example/tap", deleted: true)]], failAfter: 0)
        let failed = try #require(try await service.harvestNow(Self.url))
        #expect(!failed.succeeded)
        #expect(failed.error?.contains("badResumptionToken") == true)
        #expect(try await store.facilities(FacilityQuery()) == before)
        var source = try #require(try await store.registrySource(Self.url))
        #expect(source.lastHarvest == firstSuccess)
        #expect(source.lastAttempt == clock.now)
        #expect(source.lastResult?.hasPrefix("failed") == true && source.lastResult?.contains("badResumptionToken") == true)

        // Failing mid-way: the pages read before stay applied (valid records), nothing else changes,
        // and the next run still asks from the last success.
        clock.advance(10)
        registry.answer([[Self.tap("ivo://c.example/tap", url: "http://c.example/tap")], [Self.tap("ivo://b.example/tap", deleted: true)]], failAfter: 1)
        let midway = try #require(try await service.harvestNow(Self.url))
        #expect(!midway.succeeded && midway.tally.records == 1)
        #expect(midway.from == firstSuccess.addingTimeInterval(-60))
        #expect(try await store.facility(FacilityID("ivo://c.example/tap")) != nil)
        #expect(try await store.facility(FacilityID("ivo://b.example/tap"))?.status == .active)
        source = try #require(try await store.registrySource(Self.url))
        #expect(source.lastHarvest == firstSuccess)

        // A failed source is retried after the retry period, not a whole period.
        registry.answer([])
        let calls = registry.calls.count
        clock.advance(100)
        await service.round()
        #expect(registry.calls.count == calls)
        clock.advance(300)
        await service.round()
        #expect(registry.calls.count == calls + 1)
        #expect(registry.calls.last?.from == firstSuccess.addingTimeInterval(-60))
        #expect(try await store.registrySource(Self.url)?.lastHarvest == clock.now)
    }

    @Test func aDeletedRecordDisablesItsFacility() async throws {
        let (store, registry, clock) = (InMemoryStore(), FakeRegistry(), Clock())
        let service = Self.make(store, registry, clock)
        try await Self.addSource(store, clock)
        registry.answer([[Self.tap("ivo://a.example/tap"), Self.tap("ivo://b.example/tap", url: "http://b.example/tap")]])
        await service.round()

        clock.advance(3_700)
        registry.answer([[Self.tap("ivo://a.example/tap", deleted: true), Self.tap("ivo://gone.example/tap", deleted: true)]])
        let run = try #require(try await service.harvestNow(Self.url))
        #expect(run.succeeded)
        #expect(run.tally.counts[.disabled] == 1 && run.tally.counts[.skipped] == 1)
        let a = try #require(try await store.facility(FacilityID("ivo://a.example/tap")))
        #expect(a.status == .disabled)
        #expect(try await store.facility(FacilityID("ivo://b.example/tap"))?.status == .active)
        #expect(try await store.facility(FacilityID("ivo://gone.example/tap")) == nil)
    }

    /// A registry record is another party's word: an endpoint on an internal address (in any spelling) never becomes a
    /// facility the broker would call, however the registry that served it was configured.
    @Test func recordsNamingInternalAddressesAreSkippedWhenApplied() async throws {
        let (store, registry, clock) = (InMemoryStore(), FakeRegistry(), Clock())
        let service = Self.make(store, registry, clock, egress: EgressPolicy())
        try await Self.addSource(store, clock)
        let inside = ["http://169.254.169.254/latest/meta-data", "http://10.0.0.7/tap", "http://2130706433/tap", "http://[::ffff:192.168.1.1]/tap",
                        "http://localhost:8080/tap", "file:///etc/passwd"]
        registry.answer([inside.enumerated().map { Self.tap("ivo://internal\($0.offset).example/tap", url: $0.element) }
                         + [Self.tap("ivo://public.example/tap", url: "https://public.example/tap")]])
        let run = try #require(try await service.harvestNow(Self.url))
        #expect(run.succeeded)
        #expect(run.tally.counts[.skipped] == inside.count && run.tally.counts[.added] == 1, "\(run.tally)")
        for n in inside.indices { #expect(try await store.facility(FacilityID("ivo://internal\(n).example/tap")) == nil) }
        #expect(try await store.facility(FacilityID("ivo://public.example/tap"))?.endpoints.first?.url == "https://public.example/tap/async")

        // A facility already known is not moved to an internal address by a later record either.
        clock.advance(3_700)
        registry.answer([[Self.tap("ivo://public.example/tap", url: "http://10.1.2.3/tap")]])
        let again = try #require(try await service.harvestNow(Self.url))
        #expect(again.tally.counts[.skipped] == 1)
        #expect(try await store.facility(FacilityID("ivo://public.example/tap"))?.endpoints.first?.url == "https://public.example/tap/async")
    }

    @Test func aNewSourceIsHarvestedAsSoonAsTheSignalRings() async throws {
        let (store, registry, clock) = (InMemoryStore(), FakeRegistry(), Clock())
        let signal = WorkSignal()
        let service = Self.make(store, registry, clock, signal: signal)
        registry.answer([[Self.tap("ivo://a.example/tap")]])
        let task = Task { try await service.run() }
        defer { task.cancel() }
        // The service has no source yet: it waits (up to an hour) for the signal.
        try await Task.sleep(for: .milliseconds(100))
        #expect(registry.calls.isEmpty)
        try await Self.addSource(store, clock)
        signal.ring()
        let deadline = ContinuousClock.now + .seconds(60)
        while try await store.facility(FacilityID("ivo://a.example/tap")) == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await store.facility(FacilityID("ivo://a.example/tap")) != nil)
        #expect(registry.calls.count == 1)
    }

    @Test func harvestsRecordTheirSourceAndKeepWhatAnOperatorWrote() async throws {
        let (store, registry, clock) = (InMemoryStore(), FakeRegistry(), Clock())
        let service = Self.make(store, registry, clock)
        try await Self.addSource(store, clock)
        // alice registered b.example herself; the registry also describes it.
        let alices = Facility(
            id: FacilityID("ivo://b.example/tap"), name: "Alice's TAP", endpoints: [Endpoint(kind: .uws, url: "http://alice.example/tap/async")],
            accepts: [.tapQuery], limits: FacilityLimits(cores: 2), owner: "alice", created: clock.now, modified: clock.now)
        try await store.insertFacility(Facility.written(alices, fields: [.name, .endpoints, .accepts, .limitsCores], by: "alice", over: nil, at: clock.now))
        var a = Self.tap("ivo://a.example/tap")
        a.header.datestamp = Date(timeIntervalSince1970: 1_700_000_000)
        registry.answer([[a, Self.tap("ivo://b.example/tap", url: "http://b.example/tap")]])
        await service.round()

        let harvested = try #require(try await store.facility(FacilityID("ivo://a.example/tap"))?.provenance)
        #expect(harvested.registry == FacilityProvenance.RegistryRecord(source: Self.url, identifier: "ivo://a.example/tap", datestamp: a.header.datestamp))
        #expect(harvested.lastHarvested == clock.now)
        #expect(harvested[.endpoints] == FacilityProvenance.Origin(.registry, by: Self.url, at: clock.now))

        let b = try #require(try await store.facility(FacilityID("ivo://b.example/tap")))
        #expect(b.name == "Alice's TAP" && b.endpoints == alices.endpoints && b.owner == "alice")
        #expect(b.description.isEmpty && b.provenance?[.description]?.source == .registry, "what alice left out follows the registry")
        #expect(b.provenance?.lastHarvested == clock.now)

        // The registry deletes a.example: disabled, the registry named as the source of its status.
        clock.advance(3_700)
        registry.answer([[Self.tap("ivo://a.example/tap", deleted: true)]])
        _ = try await service.harvestNow(Self.url)
        let deleted = try #require(try await store.facility(FacilityID("ivo://a.example/tap")))
        #expect(deleted.status == .disabled)
        #expect(deleted.provenance?[.status] == FacilityProvenance.Origin(.registry, by: Self.url, at: clock.now))
        #expect(deleted.provenance?.lastHarvested == clock.now)
    }
}

import Foundation
import Synchronization
import SkyportCore
import SkyportStore
import SkyportTestSupport
import Testing

/// The kinds of store every contract test runs against. PostgreSQL is the throwaway cluster the test command starts
/// (`scripts/postgres.sh`, SKYPORT_TEST_POSTGRES_URL): each store gets a schema of its own.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible {
    case memory
    case sqliteFile
    case sqliteInMemory
    case postgres

    static var allCases: [StoreKind] {
        [.memory, .sqliteFile, .sqliteInMemory] + (TestPeers.run(TestPostgres.url != nil) ? [.postgres] : [])
    }

    var testDescription: String { rawValue }

    func make() async throws -> any BrokerStore {
        switch self {
        case .memory: return InMemoryStore()
        case .sqliteFile: return try SQLiteStore(path: TemporaryFile.path("contract.sqlite"))
        case .sqliteInMemory: return try SQLiteStore(path: ":memory:")
        case .postgres: return try await TestPostgres.store()
        }
    }
}

/// The test cluster (`scripts/postgres.sh start`; the test command starts it).
enum TestPostgres {
    static var url: String? { TestPeers.postgres }
    static func freshURL() throws -> String { try TestPeers.postgresSchemaURL() }

    /// A store on a new schema; with `url`, one more replica on that schema.
    static func store(_ url: String? = nil, replica: String? = nil) async throws -> PostgresStore {
        try await PostgresStore.open(url: try url ?? freshURL(), replica: replica)
    }
}

enum TemporaryFile {
    /// A path in a fresh temporary directory.
    static func path(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skyport-tests-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }
}

func sampleFacility(
    _ id: String = "ivo://example.org/tap", owner: String = "alice", accepts: [ExecutableKind] = [.tapQuery],
    status: FacilityStatus = .active
) -> Facility {
    Facility.sample(
        id, name: "Example \(id)", description: "a facility", status: status, endpoints: [Endpoint(kind: .uws, url: "http://127.0.0.1:8080/tap/async")],
        accepts: accepts, limits: FacilityLimits(cores: 4, memory: 8, duration: ISODuration("PT2H")), capacity: FacilityCapacity(cores: 16, memory: 64),
        rses: ["SKA_SRC_01"], owner: owner, at: TestDates.epoch, modified: TestDates.epoch.addingTimeInterval(1))
}

@Suite struct StoreContractTests {
    /// A facility's provenance lives in its JSON document: no column, no migration.
    @Test(arguments: StoreKind.allCases)
    func provenanceIsKeptWithTheFacility(kind: StoreKind) async throws {
        let store = try await kind.make()
        let t = Date(timeIntervalSince1970: 1_790_000_000)
        var facility = sampleFacility()
        facility.provenance = FacilityProvenance(
            fields: ["name": .init(.registry, by: "http://registry.example/oai.xml", at: t), "limits.cores": .init(.operator, by: "alice", at: t)],
            registry: .init(source: "http://registry.example/oai.xml", identifier: "ivo://example.org/tap", datestamp: t),
            lastHarvested: t, capabilities: "http://127.0.0.1:8080/tap/capabilities", refreshed: t)
        try await store.insertFacility(sampleFacility())
        #expect(try await store.facility(facility.id)?.provenance == nil)
        try await store.replaceFacility(facility)
        #expect(try await store.facility(facility.id) == facility)
        #expect(try await store.facilityJSON(facility.id)?.contains(#""lastHarvested":"2026-09-21T"#) == true)
        #expect(try await store.facilities(FacilityQuery()).first?.provenance == facility.provenance)
    }

    @Test(arguments: StoreKind.allCases)
    func storedFacilityComesBackWhole(kind: StoreKind) async throws {
        // Given a store with one facility
        let store = try await kind.make()
        let facility = sampleFacility()
        try await store.insertFacility(facility)
        // When it is read back, under any spelling of its identifier
        let same = try await store.facility(FacilityID("IVO://EXAMPLE.ORG/TAP"))
        // Then it is the same value, the first spelling kept
        #expect(same == facility)
        #expect(same?.id.rawValue == "ivo://example.org/tap")
        #expect(try await store.facility(FacilityID("ivo://example.org/other")) == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func duplicateIdentifierIsRefusedWhateverItsCase(kind: StoreKind) async throws {
        let store = try await kind.make()
        try await store.insertFacility(sampleFacility("ivo://example.org/tap"))
        await #expect(throws: StoreError.duplicate("facility ivo://Example.ORG/tap")) {
            try await store.insertFacility(sampleFacility("ivo://Example.ORG/tap", owner: "bob"))
        }
        // The first one is untouched.
        #expect(try await store.facility(FacilityID("ivo://example.org/tap"))?.owner == "alice")
    }

    @Test(arguments: StoreKind.allCases)
    func listFiltersByKindAndStatusInIdentifierOrder(kind: StoreKind) async throws {
        let store = try await kind.make()
        try await store.insertFacility(sampleFacility("c-binder", accepts: [.jupyterNotebook, .binderNotebook]))
        try await store.insertFacility(sampleFacility("a-tap", accepts: [.tapQuery]))
        try await store.insertFacility(sampleFacility("b-tap", accepts: [.tapQuery], status: .draining))

        #expect(try await store.facilities(FacilityQuery()).map(\.id.rawValue) == ["a-tap", "b-tap", "c-binder"])
        #expect(try await store.facilities(FacilityQuery(accepts: .tapQuery)).map(\.id.rawValue) == ["a-tap", "b-tap"])
        #expect(try await store.facilities(FacilityQuery(accepts: .binderNotebook)).map(\.id.rawValue) == ["c-binder"])
        #expect(try await store.facilities(FacilityQuery(status: .draining)).map(\.id.rawValue) == ["b-tap"])
        #expect(try await store.facilities(FacilityQuery(accepts: .tapQuery, status: .active)).map(\.id.rawValue) == ["a-tap"])
        #expect(try await store.facilities(FacilityQuery(accepts: .dockerContainer)).isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func replaceChangesEverythingAndMissingIsNotFound(kind: StoreKind) async throws {
        let store = try await kind.make()
        try await store.insertFacility(sampleFacility())
        var changed = sampleFacility()
        changed.name = "Renamed"
        changed.status = .disabled
        changed.accepts = [.dockerContainer]
        _ = try await store.matchIndex()  // a store that keeps its index must not keep it past a change
        try await store.replaceFacility(changed)
        #expect(try await store.facility(changed.id) == changed)
        #expect(try await store.matchIndex().facilities == [changed])
        #expect(try await store.facilities(FacilityQuery(accepts: .tapQuery)).isEmpty)
        #expect(try await store.facilities(FacilityQuery(status: .disabled)).count == 1)

        await #expect(throws: StoreError.self) { try await store.replaceFacility(sampleFacility("nowhere")) }
        #expect(try await store.facility(FacilityID("nowhere")) == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func removeDeletesOnceThenReportsNotFound(kind: StoreKind) async throws {
        let store = try await kind.make()
        try await store.insertFacility(sampleFacility())
        #expect(try await store.removeFacility(FacilityID("IVO://example.org/TAP"), now: Date()) == .removed)
        #expect(try await store.facility(FacilityID("ivo://example.org/tap")) == nil)
        #expect(try await store.removeFacility(FacilityID("ivo://example.org/tap"), now: Date()) == .notFound)
    }

    @Test(arguments: StoreKind.allCases)
    func operatorsAreFoundByTokenHashOnly(kind: StoreKind) async throws {
        let store = try await kind.make()
        let created = Date(timeIntervalSince1970: 1_790_000_000)
        try await store.insertOperator(OperatorRecord(name: "alice", created: created), tokenHash: "hash-a")
        try await store.insertOperator(OperatorRecord(name: "bob", created: created), tokenHash: "hash-b")
        #expect(try await store.operatorName(forTokenHash: "hash-a") == "alice")
        #expect(try await store.operatorName(forTokenHash: "hash-b") == "bob")
        #expect(try await store.operatorName(forTokenHash: "hash-c") == nil)
        #expect(try await store.operators().map(\.name) == ["alice", "bob"])
        #expect(try await store.operators().first?.created == created)

        await #expect(throws: StoreError.duplicate("operator alice")) {
            try await store.insertOperator(OperatorRecord(name: "alice", created: created), tokenHash: "hash-x")
        }
        #expect(try await store.removeOperator(named: "alice"))
        #expect(try await store.operatorName(forTokenHash: "hash-a") == nil)
        #expect(try await store.removeOperator(named: "alice") == false)
    }

    @Test(arguments: StoreKind.allCases)
    func canonicalDocumentsDecodeToTheStoredFacilities(kind: StoreKind) async throws {
        let store = try await kind.make()
        try await store.insertFacility(sampleFacility("b", accepts: [.jupyterNotebook]))
        try await store.insertFacility(sampleFacility("a"))
        let one = try #require(try await store.facilityJSON(FacilityID("A")))
        #expect(try CanonicalJSON.decode(Facility.self, one) == sampleFacility("a"))
        #expect(one.contains(#""created":"2026-09-21T14:13:20Z""#))
        let all = try await store.facilitiesJSON(FacilityQuery(accepts: .jupyterNotebook))
        #expect(try all.map { try CanonicalJSON.decode(Facility.self, $0) } == [sampleFacility("b", accepts: [.jupyterNotebook])])
        #expect(try await store.facilityJSON(FacilityID("zzz")) == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func pingAnswers(kind: StoreKind) async throws {
        try await kind.make().ping()
    }
}

/// An offer set of `count` offers on one facility, each booking `cores` for an hour from `start`.
func offerSetPlan(_ facility: String, count: Int, cores: Int, start: Date, now: Date, lifetime: TimeInterval = 300)
    -> @Sendable (FacilityCalendars) throws -> (OfferSetRecord, [SessionRecord])
{
    { _ in
        let set = OfferSetRecord(
            id: UUID(), created: now, expires: now.addingTimeInterval(lifetime), request: NormalisedRequest(executable: ExecutableRequest(kind: .dockerContainer)))
        let sessions = (0..<count).map { i in
            SessionRecord.sample(
                facility: facility, offerSet: set.id, created: now, lifetime: lifetime, cores: cores, start: start.addingTimeInterval(Double(i) * 3_600),
                rank: i)
        }
        return (set, sessions)
    }
}

/// The offers of a set of `offerSetPlan`'s made on `store` (none, and an issue recorded, when the set is not made).
func madeOffers(
    _ store: any BrokerStore, _ facility: String, count: Int, cores: Int, start: Date, now: Date, lifetime: TimeInterval = 300
) async throws -> [SessionRecord] {
    guard case .created(_, let offers) = try await store.createOfferSet(
        idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID(facility)], now: now,
        plan: offerSetPlan(facility, count: count, cores: cores, start: start, now: now, lifetime: lifetime))
    else { Issue.record("not created"); return [] }
    return offers
}

@Suite struct OfferStoreContractTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    /// What a facility's page lists: the offers and jobs that hold it in a window, by start; not an offer past its
    /// expiry (swept or not), a rejected one, one that starts after the window, or another facility's.
    @Test(arguments: StoreKind.allCases)
    func theSessionsHoldingAFacilityAreItsLiveOffersAndJobsInTheWindow(kind: StoreKind) async throws {
        let store = try await kind.make()
        let first = try await madeOffers(store, "a", count: 3, cores: 1, start: now, now: now, lifetime: 10)
        try #require(first.count == 3)
        _ = try await store.changePhase(of: first[1].id, to: .accepted, now: now.addingTimeInterval(5))  // its siblings are rejected
        let later = now.addingTimeInterval(5)
        let second = try await madeOffers(store, "a", count: 3, cores: 1, start: later, now: later)
        try #require(second.count == 3)
        _ = try await madeOffers(store, "b", count: 1, cores: 1, start: later, now: later)
        let t = now.addingTimeInterval(6)
        let held = try await store.holdings(of: FacilityID("a"), from: t, to: t.addingTimeInterval(5_400), limit: 10)
        #expect(held.map(\.session) == [second[0].id, first[1].id, second[1].id])
        #expect(held.map(\.phase) == [.offered, .accepted, .offered])
        // Their bookings as they were made.
        #expect(held.map(\.booking) == [second[0].booking, first[1].booking, second[1].booking])
        #expect(try await store.holdings(of: FacilityID("a"), from: t, to: t.addingTimeInterval(5_400), limit: 2).map(\.session) == [second[0].id, first[1].id])
        // Past the second set's expiry, not yet swept: the job alone.
        let past = now.addingTimeInterval(400)
        #expect(try await store.holdings(of: FacilityID("a"), from: past, to: past.addingTimeInterval(10_800), limit: 10).map(\.session) == [first[1].id])
    }

    @Test(arguments: StoreKind.allCases)
    func plannerSeesLiveBookingsOnlyOfTheNamedFacilities(kind: StoreKind) async throws {
        let store = try await kind.make()
        _ = try await store.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: now,
                                           plan: offerSetPlan("a", count: 2, cores: 3, start: now, now: now))
        _ = try await store.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("b")], now: now,
                                           plan: offerSetPlan("b", count: 1, cores: 5, start: now, now: now))
        let seen = Mutex<FacilityCalendars>([])
        _ = try await store.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("A")], now: now) { calendars in
            seen.withLock { $0 = calendars }
            return try offerSetPlan("a", count: 0, cores: 1, start: self.now, now: self.now)(calendars)
        }
        // Two offers of 3 cores on a, one after the other; nothing of b's.
        let a = try #require(seen.withLock { $0 }[FacilityID("a")])
        #expect(a.count == 2 && seen.withLock { $0 }.count == 2)
        #expect(a.peakBooked(from: now, to: now.addingTimeInterval(7_200)).cores == 3)
        #expect(seen.withLock { $0 }[FacilityID("b")] == nil)
        // After the offers expire they hold nothing.
        let later = now.addingTimeInterval(301)
        _ = try await store.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: later) { calendars in
            seen.withLock { $0 = calendars }
            return try offerSetPlan("a", count: 0, cores: 1, start: later, now: later)(calendars)
        }
        #expect(seen.withLock { $0 }.count == 0)
    }

    @Test(arguments: StoreKind.allCases)
    func acceptRejectsSiblingsAtomicallyAndExpiryIsRecorded(kind: StoreKind) async throws {
        let store = try await kind.make()
        guard case .created(let set, let offers) = try await store.createOfferSet(
            idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: now,
            plan: offerSetPlan("a", count: 3, cores: 1, start: now, now: now))
        else { Issue.record("not created"); return }
        let accepted = try await store.changePhase(of: offers[1].id, to: .accepted, now: now)
        #expect(accepted.phase == .accepted)
        let phases = try #require(try await store.offerSet(set.id)).1.map(\.phase)
        #expect(phases == [.rejected, .accepted, .rejected])
        await #expect(throws: SessionLifecycle.Refusal.siblingAccepted) {
            try await store.changePhase(of: offers[2].id, to: .accepted, now: self.now)
        }
        // A facility with a live (accepted) job is drained, not removed.
        try await store.insertFacility(sampleFacility("a"))
        #expect(try await store.removeFacility(FacilityID("a"), now: now) == .drained(liveJobs: 1))
        #expect(try await store.facility(FacilityID("a"))?.status == .draining)

        guard case .created(_, let more) = try await store.createOfferSet(
            idempotencyKey: nil, requestDigest: nil, facilities: [FacilityID("a")], now: now,
            plan: offerSetPlan("a", count: 2, cores: 1, start: now, now: now, lifetime: 10))
        else { Issue.record("not created"); return }
        await #expect(throws: SessionLifecycle.Refusal.expired) {
            try await store.changePhase(of: more[0].id, to: .accepted, now: self.now.addingTimeInterval(11))
        }
        #expect(try await store.expireOffers(now: now.addingTimeInterval(11)) == 2)
        #expect(try await store.session(more[1].id)?.phase == .expired)
        #expect(try await store.expireOffers(now: now.addingTimeInterval(12)) == 0)
    }

    @Test(arguments: StoreKind.allCases)
    func idempotencyKeyReplaysOrConflicts(kind: StoreKind) async throws {
        let store = try await kind.make()
        guard case .created(let set, _) = try await store.createOfferSet(
            idempotencyKey: "k", requestDigest: "d1", facilities: [], now: now, plan: offerSetPlan("a", count: 1, cores: 1, start: now, now: now))
        else { Issue.record("not created"); return }
        let replay = try await store.createOfferSet(
            idempotencyKey: "k", requestDigest: "d1", facilities: [], now: now, plan: offerSetPlan("a", count: 1, cores: 1, start: now, now: now))
        #expect(replay == .replayed(set.id))
        let found = try await store.offerSet(idempotencyKey: "k")
        #expect(found?.id == set.id && found?.digest == "d1")
        #expect(try await store.offerSet(idempotencyKey: "other") == nil)
        await #expect(throws: StoreError.self) {
            try await store.createOfferSet(
                idempotencyKey: "k", requestDigest: "d2", facilities: [], now: self.now, plan: offerSetPlan("a", count: 1, cores: 1, start: self.now, now: self.now))
        }
    }
}

extension OfferStoreContractTests {
    /// Other brokers' offers stored while the set is assembled: completed with the set (not written twice, in order),
    /// and on a replay of the idempotency key deleted with their set.
    @Test(arguments: StoreKind.allCases)
    func offersStoredEarlyAreCompletedWithTheirSetOrDroppedOnAReplay(kind: StoreKind) async throws {
        let store = try await kind.make()
        let plan = offerSetPlan("broker", count: 3, cores: 1, start: now, now: now)
        let (set, sessions) = try plan([])
        let shell = OfferSetRecord(id: set.id, created: now, expires: set.expires, request: set.request)
        try await store.insertOffers([sessions[2]], of: shell)
        try await store.insertOffers([sessions[0]], of: shell)
        #expect(try await store.offerSet(set.id)?.1.map(\.id) == [sessions[0].id, sessions[2].id])
        var complete = set
        complete.messages = [BrokerMessage(kind: "urn:federation", level: .INFO, time: now, message: "asked 1")]
        let done = try await store.createOfferSet(
            idempotencyKey: "key", requestDigest: "d", facilities: [], now: now, stored: [sessions[0].id, sessions[2].id]
        ) { [complete] _ in (complete, sessions) }
        #expect(done == .created(complete.withKey("key", "d"), sessions))
        let read = try #require(try await store.offerSet(set.id))
        #expect(read.1.map(\.id) == sessions.map(\.id))
        #expect(read.0.messages.map(\.kind) == ["urn:federation"])

        // The same key again, after offers were stored for a second set: the second set goes, the first is replayed.
        let (other, otherSessions) = try plan([])
        try await store.insertOffers([otherSessions[0]], of: OfferSetRecord(id: other.id, created: now, expires: other.expires, request: other.request))
        let replay = try await store.createOfferSet(
            idempotencyKey: "key", requestDigest: "d", facilities: [], now: now, stored: [otherSessions[0].id]) { _ in (other, otherSessions) }
        #expect(replay == .replayed(set.id))
        #expect(try await store.offerSet(other.id) == nil)
        #expect(try await store.session(otherSessions[0].id) == nil)
    }
}

extension OfferStoreContractTests {
    /// A user's own sessions ("My work"): only theirs, newest first (an offer set's by rank), in one phase (as stored)
    /// when asked, at most the limit; written by every path that stores a session, and kept by phase changes.
    @Test(arguments: StoreKind.allCases)
    func ownersSessionsComeNewestFirstByPhaseUpToTheLimit(kind: StoreKind) async throws {
        let store = try await kind.make()
        func offers(_ owner: String?, count: Int, at t: Date) async throws -> [SessionRecord] {
            let plan = Self.owned(owner, offerSetPlan("a", count: count, cores: 1, start: t, now: t))
            guard case .created(_, let made) = try await store.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [], now: t, plan: plan)
            else { throw StoreError.conflict("not created") }
            return made
        }
        // Alice's: a finished job stored as another broker's offer two hours ago, three offers an hour ago (the middle one
        // accepted, the others rejected with it), two offers now. Bob's half an hour ago; an anonymous caller's now.
        let (oldest, t) = (now.addingTimeInterval(-7_200), now.addingTimeInterval(-3_600))
        let shell = OfferSetRecord(
            id: UUID(), created: oldest, expires: oldest.addingTimeInterval(300), request: NormalisedRequest(executable: ExecutableRequest(kind: .dockerContainer)),
            owner: "alice")
        var finished = SessionRecord.sample(facility: "b", phase: .completed, offerSet: shell.id, created: oldest)
        finished.owner = "alice"
        try await store.insertOffers([finished], of: shell)
        let earlier = try await offers("alice", count: 3, at: t)
        _ = try await store.changePhase(of: earlier[1].id, to: .accepted, now: t.addingTimeInterval(10))
        let bobs = try await offers("bob", count: 2, at: now.addingTimeInterval(-1_800))
        _ = try await offers(nil, count: 1, at: now)
        let latest = try await offers("alice", count: 2, at: now)

        func ids(_ owner: String, _ phase: SessionPhase? = nil, limit: Int = 100) async throws -> [UUID] {
            try await store.sessions(owner: owner, phase: phase, limit: limit).map(\.id)
        }
        let all = latest.map(\.id) + earlier.map(\.id) + [finished.id]
        #expect(try await ids("alice") == all)
        #expect(try await ids("bob") == bobs.map(\.id))
        #expect(try await ids("carol").isEmpty)
        #expect(try await ids("alice", .rejected) == [earlier[0].id, earlier[2].id])
        #expect(try await ids("alice", .completed) == [finished.id])
        #expect(try await ids("alice", .running).isEmpty)
        let accepted = try await store.sessions(owner: "alice", phase: .accepted, limit: 10)
        #expect(accepted.map(\.id) == [earlier[1].id] && accepted.first?.owner == "alice")
        #expect(try await ids("alice", limit: 3) == Array(all.prefix(3)))
        #expect(try await ids("alice", limit: 0).isEmpty)
        #expect(try await ids("alice", limit: 100_000) == all)
        // OFFERED as stored until the sweep records the expiry.
        #expect(try await ids("alice", .offered) == latest.map(\.id))
        _ = try await store.expireOffers(now: now.addingTimeInterval(301))
        #expect(try await ids("alice", .offered).isEmpty)
        #expect(try await ids("alice", .expired) == latest.map(\.id))
        #expect(try await ids("bob", .expired) == bobs.map(\.id))
    }

    /// `plan` with its offer set and sessions made by `owner`.
    static func owned(
        _ owner: String?, _ plan: @escaping @Sendable (FacilityCalendars) throws -> (OfferSetRecord, [SessionRecord])
    ) -> @Sendable (FacilityCalendars) throws -> (OfferSetRecord, [SessionRecord]) {
        { calendars in
            var (set, sessions) = try plan(calendars)
            set.owner = owner
            for i in sessions.indices { sessions[i].owner = owner }
            return (set, sessions)
        }
    }
}

extension OfferSetRecord {
    func withKey(_ key: String, _ digest: String) -> OfferSetRecord {
        var s = self
        (s.idempotencyKey, s.requestDigest) = (key, digest)
        return s
    }
}

@Suite struct SQLiteStoreTests {
    @Test func dataSurvivesReopeningTheFile() async throws {
        let path = TemporaryFile.path("restart.sqlite")
        do {
            let store = try SQLiteStore(path: path)
            try await store.insertFacility(sampleFacility())
            try await store.insertOperator(OperatorRecord(name: "alice", created: Date()), tokenHash: "h")
        }
        let reopened = try SQLiteStore(path: path)
        #expect(try await reopened.facility(FacilityID("ivo://example.org/tap")) == sampleFacility())
        #expect(try await reopened.operatorName(forTokenHash: "h") == "alice")
    }

    @Test func fileRunsInWALModeWithNamedMigrations() throws {
        let store = try SQLiteStore(path: TemporaryFile.path("wal.sqlite"))
        #expect(try store.journalMode() == "wal")
        #expect(try store.writerJournalSizeLimit() == SQLiteStore.journalSizeLimit)
        #expect(try store.tempStore() == (writer: 2, reader: 0))
        let migrations = [
            "v1-create-facility-and-operator", "v2-create-offer-set-and-session", "v3-add-session-lease", "v4-create-uws-job",
            "v5-add-booking-columns-and-facility-generation", "v6-create-registry-source", "v7-add-retention-columns", "v8-quotas-usage-audit",
            "v9-add-session-owner", "v10-add-offer-set-packed", "v11-fewer-session-indexes", "v12-booking-index-holds-jobs-only",
        ]
        #expect(try store.appliedMigrations() == migrations)
        // Migrating again is a no-op.
        let again = try SQLiteStore(path: store.path)
        #expect(try again.appliedMigrations() == migrations)
    }

    @Test func aChangeMadeByAnotherConnectionIsSeenDespiteTheFacilityCache() async throws {
        let path = TemporaryFile.path("generation.sqlite")
        let broker = try SQLiteStore(path: path)
        try await broker.insertFacility(sampleFacility("a"))
        #expect(try await broker.facilities(FacilityQuery()).map(\.id.rawValue) == ["a"])
        // Another process (here: another connection to the file) changes the facilities.
        let other = try SQLiteStore(path: path)
        var changed = sampleFacility("a")
        changed.status = .disabled
        try await other.replaceFacility(changed)
        try await other.insertFacility(sampleFacility("b"))
        #expect(try await broker.facilities(FacilityQuery()).map(\.id.rawValue) == ["a", "b"])
        #expect(try await broker.facilities(FacilityQuery(status: .disabled)).map(\.id.rawValue) == ["a"])
        // The compiled index every offer request matches against follows the same changes.
        #expect(try await broker.matchIndex().facilities.map(\.id.rawValue) == ["a", "b"])
        #expect(try await broker.matchIndex().facilities.first?.status == .disabled)
        _ = try await other.removeFacility(FacilityID("b"), now: Date())
        #expect(try await broker.facilities(FacilityQuery()).map(\.id.rawValue) == ["a"])
        #expect(try await broker.matchIndex().facilities.map(\.id.rawValue) == ["a"])
    }

    @Test func concurrentInsertsOfOneIdentifierStoreExactlyOne() async throws {
        let store = try SQLiteStore(path: TemporaryFile.path("race.sqlite"))
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<20 {
                group.addTask { (try? await store.insertFacility(sampleFacility(i % 2 == 0 ? "race" : "RACE", owner: "op\(i)"))) != nil }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1)
        #expect(try await store.facilities(FacilityQuery()).count == 1)
    }
}

import Foundation
import Logging
import SkyportCore
import SkyportServices
import SkyportStore
import SkyportTestSupport
import Synchronization
import Testing

/// A facility whose health the test switches, counting the probes it receives.
private final class Switchboard: Sendable {
    let state = Mutex<(up: [String: Bool], probes: [String: Int])>(([:], [:]))

    func set(_ id: String, up: Bool) { state.withLock { $0.up[id] = up } }
    func probes(_ id: String) -> Int { state.withLock { $0.probes[id] ?? 0 } }

    func probe(_ f: Facility) -> HealthProbeResult {
        state.withLock { s in
            s.probes[f.id.rawValue, default: 0] += 1
            return s.up[f.id.rawValue] ?? true ? HealthProbeResult(healthy: true) : .unavailable("not reachable: connection refused")
        }
    }
}

@Suite struct HealthServiceTests {
    static func facility(_ id: String, status: FacilityStatus = .active) -> Facility {
        let epoch = Date(timeIntervalSince1970: 1_800_000_000)
        return Facility(
            id: FacilityID(id), name: id, status: status, endpoints: [Endpoint(kind: .uws, url: "http://\(id).invalid/tap/async")],
            accepts: [.tapQuery], owner: "test", created: epoch, modified: epoch)
    }

    static var settings: HealthService.Settings {
        var s = HealthService.Settings()
        s.period = .milliseconds(50)
        s.failedPeriod = .milliseconds(30)
        s.tick = .milliseconds(20)
        s.staleAfter = .seconds(60)
        return s
    }

    /// Polls `condition` every 10 ms until it holds, for up to a generous minute (a loaded machine is slow, not wrong).
    static func eventually(_ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    @Test func aFailingFacilityIsMarkedUnavailableAndComesBack() async throws {
        let store = InMemoryStore()
        try await store.insertFacility(Self.facility("ivo://test/flappy"))
        try await store.insertFacility(Self.facility("ivo://test/steady"))
        try await store.insertFacility(Self.facility("ivo://test/off", status: .disabled))
        let switches = Switchboard()
        switches.set("ivo://test/flappy", up: false)
        let box = HealthBoardBox()
        let service = HealthService(
            store: store, board: box, settings: Self.settings, logger: Logger(label: "test.health"),
            probe: { switches.probe($0) })
        let flappy = FacilityID("ivo://test/flappy")

        let running = Task { try await service.run() }
        defer { running.cancel() }

        // Each facility is probed on its own (with jitter): wait for both first rounds, not for one of them.
        #expect(await Self.eventually {
            box.board[flappy]?.status == .unavailable && box.board[FacilityID("ivo://test/steady")]?.status == .healthy
        })
        let down = try #require(box.board[flappy])
        #expect(down.reason == "not reachable: connection refused")
        #expect(box.board[FacilityID("ivo://test/off")] == nil, "only active facilities are probed")
        #expect(switches.probes("ivo://test/off") == 0)
        #expect(box.board.staleAfter == 60)

        // While down, the facility is rejected; it is re-checked every failedPeriod and comes back by itself.
        let request = NormalisedRequest(executable: ExecutableRequest(kind: .tapQuery))
        let facilities = try await store.facilities(FacilityQuery())
        let whileDown = Matcher.match(request, against: facilities, health: box.board, now: Date())
        #expect(whileDown.rejections.first { $0.facility == flappy }?.reasons.map(\.code).contains(.facilityUnavailable) == true)
        #expect(await Self.eventually { switches.probes("ivo://test/flappy") >= 3 })
        #expect(box.board[flappy]?.since == down.since, "still down: the status has not changed")

        switches.set("ivo://test/flappy", up: true)
        #expect(await Self.eventually { box.board[flappy]?.status == .healthy })
        #expect(box.board[flappy]?.reason == nil)
        let afterwards = Matcher.match(request, against: facilities, health: box.board, now: Date())
        #expect(afterwards.rankedIDs.contains(flappy))
    }

    @Test func aRemovedFacilityLeavesTheBoard() async throws {
        let store = InMemoryStore()
        let gone = Self.facility("ivo://test/gone")
        try await store.insertFacility(gone)
        let box = HealthBoardBox()
        let service = HealthService(
            store: store, board: box, settings: Self.settings, logger: Logger(label: "test.health"),
            probe: { _ in HealthProbeResult(healthy: true) })
        let running = Task { try await service.run() }
        defer { running.cancel() }
        #expect(await Self.eventually { box.board[gone.id] != nil })
        var disabled = gone
        disabled.status = .disabled
        try await store.replaceFacility(disabled)
        #expect(await Self.eventually { box.board[gone.id] == nil })
    }

    @Test func aFederationMemberWhoseVersionsDifferFromThePrimesIsUnavailable() async throws {
        let store = InMemoryStore()
        for id in ["prime", "member", "independent"] { try await store.insertFacility(Self.facility(id)) }
        var settings = Self.settings
        settings.federation = BinderFederation(prime: FacilityID("prime"), members: [FacilityID("member")])
        let versions = ["prime": #"{"binderhub":"1.1.0"}"#, "member": #"{"binderhub":"1.0.0"}"#, "independent": #"{"binderhub":"0.9.0"}"#]
        let box = HealthBoardBox()
        let service = HealthService(
            store: store, board: box, settings: settings, logger: Logger(label: "test.health"),
            probe: { HealthProbeResult(healthy: true, fingerprint: versions[$0.id.rawValue]) })
        let running = Task { try await service.run() }
        defer { running.cancel() }
        // The member is compared once the prime's versions are known (at the latest its second check).
        #expect(await Self.eventually { box.board[FacilityID("member")]?.status == .unavailable })
        #expect(box.board[FacilityID("member")]?.reason?.contains("binderhub 1.0.0 here, 1.1.0 at the prime") == true)
        #expect(box.board[FacilityID("prime")]?.status == .healthy)
        #expect(box.board[FacilityID("independent")]?.status == .healthy)
    }
}

/// Replicas sharing a PostgreSQL store: each facility is probed by one of them per period, and every replica's board
/// shows what it found.
@Suite(.enabled(if: TestPeers.run(TestPeers.postgres != nil)))
struct SharedHealthTests {
    @Test func oneReplicaProbesAndEveryBoardShowsIt() async throws {
        let url = try TestPeers.postgresSchemaURL()
        let (a, b) = (try await PostgresStore.open(url: url, replica: "a"), try await PostgresStore.open(url: url, replica: "b"))
        try await a.insertFacility(HealthServiceTests.facility("ivo://test/shared"))
        let switches = Switchboard()
        switches.set("ivo://test/shared", up: false)
        // One instant for both: the period never ends, so each replica would probe once on its own.
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var settings = HealthServiceTests.settings
        settings.period = .seconds(60)
        settings.failedPeriod = .seconds(30)
        let boards = (HealthBoardBox(), HealthBoardBox())
        let services = [(a, boards.0, "a"), (b, boards.1, "b")].map { store, board, owner in
            HealthService(
                store: store, board: board, settings: settings, logger: Logger(label: "test.health"), now: { now },
                turns: .through(store, owner: owner), probe: { switches.probe($0) })
        }
        let running = services.map { service in Task { try await service.run() } }
        defer { for task in running { task.cancel() } }
        let id = FacilityID("ivo://test/shared")
        #expect(await HealthServiceTests.eventually { boards.0.board[id]?.status == .unavailable && boards.1.board[id]?.status == .unavailable })
        #expect(switches.probes("ivo://test/shared") == 1)
        #expect(boards.0.board[id]?.reason == "not reachable: connection refused" && boards.1.board[id] == boards.0.board[id])
        // A removed facility's shared check goes with it.
        #expect(try await a.removeFacility(id, now: now) == .removed)
        #expect(try await b.sharedHealth()?[id.key] == nil)
    }
}

import Foundation
import SkyportCore
import Testing

/// The mybinder.org federation rule on the health board: a member whose `/versions` differ from the prime's is
/// unavailable, naming both; independent BinderHubs and the prime itself are never held back.
@Suite struct BinderFederationTests {
    static let prime = FacilityID("ivo://mybinder.example/2i2c")
    static let member = FacilityID("ivo://mybinder.example/gesis")
    static let other = FacilityID("binder-elsewhere")
    static let v1 = #"{"binderhub":"1.0.0","builder_info":{"build_image":"quay.io/jupyterhub/repo2docker:2024.07.0"}}"#
    static let v2 = #"{"binderhub":"1.1.0","builder_info":{"build_image":"quay.io/jupyterhub/repo2docker:2024.07.0"}}"#
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func board() -> HealthBoard {
        HealthBoard(federation: BinderFederation(prime: prime, members: [member]))
    }

    static func healthy(_ versions: String?) -> HealthProbeResult { HealthProbeResult(healthy: true, fingerprint: versions) }

    @Test func aMemberBehindThePrimeIsUnavailableNamingBothVersions() throws {
        var board = Self.board()
        board.record(Self.healthy(Self.v2), for: Self.prime, at: Self.now)
        let transition = board.record(Self.healthy(Self.v1), for: Self.member, at: Self.now)
        let health = try #require(board[Self.member])
        #expect(health.status == .unavailable)
        #expect(health.reason == "BinderHub /versions differ from the federation's prime ivo://mybinder.example/2i2c: binderhub 1.0.0 here, 1.1.0 at the prime")
        #expect(health.fingerprint == Self.v1)
        #expect(transition?.to.status == .unavailable)
        let facility = Facility(id: Self.member, name: "m", endpoints: [], accepts: [], owner: "o", created: Self.now, modified: Self.now)
        guard case .unavailable = board.verdict(for: facility, now: Self.now) else { Issue.record("a mismatched member must be rejected"); return }

        // It catches up: available again.
        board.record(Self.healthy(Self.v2), for: Self.member, at: Self.now.addingTimeInterval(30))
        #expect(board[Self.member]?.status == .healthy && board[Self.member]?.reason == nil)
    }

    @Test func thePrimeMovingOnHoldsBackAMemberAtItsNextCheck() {
        var board = Self.board()
        board.record(Self.healthy(Self.v1), for: Self.prime, at: Self.now)
        board.record(Self.healthy(Self.v1), for: Self.member, at: Self.now)
        #expect(board[Self.member]?.status == .healthy)
        board.record(Self.healthy(Self.v2), for: Self.prime, at: Self.now.addingTimeInterval(60))
        #expect(board[Self.prime]?.status == .healthy, "the prime is the reference: never held back")
        board.record(Self.healthy(Self.v1), for: Self.member, at: Self.now.addingTimeInterval(60))
        #expect(board[Self.member]?.status == .unavailable)
    }

    @Test func nothingIsComparedWithoutAPrimeAnswerOrOutsideTheFederation() {
        var board = Self.board()
        // The prime not checked yet (or gone from the board): members are judged by /health alone.
        board.record(Self.healthy(Self.v1), for: Self.member, at: Self.now)
        #expect(board[Self.member]?.status == .healthy)
        board.record(Self.healthy(Self.v2), for: Self.prime, at: Self.now)
        // An independent BinderHub runs what it likes.
        board.record(Self.healthy(Self.v1), for: Self.other, at: Self.now)
        #expect(board[Self.other]?.status == .healthy)
        // A member whose /versions did not answer this time cannot be compared.
        board.record(Self.healthy(nil), for: Self.member, at: Self.now)
        #expect(board[Self.member]?.status == .healthy)
        // Without a federation nothing is compared at all.
        var plain = HealthBoard()
        plain.record(Self.healthy(Self.v2), for: Self.prime, at: Self.now)
        plain.record(Self.healthy(Self.v1), for: Self.member, at: Self.now)
        #expect(plain[Self.member]?.status == .healthy)
        // The prime's last known versions stay the reference while it is down.
        board.record(.unavailable("not reachable: connection refused"), for: Self.prime, at: Self.now)
        board.record(Self.healthy(Self.v1), for: Self.member, at: Self.now)
        #expect(board[Self.member]?.status == .unavailable)
    }

    @Test func aFailingMemberKeepsItsOwnReason() {
        var board = Self.board()
        board.record(Self.healthy(Self.v2), for: Self.prime, at: Self.now)
        board.record(.unavailable("BinderHub /health answered HTTP 503; failing: JupyterHub API", fingerprint: Self.v1), for: Self.member, at: Self.now)
        #expect(board[Self.member]?.reason == "BinderHub /health answered HTTP 503; failing: JupyterHub API")
    }

    @Test func differencesNameEveryDifferingKey() {
        let a = #"{"binderhub":"1.0.0","builder_info":{"build_image":"r2d:1"},"extra":true}"#
        let b = #"{"binderhub":"1.0.0","builder_info":{"build_image":"r2d:2"}}"#
        let federation = BinderFederation(prime: Self.prime, members: [Self.member])
        let reason = federation.mismatch(of: Self.member, fingerprint: a, primeFingerprint: b)
        #expect(reason == #"BinderHub /versions differ from the federation's prime ivo://mybinder.example/2i2c: builder_info {"build_image":"r2d:1"} here, {"build_image":"r2d:2"} at the prime; extra true here, (none) at the prime"#)
        #expect(federation.mismatch(of: Self.member, fingerprint: "\"1.0\"", primeFingerprint: "\"1.1\"")?.hasSuffix(#""1.0" here, "1.1" at the prime"#) == true)
        #expect(federation.mismatch(of: Self.prime, fingerprint: a, primeFingerprint: b) == nil)
    }

    @Test func theSettingListsThePrimeFirst() throws {
        let f = try #require(BinderFederation(listing: [" ivo://mybinder.example/2i2c", "ivo://MyBinder.example/gesis ", "", "IVO://mybinder.example/2i2c"]))
        #expect(f.prime == Self.prime && f.members == [Self.member])
        #expect(BinderFederation(listing: ["only-one"]) == nil)
        #expect(BinderFederation(listing: []) == nil)
        #expect(BinderFederation(listing: ["a", "A"]) == nil)
    }
}

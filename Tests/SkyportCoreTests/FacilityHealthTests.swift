import Foundation
import Testing
@testable import SkyportCore

@Suite struct FacilityHealthTests {
    typealias F = MatchFixtures
    let now = MatchFixtures.epoch.addingTimeInterval(3_600)

    func board(_ checks: [(String, HealthProbeResult, Date)], staleAfter: TimeInterval = 300) -> HealthBoard {
        var board = HealthBoard(staleAfter: staleAfter)
        for (id, result, at) in checks { board.record(result, for: FacilityID(id), at: at) }
        return board
    }

    @Test func anUnavailableFacilityIsRejectedWithFacilityUnavailable() throws {
        let facilities = [F.facility("up"), F.facility("down")]
        let checked = now.addingTimeInterval(-10)
        let health = board([("up", HealthProbeResult(healthy: true), checked), ("down", .unavailable("not reachable: connection refused"), checked)])
        let outcome = Matcher.match(F.request(), against: facilities, health: health, now: now)
        #expect(outcome.rankedIDs == [FacilityID("up")])
        #expect(outcome.candidates.first?.flags.isEmpty == true)
        let rejection = try #require(outcome.rejections.first)
        #expect(outcome.rejections.count == 1 && rejection.facility == FacilityID("down"))
        #expect(rejection.reasons.map(\.code) == [.facilityUnavailable])
        let reason = try #require(rejection.reasons.first)
        #expect(reason.code.rawValue == "facility-unavailable" && reason.field == "health")
        #expect(reason.message.contains("not reachable: connection refused"))
        #expect(reason.message.contains("checked \(Timestamp.format(checked))"))
    }

    @Test func anUnavailableFacilityAlreadyRejectedGetsTheReasonBesideItsOthers() {
        let facilities = [F.facility("draining-down", status: .draining)]
        let health = board([("draining-down", .unavailable("VOSI availability says not available"), now)])
        let outcome = Matcher.match(F.request(), against: facilities, health: health, now: now)
        #expect(outcome.rejections.first?.reasons.map(\.code) == [.facilityNotActive, .facilityUnavailable])
    }

    @Test func aStaleCheckIsAWarningNotARejection() {
        let facilities = [F.facility("old-check")]
        let health = board([("old-check", HealthProbeResult(healthy: true), now.addingTimeInterval(-600))], staleAfter: 300)
        let outcome = Matcher.match(F.request(), against: facilities, health: health, now: now)
        #expect(outcome.rankedIDs == [FacilityID("old-check")] && outcome.rejectedCount == 0)
        #expect(outcome.candidates.first?.flags.map(\.code) == [.healthStale])
        #expect(MatchFlagCode.healthStale.rawValue == "health-check-stale")
    }

    @Test func unprobedFacilitiesAndNoBoardChangeNothing() {
        let facilities = [F.facility("never-probed"), F.facility("other")]
        let health = board([("other", HealthProbeResult(healthy: true), now)])
        let plain = Matcher.match(F.request(), against: facilities)
        let judged = Matcher.match(F.request(), against: facilities, health: health, now: now)
        #expect(judged.rankedIDs == plain.rankedIDs && judged.rankedIDs.count == 2)
        #expect(judged.candidates == plain.candidates)
        #expect(HealthBoard().verdict(for: facilities[0], now: now, staleAfter: 1) == .ok)
    }

    @Test func aFacilityComesBackWhenACheckPasses() {
        let f = F.facility("flappy")
        var health = HealthBoard()
        let down = now.addingTimeInterval(-120), up = now.addingTimeInterval(-5)
        let first = health.record(.unavailable("BinderHub /health answered HTTP 503; failing: JupyterHub API"), for: f.id, at: down)
        #expect(first?.from == nil && first?.to.status == .unavailable)
        #expect(health.record(.unavailable("still down"), for: f.id, at: down.addingTimeInterval(30)) == nil)
        #expect(health[f.id]?.since == down)
        #expect(Matcher.match(F.request(), against: [f], health: health, now: now).isMatch == false)

        let back = health.record(HealthProbeResult(healthy: true), for: f.id, at: up)
        #expect(back?.from == .unavailable && back?.to.status == .healthy)
        #expect(health[f.id] == FacilityHealth(status: .healthy, reason: nil, checked: up, since: up))
        #expect(health.verdict(for: f, now: now) == .ok)
        #expect(Matcher.match(F.request(), against: [f], health: health, now: now).rankedIDs == [f.id])
    }

    @Test func theBoxSharesOneBoard() {
        let box = HealthBoardBox()
        box.update { $0.record(.unavailable("x"), for: FacilityID("IVO://Example/A"), at: now) }
        #expect(box.board[FacilityID("ivo://example/a")]?.status == .unavailable)
        box.update { $0.retain(only: []) }
        #expect(box.board.entries.isEmpty)
    }
}

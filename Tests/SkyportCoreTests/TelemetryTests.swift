import Foundation
import SkyportCore
import Testing

/// How an offer set's answer is counted, and which phase changes count as offers ending.
@Suite struct TelemetryTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func set(refused: Bool = false, funnel: MatchFunnel?) -> OfferSetRecord {
        var request = NormalisedRequest(executable: ExecutableRequest(kind: .tapQuery))
        if refused { request.refusals = [RequestNote(.warning, "compute.gpus", "not offered here")] }
        var set = OfferSetRecord(id: UUID(), created: now, expires: now, request: request)
        set.funnel = funnel
        return set
    }

    static func funnel(total: Int, passing: [Int]) -> MatchFunnel {
        MatchFunnel(total: total, steps: zip(MatchClause.allCases, passing).map { MatchFunnel.Step(clause: $0, passed: $1) })
    }

    @Test func anOfferSetsAnswerIsCountedByTheReasonThatDecidedIt() {
        #expect(OfferAnswer.of(Self.set(funnel: nil), offers: 2) == OfferAnswer(offers: 2, reason: .offered))
        #expect(OfferAnswer.of(Self.set(refused: true, funnel: nil), offers: 0).label == "refused")
        #expect(OfferAnswer.of(Self.set(funnel: Self.funnel(total: 0, passing: [])), offers: 0).label == "no-facilities")
        // Every facility passed matching but the capacity step: no room.
        let full = Self.funnel(total: 3, passing: Array(repeating: 3, count: MatchClause.allCases.count - 1) + [0])
        #expect(OfferAnswer.of(Self.set(funnel: full), offers: 0).label == "no-capacity")
        // The cores clause rejected the last facility: the label is the clause.
        let cores = Self.funnel(total: 3, passing: [3, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0])
        let answer = OfferAnswer.of(Self.set(funnel: cores), offers: 0)
        #expect(answer.result == "NO" && answer.reason == .noMatch && answer.label == "cores")
        // The planner said the requester's quota left no room.
        var quota = Self.set(funnel: full)
        quota.messages = [BrokerMessage(kind: "urn:quota-exceeded", level: .WARN, time: Self.now, message: "64 cores offered at most")]
        #expect(OfferAnswer.of(quota, offers: 0).label == "quota")
    }

    @Test func offersEndOnlyWhenTheyLeaveOffered() {
        let events = Events()
        let t = Telemetry { events.append($0) }
        t.changed(from: .offered, to: .accepted)
        t.changed(from: .offered, to: .rejected, count: 3)
        t.changed(from: .offered, to: .expired, count: 2)
        t.changed(from: .accepted, to: .cancelled)
        t.changed(from: .running, to: .running)
        t.changed(from: .offered, to: .cancelled, count: 0)
        #expect(events.all == [
            .phaseChanged(from: .offered, to: .accepted, count: 1), .offersEnded(.accepted, count: 1),
            .phaseChanged(from: .offered, to: .rejected, count: 3), .offersEnded(.rejected, count: 3),
            .phaseChanged(from: .offered, to: .expired, count: 2), .offersEnded(.expired, count: 2),
            .phaseChanged(from: .accepted, to: .cancelled, count: 1),
        ])
    }

    @Test func aRelayReportsToWhatItWasConnectedToLast() {
        let relay = TelemetryRelay()
        relay.record(.forwardingRetry(facility: FacilityID("ivo://a/b")))  // before any connection: dropped
        let events = Events()
        relay.connect(Telemetry { events.append($0) })
        relay.telemetry.record(.forwardingClaimed(sessions: 2, takenOver: 1))
        #expect(events.all == [.forwardingClaimed(sessions: 2, takenOver: 1)])
    }
}

final class Events: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [TelemetryEvent] = []
    func append(_ e: TelemetryEvent) { lock.withLock { events.append(e) } }
    var all: [TelemetryEvent] { lock.withLock { events } }
}

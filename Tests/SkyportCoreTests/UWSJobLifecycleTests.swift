import Foundation
import SkyportCore
import Testing

/// The UWS job lifecycle, event by event, from every phase a job can be stored in.
@Suite struct UWSJobLifecycleTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let session = UUID(uuidString: "00000000-0000-0000-0000-00000000000a")!
    static let set = UUID(uuidString: "00000000-0000-0000-0000-00000000000b")!

    static func job(_ phase: UWSPhase, linked: Bool = false) -> UWSJobRecord {
        var j = UWSJobRecord(id: "j1", owner: "o", type: "execute", parameters: [], created: now.addingTimeInterval(-100), phase: phase)
        if linked { j.session = session }
        return j
    }

    enum Outcome: Equatable {
        case ok(phase: UWSPhase, action: UWSJobLifecycle.Action)
        case illegal(String)
    }

    static let negotiated = UWSJobLifecycle.Event.negotiated(session: session, offerSet: set, quote: now.addingTimeInterval(3600), duration: 3600)
    static let failed = UWSJobLifecycle.Event.negotiationFailed(summary: "no", detail: nil, offerSet: set)

    /// (stored phase, linked to a session, event) → outcome. Written out by hand from UWS 1.1 and the broker's rules.
    static let table: [(UWSPhase, Bool, UWSJobLifecycle.Event, Outcome)] = [
        (.pending, false, .run, .ok(phase: .queued, action: .negotiate)),
        (.queued, false, .run, .illegal("RUN")),
        (.error, false, .run, .illegal("RUN")),
        (.aborted, false, .run, .illegal("RUN")),
        (.queued, true, .run, .illegal("RUN")),
        (.pending, false, .abort, .ok(phase: .aborted, action: .none)),
        (.queued, false, .abort, .ok(phase: .aborted, action: .none)),
        (.error, false, .abort, .illegal("ABORT")),
        (.aborted, false, .abort, .illegal("ABORT")),
        (.queued, true, .abort, .ok(phase: .queued, action: .cancelSession(session))),
        (.queued, false, negotiated, .ok(phase: .queued, action: .none)),
        (.aborted, false, negotiated, .ok(phase: .aborted, action: .cancelSession(session))),
        (.queued, false, failed, .ok(phase: .error, action: .none)),
        (.aborted, false, failed, .ok(phase: .aborted, action: .none)),
        (.queued, true, failed, .ok(phase: .queued, action: .none)),
        (.pending, false, .setExecutionDuration(60), .ok(phase: .pending, action: .none)),
        (.queued, false, .setExecutionDuration(60), .illegal("change its execution duration")),
        (.queued, true, .setExecutionDuration(60), .illegal("change its execution duration")),
        (.error, false, .setDestruction(now.addingTimeInterval(60)), .ok(phase: .error, action: .none)),
    ]

    @Test(arguments: 0..<table.count)
    func eachEventFromEachPhase(_ row: Int) {
        let (phase, linked, event, expected) = Self.table[row]
        var job = Self.job(phase, linked: linked)
        let before = job
        let outcome: Outcome
        do {
            let action = try UWSJobLifecycle.apply(event, to: &job, known: .executing, now: Self.now)
            outcome = .ok(phase: job.phase, action: action)
        } catch {
            guard case .illegal(let id, let shown, let action) = error else { Issue.record("unexpected \(error)"); return }
            #expect(id == "j1")
            // A linked job's phase is its session's (`known`); an unlinked one's is its own.
            #expect(shown == (linked ? .executing : phase))
            #expect(job == before, "a refused event leaves the job as it was")
            outcome = .illegal(action)
        }
        #expect(outcome == expected, "row \(row): \(phase) linked=\(linked) \(event)")
    }

    @Test func runRecordsWhenAndNegotiationLinksTheSession() throws {
        var job = Self.job(.pending)
        _ = try UWSJobLifecycle.apply(.run, to: &job, known: .pending, now: Self.now)
        #expect(job.started == Self.now)
        _ = try UWSJobLifecycle.apply(Self.negotiated, to: &job, known: .queued, now: Self.now)
        #expect(job.session == Self.session && job.offerSet == Self.set && job.executionDuration == 3600)
        #expect(job.phase(session: .running) == .executing)
    }

    @Test func aJobQueuedWithoutASessionPastTheGraceIsStranded() {
        var job = Self.job(.queued)
        job.started = Self.now.addingTimeInterval(-UWSJobLifecycle.negotiationGrace - 1)
        #expect(UWSJobLifecycle.isStranded(job, now: Self.now))
        job.started = Self.now.addingTimeInterval(-1)
        #expect(!UWSJobLifecycle.isStranded(job, now: Self.now))
        job.session = Self.session
        job.started = Self.now.addingTimeInterval(-3600)
        #expect(!UWSJobLifecycle.isStranded(job, now: Self.now))
    }

    /// UWS 1.1 lets the service choose another destruction time, which the client reads back.
    @Test func aDestructionIsPutOffToAnHourAndCapped() throws {
        let soon = Self.now.addingTimeInterval(UWSJobLifecycle.minLifetime)
        #expect(try UWSJobLifecycle.destruction(Self.now.addingTimeInterval(-86_400), now: Self.now).get() == soon)
        #expect(try UWSJobLifecycle.destruction(Self.now, now: Self.now).get() == soon)
        #expect(try UWSJobLifecycle.destruction(Self.now.addingTimeInterval(3_600), now: Self.now).get() == Self.now.addingTimeInterval(3_600))
        let far = Self.now.addingTimeInterval(365 * 86_400)
        #expect(try UWSJobLifecycle.destruction(far, now: Self.now).get() == Self.now.addingTimeInterval(UWSJobLifecycle.maxLifetime))
    }
}

import Foundation
import SkyportCore
import Testing

/// The forwarding machine, as a table: every representative state × every event, with the phase the session is in
/// afterwards and the action the machine gives next. The expectations are written out by hand from the rules
/// (`ForwardingMachine`'s documentation), not computed.
@Suite struct ForwardingMachineTests {
    static let t0 = Date(timeIntervalSince1970: 1_790_000_000)
    static let uws = Endpoint(kind: .uws, url: "http://tap.example.org/tap/async")
    static let binder = Endpoint(kind: .binderhub, url: "http://binder.example.org/")
    static let broker = Endpoint(kind: .executionbroker, url: "http://broker.example.org/")
    static let machine = ForwardingMachine(wait: 20, maxFailures: 3)

    static func session(_ phase: SessionPhase, callback: String? = nil, notified: Bool? = nil, _ remote: RemoteJob? = nil) -> SessionRecord {
        var s = SessionRecord(
            id: UUID(uuidString: "00000000-0000-0000-0000-000000000001")!, offerSet: UUID(uuidString: "00000000-0000-0000-0000-000000000002")!,
            facility: FacilityID("ivo://example.org/f"), facilityName: "F", phase: phase, created: t0, expires: t0 + 600, cores: 1, memory: 1,
            start: t0, duration: ISODuration(seconds: 3_600), rank: 0, executable: ExecutableRequest(kind: .dockerContainer))
        s.callback = callback
        s.notified = notified
        s.remote = remote
        return s
    }

    static func job(_ endpoint: Endpoint, _ stage: RemoteStage, _ phase: RemotePhase? = nil, offer: String? = nil, access: String? = nil) -> RemoteJob {
        var r = RemoteJob(endpoint: endpoint, stage: stage, phase: phase)
        r.offer = offer
        r.access = access
        return r
    }

    static let hook = "http://client.example.org/hook"
    static let offerURL = "http://broker.example.org/sessions/o1"
    static let created = RemoteStage.created(url: "http://tap.example.org/tap/async/1")

    /// The representative states, with the action due in each and whether a worker claims it.
    static let states: [(name: String, session: SessionRecord, next: ForwardingAction, needsWork: Bool)] = {
        var available = session(.available, callback: hook, job(binder, .created(url: "http://binder.example.org/build/x"), .binder(.ready), access: "http://hub/u/"))
        available.notifiedAvailable = nil
        var building = session(.preparing, job(binder, .created(url: "http://binder.example.org/build/x"), .binder(.building)))
        building.remote?.progress = "Step 3/7"
        return [
            ("A accepted, not forwarded", session(.accepted), .submit, true),
            ("B preparing, creation sent", session(.preparing, job(uws, .submitting)), .findByRunID, true),
            ("C preparing, created, not started", session(.preparing, job(uws, created)), .start, true),
            ("D running, EXECUTING, callback", session(.running, callback: hook, job(uws, created, .uws(.executing))), .track(wait: 20), true),
            ("E preparing, BinderHub building", building, .track(wait: 20), true),
            ("F available, server up, callback not told", available, .notify(.available), true),
            ("G offered, another broker's open offer", session(.offered, job(broker, .notSubmitted, .broker(.offered), offer: offerURL)), .done, false),
            ("H rejected here, offer open there", session(.rejected, job(broker, .notSubmitted, .broker(.offered), offer: offerURL)), .rejectRemoteOffer, true),
            ("I cancelled, EXECUTING, callback", session(.cancelled, callback: hook, job(uws, created, .uws(.executing))), .abort, true),
            ("J cancelled while the acceptance was sent", session(.cancelled, job(broker, .submitting, .broker(.offered), offer: offerURL)), .findByRunID, true),
            ("K cancelled, ABORTED, callback not told", session(.cancelled, callback: hook, job(uws, created, .uws(.aborted))), .notify(.ended), true),
            ("L completed, callback told", session(.completed, callback: hook, notified: true, job(uws, created, .uws(.completed))), .done, false),
            ("M completed, callback not told", session(.completed, callback: hook, job(uws, created, .uws(.completed))), .notify(.ended), true),
            ("N failed, no callback", session(.failed, job(uws, created, .uws(.error))), .done, false),
        ]
    }()

    static let events: [(name: String, event: ForwardingEvent, machine: ForwardingMachine)] = [
        ("submitting", .submitting(uws), machine),
        ("submitted", .submitted(url: "http://tap.example.org/tap/async/2"), machine),
        ("found", .found(url: "http://tap.example.org/tap/async/3"), machine),
        ("found nothing", .found(url: nil), machine),
        ("status EXECUTING", .status(RemoteStatus(phase: .running, remotePhase: .uws(.executing)), facility: "F"), machine),
        ("status COMPLETED", .status(RemoteStatus(phase: .completed, remotePhase: .uws(.completed), results: [UWSResult(id: "r", href: "http://r")]), facility: "F"), machine),
        ("status ERROR", .status(RemoteStatus(phase: .failed, remotePhase: .uws(.error), error: "boom"), facility: "F"), machine),
        ("aborted", .aborted(RemoteStatus(phase: .cancelled, remotePhase: .uws(.aborted))), machine),
        ("offer rejected", .offerRejected(RemoteStatus(phase: .rejected, remotePhase: .broker(.rejected))), machine),
        ("refused", .refused("no such repository"), machine),
        ("unreachable", .unreachable("connection refused"), machine),
        ("unreachable, the last try", .unreachable("connection refused"), ForwardingMachine(wait: 20, maxFailures: 1)),
        ("facility gone", .facilityGone, machine),
        ("no executor", .noExecutor(kinds: [.uws]), machine),
        ("notified ended", .notified(.ended), machine),
        ("notified available", .notified(.available), machine),
    ]

    typealias Cell = (SessionPhase, ForwardingAction)
    static let acc = SessionPhase.accepted, prep = SessionPhase.preparing, run = SessionPhase.running, avail = SessionPhase.available
    static let off = SessionPhase.offered, rej = SessionPhase.rejected, can = SessionPhase.cancelled, comp = SessionPhase.completed
    static let fail = SessionPhase.failed
    static let sub = ForwardingAction.submit, find = ForwardingAction.findByRunID, start = ForwardingAction.start
    static let track = ForwardingAction.track(wait: 20), abort = ForwardingAction.abort, reject = ForwardingAction.rejectRemoteOffer
    static let nEnd = ForwardingAction.notify(.ended), nAv = ForwardingAction.notify(.available), done = ForwardingAction.done

    /// Rows: states A…N; columns: `events`, in order.
    static let expected: [[Cell]] = [
        // submitting, submitted, found, found nil, EXECUTING, COMPLETED, ERROR, aborted, offer rejected, refused, unreachable, last try, gone, no executor, notified ended, notified available
        /* A */ [(prep, find), (acc, sub), (acc, sub), (acc, sub), (acc, sub), (acc, sub), (acc, sub), (acc, sub), (acc, sub), (fail, done), (fail, done), (fail, done), (fail, done), (acc, sub), (acc, sub), (acc, sub)],
        /* B */ [(prep, find), (prep, start), (prep, start), (prep, sub), (run, find), (comp, done), (fail, done), (prep, find), (prep, find), (fail, done), (prep, find), (fail, done), (fail, done), (prep, find), (prep, find), (prep, find)],
        /* C */ [(prep, find), (prep, start), (prep, start), (prep, sub), (run, track), (comp, done), (fail, done), (prep, track), (prep, track), (fail, done), (prep, start), (fail, done), (fail, done), (prep, start), (prep, start), (prep, start)],
        /* D */ [(prep, find), (run, track), (run, track), (run, sub), (run, track), (comp, nEnd), (fail, nEnd), (run, track), (run, track), (fail, nEnd), (run, track), (fail, nEnd), (fail, nEnd), (run, track), (run, track), (run, track)],
        /* E */ [(prep, find), (prep, track), (prep, track), (prep, sub), (run, track), (comp, done), (fail, done), (prep, track), (prep, track), (fail, done), (prep, track), (fail, done), (fail, done), (prep, track), (prep, track), (prep, track)],
        /* F */ [(prep, find), (avail, nAv), (avail, nAv), (avail, nAv), (run, track), (comp, nEnd), (fail, nEnd), (avail, nAv), (avail, nAv), (fail, nEnd), (avail, nAv), (fail, nEnd), (fail, nEnd), (avail, nAv), (avail, nAv), (avail, track)],
        /* G */ [(prep, find), (off, done), (off, done), (off, done), (run, sub), (comp, done), (fail, done), (off, done), (off, done), (fail, done), (off, done), (fail, done), (fail, done), (off, done), (off, done), (off, done)],
        /* H */ [(rej, done), (rej, done), (rej, done), (rej, done), (rej, done), (rej, done), (rej, done), (rej, done), (rej, done), (rej, done), (rej, reject), (rej, done), (rej, done), (rej, reject), (rej, reject), (rej, reject)],
        /* I */ [(can, find), (can, abort), (can, abort), (can, nEnd), (can, abort), (can, nEnd), (can, nEnd), (can, nEnd), (can, nEnd), (can, nEnd), (can, abort), (can, nEnd), (can, nEnd), (can, abort), (can, abort), (can, abort)],
        /* J */ [(can, find), (can, abort), (can, abort), (can, done), (can, find), (can, done), (can, done), (can, done), (can, done), (can, done), (can, find), (can, done), (can, done), (can, find), (can, find), (can, find)],
        /* K */ [(can, nEnd), (can, nEnd), (can, nEnd), (can, nEnd), (can, abort), (can, nEnd), (can, nEnd), (can, nEnd), (can, nEnd), (can, nEnd), (can, nEnd), (can, nEnd), (can, nEnd), (can, nEnd), (can, done), (can, nEnd)],
        /* L */ Array(repeating: (comp, done), count: 16),
        /* M */ Array(repeating: (comp, nEnd), count: 14) + [(comp, done), (comp, nEnd)],
        /* N */ Array(repeating: (fail, done), count: 16),
    ]

    @Test func theTableCoversEveryStateAndEvent() {
        #expect(Self.expected.count == Self.states.count)
        #expect(Self.expected.allSatisfy { $0.count == Self.events.count })
    }

    @Test(arguments: Self.states.indices)
    func nextActionForEveryState(_ i: Int) {
        let (name, session, next, needsWork) = Self.states[i]
        #expect(Self.machine.next(session) == next, "\(name)")
        #expect(ForwardingMachine.needsWork(session) == needsWork, "\(name)")
        #expect(session.needsWork == needsWork, "\(name)")
    }

    @Test(arguments: Self.states.indices)
    func everyEventInEveryState(_ i: Int) {
        let (name, session, _, _) = Self.states[i]
        for (j, (eventName, event, machine)) in Self.events.enumerated() {
            let after = machine.apply(event, to: session, now: Self.t0 + 10)
            let (phase, next) = Self.expected[i][j]
            #expect(after.phase == phase, "\(name) + \(eventName): phase \(after.phase)")
            #expect(Self.machine.next(after) == next, "\(name) + \(eventName): next \(Self.machine.next(after))")
        }
    }

    // MARK: - The rules, one by one

    @Test func aStatusWithNothingNewChangesNothing() {
        let running = Self.states[3].session
        let same = Self.machine.apply(.status(RemoteStatus(phase: .running, remotePhase: .uws(.executing)), facility: "F"), to: running, now: Self.t0 + 10)
        #expect(same == running, "no write for a wait that ran out")
        let progressed = Self.machine.apply(
            .status(RemoteStatus(phase: .running, remotePhase: .uws(.executing), progress: "half way"), facility: "F"), to: running, now: Self.t0 + 10)
        #expect(progressed.remote?.progress == "half way")
        #expect(progressed.remote?.updated == Self.t0 + 10)
        #expect(progressed.message == "half way")
    }

    @Test func messagesSayHowTheSessionEnded() {
        let running = Self.states[3].session
        func after(_ s: RemoteStatus) -> String? { Self.machine.apply(.status(s, facility: "Big TAP"), to: running, now: Self.t0).message }
        #expect(after(RemoteStatus(phase: .completed, remotePhase: .uws(.completed))) == "completed at Big TAP")
        #expect(after(RemoteStatus(phase: .failed, remotePhase: .uws(.error))) == "the facility reported ERROR")
        #expect(after(RemoteStatus(phase: .failed, remotePhase: .uws(.error), error: "no such table")) == "no such table")
        #expect(after(RemoteStatus(phase: .available, remotePhase: .binder(.ready))) == "ready at Big TAP")
    }

    @Test func aClientsCancelIsNeverOverwrittenByAWorker() {
        let cancelled = Self.states[8].session
        let changed = ForwardingMachine.workerChange(cancelled) { $0.phase = .completed; $0.message = "done" }
        #expect(changed.phase == .cancelled)
        #expect(changed.message == "done", "the rest of the change is kept")
        let running = Self.states[3].session
        #expect(ForwardingMachine.workerChange(running) { $0.phase = .completed }.phase == .completed)
        #expect(ForwardingMachine.endedPhaseWins(before: cancelled, after: running).phase == .cancelled)
        #expect(ForwardingMachine.endedPhaseWins(before: running, after: cancelled).phase == .cancelled, "a worker may end a live session")
        let completed = Self.states[11].session
        #expect(ForwardingMachine.workerChange(completed) { $0.phase = .running }.phase == .completed, "nor any other ended phase")
    }

    @Test func aSessionFailsAfterMaxFailuresInARow() {
        var s = Self.states[3].session
        for n in 1...3 {
            s = Self.machine.apply(.unreachable("timeout"), to: s, now: Self.t0)
            #expect(s.remote?.failures == n)
            #expect(s.phase == (n < 3 ? .running : .failed))
        }
        #expect(s.message == "the facility could not be reached or answered with an error: timeout")
        let answered = Self.machine.apply(.status(RemoteStatus(phase: .running, remotePhase: .uws(.executing)), facility: "F"),
                                          to: Self.machine.apply(.unreachable("x"), to: Self.states[3].session, now: Self.t0), now: Self.t0)
        #expect(answered.remote?.failures == 0, "every answer resets the count")
    }

    @Test func backoffDoublesUpToAMinute() {
        #expect((1...9).map { ForwardingMachine.backoff(failures: $0) } == [1, 2, 4, 8, 16, 32, 60, 60, 60])
        var s = Self.states[3].session
        s.remote?.failures = 3
        #expect(Self.machine.holdOff(after: .unreachable("x"), s) == 4)
        #expect(Self.machine.holdOff(after: .noExecutor(kinds: [.uws]), s) == 60)
        #expect(Self.machine.holdOff(after: .submitted(url: "u"), s) == nil)
    }

    @Test func abortedHereReadsBackAsItWasWritten() {
        for kind in EndpointKind.allCases {
            let aborted = RemotePhase.abortedHere(kind)
            #expect(RemotePhase(word: aborted.word, kind: kind) == aborted, "\(kind)")
            #expect(aborted.word == "ABORTED")
            #expect(aborted.isFinal)
        }
    }
}

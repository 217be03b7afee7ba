import Foundation
import SkyportCore
import SkyportStore
import Testing

/// Sessions stored by the code of 1034b0c (before forwarding became `ForwardingMachine`, when the remote job was a
/// bag of optionals with a phase word) still load, with the right typed state, and the machine picks them up where
/// that code left them. See `fixtures/stores/README.md`.
@Suite struct StoredSessionsTests {
    static let fixture = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "fixtures/stores/sessions-1034b0c.sqlite")

    /// A copy of the fixture (opening a store migrates it and switches it to WAL: the committed file is never touched).
    static func store() throws -> SQLiteStore {
        let copy = TemporaryFile.path("sessions-1034b0c.sqlite")
        try FileManager.default.copyItem(atPath: fixture.path, toPath: copy)
        return try SQLiteStore(path: copy)
    }

    static func id(_ n: Int) -> UUID { UUID(uuidString: String(format: "00000000-0000-0000-0000-%012d", n))! }

    static let tapJob = "http://tap.example.org/tap/async/"
    static let build = "http://binder.example.org/build/gh/org/repo/main"
    static let offer = "http://broker.example.org/sessions/remote-"

    /// Session number, its phase, its remote job's stage, phase (and the word it is stored as), and the next action.
    static let expected: [(n: Int, phase: SessionPhase, stage: RemoteStage?, remote: RemotePhase?, word: String?, next: ForwardingAction)] = [
        (1, .accepted, nil, nil, nil, .submit),
        (2, .preparing, .submitting, nil, nil, .findByRunID),
        (3, .preparing, .created(url: "http://django.example.org/uws/jobs/3"), nil, nil, .start),
        (4, .preparing, .created(url: tapJob + "4"), .uws(.pending), "PENDING", .start),
        (5, .running, .created(url: tapJob + "5"), .uws(.executing), "EXECUTING", .track(wait: 20)),
        (6, .running, .created(url: tapJob + "6"), .uws(.executing), "EXECUTING", .track(wait: 20)),
        (7, .preparing, .created(url: build), .binder(.building), "building", .track(wait: 20)),
        (8, .available, .created(url: build), .binder(.ready), "ready", .track(wait: 20)),
        (9, .offered, .notSubmitted, .broker(.offered), "OFFERED", .done),
        (10, .rejected, .notSubmitted, .broker(.offered), "OFFERED", .rejectRemoteOffer),
        (11, .running, .created(url: offer + "11"), .broker(.running), "RUNNING", .track(wait: 20)),
        (12, .cancelled, .created(url: tapJob + "12"), .uws(.executing), "EXECUTING", .abort),
        (13, .cancelled, .created(url: tapJob + "13"), .uws(.aborted), "ABORTED", .done),
        (14, .cancelled, .submitting, .broker(.offered), "OFFERED", .findByRunID),
        (15, .completed, .created(url: tapJob + "15"), .uws(.completed), "COMPLETED", .done),
        (16, .completed, .created(url: tapJob + "16"), .uws(.completed), "COMPLETED", .notify(.ended)),
        (17, .failed, .notSubmitted, nil, nil, .done),
        (18, .failed, .created(url: tapJob + "18"), .uws(.error), "ERROR", .done),
        (19, .expired, .created(url: build), .binder(.stopped), "stopped", .done),
        (20, .cancelled, .created(url: build), .aborted, "ABORTED", .done),
        (21, .offered, nil, nil, nil, .done),
        (22, .preparing, .created(url: "http://django.example.org/uws/jobs/22"), .uws(.queued), "QUEUED", .track(wait: 20)),
    ]

    @Test func everyStoredSessionLoadsWithItsTypedState() async throws {
        let store = try Self.store()
        let machine = ForwardingMachine(wait: 20, maxFailures: 8)
        for e in Self.expected {
            let s = try #require(try await store.session(Self.id(e.n)), "session \(e.n)")
            #expect(s.phase == e.phase, "session \(e.n)")
            #expect(s.remote?.stage == e.stage, "session \(e.n)")
            #expect(s.remote?.phase == e.remote, "session \(e.n)")
            #expect(s.remote?.remotePhase == e.word, "session \(e.n)")
            #expect(machine.next(s) == e.next, "session \(e.n)")
        }
    }

    @Test func theRestOfTheRemoteJobIsKept() async throws {
        let store = try Self.store()
        let failing = try #require(try await store.session(Self.id(6))?.remote)
        #expect(failing.failures == 2 && failing.error == "connection refused")
        let building = try #require(try await store.session(Self.id(7))?.remote)
        #expect(building.progress == "Step 3/7 : RUN pip install")
        let notebook = try #require(try await store.session(Self.id(8)))
        #expect(notebook.remote?.access == "http://hub.example.org/user/abc/")
        #expect(notebook.remote?.sealedToken == "c2VhbGVkLXRva2Vu")
        #expect(notebook.remote?.results.map(\.id) == ["notebook"])
        #expect(notebook.notifiedAvailable == true)
        let accepted = try #require(try await store.session(Self.id(11))?.remote)
        #expect(accepted.offer == Self.offer + "11" && accepted.url == Self.offer + "11" && !accepted.isOpenOffer)
        #expect(try await store.session(Self.id(13))?.notified == true)
        #expect(try await store.session(Self.id(17))?.remote?.error == "a BinderHub launch needs a git repository")
    }

    /// The stored `needs_work` flags (computed by the old code) are what the machine computes: a worker claims
    /// exactly the sessions `ForwardingMachine.needsWork` picks.
    @Test func aWorkerClaimsWhatTheOldCodeMarkedAsWork() async throws {
        let store = try Self.store()
        let later = Date(timeIntervalSince1970: 1_800_000_000)
        let claimed = Set(try await store.claimWork(worker: "w", now: later, until: later + 60, limit: 100).map(\.id))
        let due = Set(Self.expected.filter { $0.next != .done }.map { Self.id($0.n) })
        #expect(claimed == due)
    }

    /// What is written back reads the same, and keeps the words and keys the old code wrote.
    @Test func writtenBackItReadsTheSame() async throws {
        let store = try Self.store()
        let encoder = JSONEncoder(), decoder = JSONDecoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        decoder.dateDecodingStrategy = .secondsSince1970
        for e in Self.expected {
            let s = try #require(try await store.session(Self.id(e.n)))
            let data = try encoder.encode(s)
            #expect(try decoder.decode(SessionRecord.self, from: data) == s, "session \(e.n)")
            let remote = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["remote"] as? [String: Any]
            #expect(remote?["remotePhase"] as? String == e.word, "session \(e.n)")
            #expect(remote?["url"] as? String == s.remote?.url, "session \(e.n)")
            if let r = s.remote { #expect(remote?["submitting"] as? Bool == (r.stage != .notSubmitted), "session \(e.n)") }
        }
        // An update through the store keeps it whole.
        let later = Date(timeIntervalSince1970: 1_800_000_000)
        _ = try await store.claimWork(worker: "w", now: later, until: later + 60, limit: 100)
        let before = try #require(try await store.session(Self.id(8)))
        let after = try #require(try await store.updateClaimed(Self.id(8), worker: "w", now: later) { _ in })
        #expect(after.remote == before.remote)
        #expect(try await store.session(Self.id(8))?.remote == before.remote)
    }
}

import Foundation
import SkyportCore
@testable import SkyportStore
import Testing

/// The SQLite store writes offer sets by hand (`StoreCoding.write`, no `JSONEncoder`): the document must be the same
/// JSON value as the encoder's, and read back as the same record.
@Suite struct StoredOfferSetWritingTests {
    static let odd = "a\u{0}\u{1}\t\n\r\u{1F} \"q\" \\ / \u{7F} \u{2028}\u{2029} e\u{301} é 😀"

    static func set(_ text: String) -> OfferSetRecord {
        let now = Date(timeIntervalSince1970: 1_796_000_000.123456)
        var executable = ExecutableRequest(
            kind: .dockerContainer, location: "https://example.org/\(text)", repository: text, ref: text, path: text,
            images: ["registry.example.org/a:1", text], parameters: ["QUERY": text, "b": "", text: "k"])
        executable.unsupportedKind = text
        var request = NormalisedRequest(
            name: text, executable: executable, cores: ResourceRange(min: 1, max: 8), memory: ResourceRange(min: 2), storage: ResourceRange(max: 3),
            duration: ISODuration("PT1H"), start: TimeWindow(earliest: now, latest: now.addingTimeInterval(3_600.5)),
            data: [DataItem(kind: .url, name: text, url: "https://d/\(text)", did: "s:\(text)", rses: [text], size: 1 << 40, checksum: "md5:ab",
                            source: text), DataItem(kind: .ivoa)],
            software: SoftwareDescription(name: text, version: "2", repository: text, languages: [text], operatingSystems: ["Linux"],
                                          runtimePlatforms: [], keywords: [text], memoryRequirements: text, processorRequirements: "x",
                                          storageRequirements: "y"),
            notes: [RequestNote(.warning, "executable", text)])
        request.callback = "https://cb/\(text)"
        return OfferSetRecord(
            id: UUID(), created: now, expires: now.addingTimeInterval(300), request: request,
            messages: [BrokerMessage(kind: "urn:\(text)", level: .ERROR, time: now.addingTimeInterval(0.25), message: text)]
                // A run of facility messages, stored once with its facilities, and one kept as it is.
                + ["a", "b\(text.prefix(1))", "c"].map { BrokerMessage(kind: "urn:no-capacity-in-window", level: .INFO, time: now, message: "facility \($0) has no room: \(text)") }
                + [BrokerMessage(kind: "urn:exceeds-limit", level: .INFO, time: now, message: "facility d \(text)")],
            rejections: [MatchRejection(facility: FacilityID("f-\(text)"), reasons: [
                MatchReason(code: .coresExceedLimit, field: "cores", requested: "64", offered: text),
                MatchReason(code: .facilityUnavailable, field: "health", requested: "", offered: "", detail: text)])],
            idempotencyKey: "key-\(text)", requestDigest: "abc", owner: "https://iam.example.org/#\(text)")
    }

    @Test(arguments: ["plain", StoredOfferSetWritingTests.odd])
    func writtenOfferSetsAreTheEncodersDocument(_ text: String) throws {
        for set in [Self.set(text), OfferSetRecord(id: UUID(), created: Date(timeIntervalSince1970: 0), expires: Date(),
                                                   request: NormalisedRequest(executable: ExecutableRequest()))] {
            let written = StoreCoding.write(set)
            let encoded = try StoreCoding.encode(set)
            #expect(try JSONValue.parse(written) == JSONValue.parse(encoded))
            let read = try StoreCoding.decode(OfferSetRecord.self, written)
            #expect(try read == StoreCoding.decode(OfferSetRecord.self, encoded))
            #expect(read.id == set.id && read.rejections == set.rejections && read.request.name == set.request.name)
            #expect(read.owner == set.owner)
            #expect(read.messages == set.messages)
        }
    }

    /// Offer sets are stored deflated: the blob inflates to the very JSON `write` makes, is smaller than it, and a
    /// damaged blob is an error, not a crash or a wrong document.
    @Test(arguments: ["plain", StoredOfferSetWritingTests.odd])
    func deflatedDocumentsInflateToTheirJSON(_ text: String) throws {
        let set = Self.set(text)
        let json = Array(StoreCoding.write(set).utf8)
        let stored = StoreCoding.stored(set)
        guard let blob = stored.packed else { Issue.record("not deflated"); return }
        #expect(stored.text.isEmpty)
        #expect(try StoredDocument.json(text: stored.text, packed: blob) == json)
        #expect(blob.count < json.count)
        #expect(try StoredDocument.json(text: String(decoding: json, as: UTF8.self), packed: nil) == json)   // rows written before
        for damaged in [blob.prefix(blob.count - 3), Data([2]) + blob.dropFirst(), blob.prefix(1) + Data([0xFF, 0xFF, 0xFF, 0x7F]) + blob.dropFirst(5),
                        blob.prefix(5) + Data(repeating: 0x55, count: 40), Data([1])] {
            #expect(throws: StoreError.self) { try StoredDocument.json(text: "", packed: damaged) }
        }
    }

    /// A stored set is deflated in the file; a set an older version stored as JSON text reads as before.
    @Test func theStoreWritesBlobsAndReadsOlderText() async throws {
        let store = try SQLiteStore(path: ":memory:")
        let now = Date(timeIntervalSince1970: 1_796_000_000)
        let set = OfferSetRecord(id: UUID.timeOrdered(at: now), created: now, expires: now.addingTimeInterval(300),
                                 request: NormalisedRequest(executable: ExecutableRequest(kind: .tapQuery)), rejections: Self.set("plain").rejections)
        _ = try await store.createOfferSet(idempotencyKey: nil, requestDigest: nil, facilities: [], now: now) { _ in (set, []) }
        let older = Self.set("older")
        try await store.writer.write { db in
            try db.execute(sql: "INSERT INTO offer_set (id, created, document, expires) VALUES (?, ?, ?, ?)",
                           arguments: [older.id.uuidString, older.created.timeIntervalSince1970, StoreCoding.write(older), older.expires.timeIntervalSince1970])
        }
        let types = try await store.writer.read { db in
            try String.fetchAll(db, sql: "SELECT typeof(document) || ' ' || length(document) || ' ' || typeof(packed) FROM offer_set ORDER BY id = ?",
                                arguments: [older.id.uuidString])
        }
        #expect(types.first == "text 0 blob" && types.last?.hasPrefix("text ") == true && types.last?.hasSuffix(" null") == true)
        #expect(try await store.offerSet(set.id)?.0 == set)
        #expect(try await store.offerSet(older.id)?.0 == older)
    }

    /// A session with every field set (the test fails when a field is added and not set here).
    static func session(_ text: String) -> SessionRecord {
        let now = Date(timeIntervalSince1970: 1_796_000_000.123456)
        let request = set(text).request
        var s = SessionRecord(
            id: UUID(), offerSet: UUID(), facility: FacilityID("Fac-\(text)"), facilityName: text, phase: .running, created: now,
            expires: now.addingTimeInterval(300.25), cores: 4, memory: 16, start: now.addingTimeInterval(0.5), duration: ISODuration("PT1H30M")!,
            rank: 2, executable: request.executable)
        s.modified = now.addingTimeInterval(1e-6)
        s.data = request.data
        var remote = RemoteJob(endpoint: Endpoint(kind: .uws, url: "http://uws.example/\(text)", launchTimeout: ISODuration("PT5M"), offerDeadline: 30),
                               stage: .created(url: "http://uws.example/jobs/1"), phase: .uws(.executing))
        remote.results = [UWSResult(id: text, href: "http://r/\(text)", mimeType: "text/plain", size: 12)]
        (remote.error, remote.failures, remote.updated, remote.progress, remote.access, remote.sealedToken, remote.offer) =
            (text, 2, now, text, "http://a/\(text)", "sealed", "http://broker/sessions/1")
        s.remote = remote
        (s.message, s.callback, s.notified, s.notifiedAvailable, s.accepted) = (text, "https://cb/\(text)", true, false, now.addingTimeInterval(2))
        (s.owner, s.accounts, s.share) = ("https://iam/#\(text)", [text, "group:/astro"], text)
        (s.started, s.finished, s.gpus, s.staging, s.trace) = (now.addingTimeInterval(3), now.addingTimeInterval(4.5), 2, 12.75, "00-\(text)")
        s.credential = UserCredential(mode: "exchange", issuer: "https://iam/", audience: text, sealedToken: "t", expires: now,
                                      sealedSubject: "s", subjectExpires: now.addingTimeInterval(60))
        return s
    }

    /// `JSONEncoder`'s form of a value (the generic `StoreCoding.encode`, which a session no longer takes).
    static func encoded(_ value: some Encodable) throws -> String { try StoreCoding.encode(value) }

    @Test(arguments: ["plain", StoredOfferSetWritingTests.odd])
    func writtenSessionsAreTheEncodersDocument(_ text: String) throws {
        let full = Self.session(text)
        let unset = Mirror(reflecting: full).children.filter { "\($0.value)" == "nil" }.compactMap(\.label)
        #expect(unset.isEmpty, "set every field of the session: \(unset)")
        var bare = SessionRecord(
            id: UUID(), offerSet: UUID(), facility: FacilityID("f"), facilityName: "", phase: .offered, created: Date(timeIntervalSince1970: 0),
            expires: Date(timeIntervalSince1970: 1), cores: 1, memory: 1, start: Date(timeIntervalSince1970: 2), duration: ISODuration(seconds: 60),
            rank: 0, executable: ExecutableRequest())
        bare.staging = 3
        for session in [full, bare] {
            let written = try StoreCoding.encode(session)
            let encoded = try Self.encoded(session)
            #expect(try JSONValue.parse(written) == JSONValue.parse(encoded))
            #expect(try StoreCoding.decode(SessionRecord.self, written) == session)
        }
    }

    /// A time whose seconds since 1970 do not give it back exactly (`Date` counts from 2001).
    static let inexact = Date(timeIntervalSinceReferenceDate: 817_692_934.364_244_1)

    /// What the store remembers of a document it wrote is what reading that document gives, to the last bit of every
    /// time (a time is kept as seconds since 1970, which do not always give back the `Date` written), so that reading
    /// it from memory or decoding it is the same. A session with a forwarded job (whose phase word reads back for its
    /// endpoint's kind, its deadline to the millisecond) is remembered when it is first read, as read.
    @Test func documentsRememberedAsWrittenAreWhatReadingThemGives() throws {
        #expect(Date(timeIntervalSince1970: Self.inexact.timeIntervalSince1970) != Self.inexact)
        var session = Self.session("plain")
        (session.created, session.modified, session.start, session.finished) = (Self.inexact, Self.inexact, Self.inexact, Self.inexact)
        session.staging = .nan
        (session.remote, session.credential) = (nil, nil)
        let text = try StoreCoding.encode(session)
        let remembered = try #require(StoreCoding.sessions.value(DocumentBytes(text: text)))
        #expect(remembered == (try StoreCoding.decode(SessionRecord.self, bytes: Data(text.utf8))))
        #expect(remembered != session)

        var forwarded = Self.session("plain")
        forwarded.remote?.updated = Self.inexact
        forwarded.remote?.endpoint = Endpoint(kind: .binderhub, url: "http://binder.example/", offerDeadline: 2.0005)
        forwarded.remote?.phase = .binder(.other("ABORTED"))
        let document = try StoreCoding.encode(forwarded)
        #expect(StoreCoding.sessions.value(DocumentBytes(text: document)) == nil)
        let read = try StoreCoding.decode(SessionRecord.self, document)
        #expect(read == (try StoreCoding.decode(SessionRecord.self, bytes: Data(document.utf8))) && read.remote?.phase != forwarded.remote?.phase)
        #expect(StoreCoding.sessions.value(DocumentBytes(text: document)) == read)

        var set = Self.set("plain")
        (set.created, set.messages[0].time) = (Self.inexact, Self.inexact)
        set.request.start?.latest = Self.inexact
        let stored = StoreCoding.stored(set)
        let known = try #require(StoreCoding.offerSets.value(DocumentBytes(text: stored.text, packed: stored.packed)))
        #expect(known == (try StoreCoding.decode(OfferSetRecord.self, bytes: StoredDocument.json(text: stored.text, packed: stored.packed))))
        #expect(try StoreCoding.offerSet(stored) == known)
    }

    /// The memory of decoded documents is bounded by count and by bytes: the oldest goes when a new one comes, and a
    /// document too large for it is not kept. Keys are bytes: two canonically equivalent texts are two documents.
    @Test func decodedDocumentsKeepTheLastOnes() {
        let known = DecodedDocuments<Int>(capacity: 3, budget: 160)
        func key(_ text: String) -> DocumentBytes { DocumentBytes(text: text) }
        for n in 1...3 { known.remember(key("\(n)"), n, size: 10) }
        known.remember(key("2"), 2, size: 10)  // known already: nothing goes
        #expect(known.count == 3 && known.value(key("1")) == 1 && known.size == 30)
        known.remember(key("4"), 4, size: 10)
        #expect(known.count == 3 && known.value(key("1")) == nil && known.value(key("2")) == 2 && known.value(key("4")) == 4)
        var decoded = 0
        #expect(known.value(key("5"), size: 10) { decoded += 1; return 5 } == 5)
        #expect(known.value(key("5"), size: 10) { decoded += 1; return 5 } == 5)
        #expect(decoded == 1 && known.value(key("2")) == nil)
        known.remember(key("big"), 0, size: 11)  // over a sixteenth of the budget
        #expect(known.value(key("big")) == nil && known.count == 3)
        let bytes = DecodedDocuments<Int>(capacity: 100, budget: 160)
        for n in 1...17 { bytes.remember(key("\(n)"), n, size: 10) }
        #expect(bytes.count == 16 && bytes.size == 160 && bytes.value(key("1")) == nil && bytes.value(key("17")) == 17)
        #expect("\u{e9}" == "e\u{301}" && key("\u{e9}") != key("e\u{301}"))
        bytes.remember(key("\u{e9}"), 1, size: 2)
        #expect(bytes.value(key("e\u{301}")) == nil && bytes.value(key("\u{e9}")) == 1)
        // A key's hash is taken once, from all its bytes: equal bytes, equal keys; any byte different, different keys.
        let long = String(repeating: "{\"offers\":[]}", count: 2_000)
        #expect(key(long) == key(String(("x" + long).dropFirst())) && key(long).hashValue == key(String(("x" + long).dropFirst())).hashValue)
        #expect(key(long) != key(String(long.dropLast()) + "]") && key("ab") != key("ba") && key("ab") != key("abc"))
        let packed = DocumentBytes(text: "", packed: Data([1, 2, 3]))
        #expect(packed == DocumentBytes(text: "", packed: Data([1, 2, 3])) && packed != DocumentBytes(text: "", packed: Data([1, 2, 4])))
        #expect(packed != key("") && key("") == key(""))
    }
}

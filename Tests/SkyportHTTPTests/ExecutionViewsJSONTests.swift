import Foundation
@testable import SkyportHTTP
import SkyportCore
import Testing

/// The offer set and session documents are written by hand (`JSONWriter`), not through `JSONEncoder`: the written
/// bytes must be the canonical encoder's, byte for byte, for every field set and for every optional left out.
@Suite struct ExecutionViewsJSONTests {
    /// Control characters, quotes, backslashes, slashes, DEL, the JavaScript line separators, a BOM, combining and
    /// astral characters.
    static let odd = "a\u{0}\u{1}\u{8}\t\n\u{B}\u{C}\r\u{1F} \"q\" \\ / </script> \u{7F} \u{2028}\u{2029} \u{FEFF} e\u{301} é 😀 ✓"

    static func same<T: Encodable & JSONWritable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let encoded = try CanonicalJSON.encoder().encode(value)
        let written = value.jsonBytes
        #expect(String(decoding: written, as: UTF8.self) == String(decoding: encoded, as: UTF8.self), sourceLocation: sourceLocation)
        #expect(try JSONValue.parse(Data(written)) == JSONValue.parse(encoded), sourceLocation: sourceLocation)
    }

    static let now = Date(timeIntervalSince1970: 1_796_000_000.75)

    static func fullRequest(_ text: String) -> NormalisedRequest {
        var executable = ExecutableRequest(
            kind: .jupyterNotebook, location: "https://example.org/\(text).ipynb", repository: "https://github.com/x/\(text)", ref: text,
            path: "nb/\(text)", images: ["registry.example.org/a:1", text], parameters: ["QUERY": text, "LANG": "ADQL", "b": "", "A10": "1", "A9": "2", text: "k"])
        executable.unsupportedKind = text
        var request = NormalisedRequest(
            name: text, executable: executable, cores: ResourceRange(min: 1, max: 8), memory: ResourceRange(min: 2), storage: ResourceRange(max: 100),
            duration: ISODuration("PT1H30M"), start: TimeWindow(earliest: now, latest: now.addingTimeInterval(3_600)),
            data: [DataItem(kind: .rucio, name: text, url: "https://d.example.org/f?a=1&b=2", did: "scope:\(text)", rses: ["DESY", text],
                            size: 12_345_678_901, checksum: "adler32:0a0b", source: "basket:rucio"),
                   DataItem(kind: .other)],
            software: SoftwareDescription(name: text, version: "1.0", repository: "https://git.example.org/r", languages: ["Python", text],
                                          operatingSystems: ["Linux"], runtimePlatforms: ["Python 3"], keywords: [text, "astro"],
                                          memoryRequirements: "8 GiB", processorRequirements: "x86_64", storageRequirements: text),
            notes: [RequestNote(.warning, "executable.kind", text), RequestNote(.info, "duration", "assumed PT1H")])
        request.callback = "https://cb.example.org/\(text)"
        request.needs = RequestNeeds(
            gpus: ResourceRange(min: 1, max: 2), gpuModels: ["A100", text], gpuMemory: 40, architecture: .aarch64, runtimes: ["python >=3.10", text],
            environments: [text], locality: .required, rank: .earliestStart)
        request.components = components(text)
        request.refusals = [RequestNote(.warning, "compute.cores.min", text)]
        return request
    }

    static func components(_ text: String) -> RequestComponents {
        RequestComponents(
            executable: .object(["kind": .string("https://k/\(text)"), "command": .array([.string(text), .string("10")]), "privileged": .bool(false),
                                 "environment": .object([text: .string(text), "B": .string("")]), "z": .null,
                                 // The broker's own members overlay the request's: its meta beside theirs, its phase instead.
                                 "meta": .object(["name": .string(text), "uuid": .string("theirs"), "a": .number(1)]), "phase": .string(text),
                                 "schedule": .null, text: .string("k")]),
            compute: .object(["cores": .object(["min": .number(2)]), "volumes": .array([.object(["path": .string("/data/\(text)")])])]),
            storage: [.object(["size": .object(["min": .number(10), "max": .number(20)])])],
            data: [.object(["location": .string("https://d/\(text)"), "meta": .object(["name": .string(text)])])],
            costs: [.object(["min": .number(1.5), "max": .number(-3.75), "big": .number(9_500_000_000_000_000), "\u{212B}": .string("angstrom"), "B": .null])],
            metrics: [.object(["min": .number(0.25), "huge": .number(1e300)])])
    }

    static let schedule = ExecutionViews.Schedule(
        preparing: .init(start: "2026-12-01T00:00:00Z", duration: "PT10S"), available: .init(start: "2026-12-01T00:00:00Z/PT0S", duration: "PT1H"),
        releasing: .init(start: "2026-12-01T01:00:00Z", duration: "PT0S"))

    static func fullSession(_ text: String, phase: SessionPhase) -> ExecutionViews.Session {
        let c = components(text)
        return ExecutionViews.Session(
            meta: .init(uuid: "u-\(text)", name: text, url: "http://h/sessions/\(text)", created: "2026-12-01T00:00:00Z", modified: "2026-12-01T00:00:01Z",
                        messages: [BrokerMessage(kind: "urn:\(text)", level: .WARN, time: now, message: text)]),
            phase: phase, expires: "2026-12-01T00:05:00Z",
            executable: .init(c.executable!.objectValue!, owned: .init(
                uuid: "u-e", url: "http://h/sessions/\(text)#executable", created: "2026-12-01T00:00:00Z",
                lifecycle: .init(phase: "INITIALIZING", schedule: schedule))),
            compute: .init(c.compute!.objectValue!, owned: .init(uuid: "u-c", url: "http://h/sessions/\(text)#compute", created: text)),
            storage: c.storage.map(ExecutionViews.Component.init), data: c.data.map(ExecutionViews.Component.init), costs: c.costs, metrics: c.metrics,
            schedule: schedule,
            facility: .init(id: text, name: "Facility \(text)", url: "http://h/facilities/\(text)"),
            offerset: "http://h/offersets/\(text)",
            connectors: [.init(kind: "urn:skyport:connector:uws-job", status: "PREPARING", protocol: "HTTPS", location: "https://f/\(text)")],
            results: [.init(id: text, href: "https://f/r/\(text)"), .init(id: "b", href: "https://f/r/b")],
            message: text, progress: .init(phase: "EXECUTING", message: text), federated: .init(broker: "broker-\(text)", session: "https://b/s/\(text)"),
            staging: "PT10S")
    }

    static func bareSession() -> ExecutionViews.Session {
        ExecutionViews.Session(
            meta: .init(uuid: "u", url: "/sessions/u", created: "2026-12-01T00:00:00Z"), phase: .completed,
            executable: .init(.object(["kind": .string("k")])), compute: .init(.object([:])),
            schedule: schedule, facility: .init(id: "f", name: "f", url: "/facilities/f"),
            offerset: "/offersets/o", connectors: [])
    }

    static func rejections(_ count: Int, odd text: String) -> [MatchRejection] {
        (0..<count).map { i in
            let id = FacilityID(i % 7 == 0 ? "fac-\(i)-\(text)" : "fac-\(i)")
            switch i % 5 {
            case 0: return MatchRejection(facility: id, reasons: [MatchReason(code: .coresExceedLimit, field: "cores", requested: "64", offered: "16")])
            case 1: return MatchRejection(facility: id, reasons: [
                MatchReason(code: .kindNotAccepted, field: "executable.kind", requested: "tap-query", offered: "jupyter-notebook,docker-container"),
                MatchReason(code: .memoryExceedCapacity, field: "memory", requested: "512", offered: "256")])
            case 2: return MatchRejection(facility: id, reasons: [
                MatchReason(code: .facilityUnavailable, field: "health", requested: "", offered: "", detail: "since 2026-12-01T00:00:00Z: \(text)")])
            case 3: return MatchRejection(facility: id, reasons: [
                MatchReason(code: .brokerNoOffers, field: "", requested: "", offered: "", detail: "no facility can run it: \(text)"),
                MatchReason(code: .brokerUnreachable, field: "", requested: "", offered: "", detail: "answered HTTP 502: \(text)")])
            default: return MatchRejection(facility: id, reasons: [
                MatchReason(code: .dataNotColocated, field: "data", requested: "DESY|\(text)", offered: "PIC"),
                MatchReason(code: .federationLoop, field: "", requested: "", offered: "", detail: text)])
            }
        }
    }

    @Test(arguments: ["plain", ExecutionViewsJSONTests.odd])
    func sessionsWithEveryFieldAreWrittenAsTheEncoderWritesThem(_ text: String) throws {
        for phase in SessionPhase.allCases { try Self.same(Self.fullSession(text, phase: phase)) }
        try Self.same(Self.bareSession())
    }

    @Test(arguments: ["plain", ExecutionViewsJSONTests.odd])
    func requestsWithEveryFieldAreWrittenAsTheEncoderWritesThem(_ text: String) throws {
        try Self.same(Self.fullRequest(text))
        try Self.same(NormalisedRequest(executable: ExecutableRequest()))
    }

    /// A set with offers (one of them another broker's) and rejections, and a NO set with many rejections, as the
    /// controller makes them from records, for operators and for anyone else.
    @Test(arguments: ["plain", ExecutionViewsJSONTests.odd])
    func offerSetsAreWrittenAsTheEncoderWritesThem(_ text: String) throws {
        let setID = UUID()
        var set = OfferSetRecord(
            id: setID, created: Self.now, expires: Self.now.addingTimeInterval(300), request: Self.fullRequest(text),
            messages: [BrokerMessage(kind: "urn:no-offers", level: .INFO, time: Self.now, message: text)], rejections: Self.rejections(60, odd: text))
        set.ranking = .load
        set.funnel = MatchFunnel(total: 9, steps: [.init(clause: .kind, passed: 5), .init(clause: .capacity, passed: 1, tried: 2)])
        var offer = SessionRecord(
            id: UUID(), offerSet: setID, facility: FacilityID("fac-\(text)"), facilityName: text, phase: .offered, created: Self.now,
            expires: Self.now.addingTimeInterval(300), cores: 4, memory: 8, start: Self.now, duration: ISODuration("PT1H")!, rank: 0,
            executable: Self.fullRequest(text).executable)
        offer.message = text
        offer.gpus = 2
        offer.staging = 12.5
        var bare = SessionRecord(
            id: UUID(), offerSet: setID, facility: FacilityID("b"), facilityName: "b", phase: .rejected, created: Self.now,
            expires: Self.now, cores: 1, memory: 1, start: Self.now, duration: ISODuration("PT5M")!, rank: 1, executable: ExecutableRequest())
        bare.modified = Self.now.addingTimeInterval(1)
        for audience in [ReasonAudience.operator, .public] {
            for base in ["", "http://127.0.0.1:8080"] {
                try Self.same(ExecutionViews.offerSet(set, [offer, bare], base: base, now: Self.now, audience: audience))
                try Self.same(ExecutionViews.offerSet(set, [], base: base, now: Self.now, audience: audience))
                try Self.same(ExecutionViews.session(offer, base: base, now: Self.now))
                try Self.same(ExecutionViews.session(offer, base: base, now: Self.now, request: set.request))
            }
        }
        var views = ExecutionViews.offerSet(set, [], base: "", now: Self.now, audience: .operator)
        views.offers = [Self.fullSession(text, phase: .offered), Self.bareSession()]
        try Self.same(views)
        let empty = OfferSetRecord(id: setID, created: Self.now, expires: Self.now, request: NormalisedRequest(executable: ExecutableRequest()))
        try Self.same(ExecutionViews.offerSet(empty, [], base: "", now: Self.now, audience: .public))
    }

    /// Every single byte below 0x80 and a few beyond, each alone in a string, is written as the encoder writes it.
    @Test func everyASCIIByteIsEscapedAsTheEncoderEscapesIt() throws {
        for scalar in (0..<0x80).map({ Unicode.Scalar(UInt8($0)) }) + ["\u{80}", "\u{FFFF}", "\u{10FFFF}"] {
            try Self.same(ExecutionViews.Result(id: String(Character(scalar)), href: "x\(Character(scalar))y"))
        }
    }

    /// Components' uuids are derived, not stored: the hex is written directly now, and must stay what the
    /// `String(format:)` form (below) gave, or every component's uuid would change under its clients.
    @Test func componentUUIDsAreWhatTheyWere() {
        func before(_ session: UUID, _ path: String) -> String {
            func fnv(_ seed: UInt64) -> UInt64 {
                var h = seed
                for b in session.uuidString.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
                for b in path.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
                return h
            }
            var hi = fnv(0xCBF2_9CE4_8422_2325), lo = fnv(0x8422_2325_CBF2_9CE4)
            hi = (hi & ~0xF000) | 0x8000
            lo = (lo & ~(0xC << 60)) | (0x8 << 60)
            let c = Array(String(format: "%016llx%016llx", hi, lo))
            return "\(String(c[0..<8]))-\(String(c[8..<12]))-\(String(c[12..<16]))-\(String(c[16..<20]))-\(String(c[20..<32]))"
        }
        for path in ["executable", "compute", "storage[0]", "data[12]", "compute.volumes[3]", Self.odd] {
            for session in [UUID(), UUID(uuidString: "00000000-0000-0000-0000-000000000000")!] + (0..<50).map { _ in UUID() } {
                let id = SessionComponents.uuid(session: session, path: path)
                #expect(id == before(session, path))
                #expect(UUID(uuidString: id) != nil)
            }
        }
    }
}

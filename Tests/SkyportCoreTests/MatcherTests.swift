import Foundation
import Testing
import SkyportBench
@testable import SkyportCore

/// Builders for facilities and requests shared by the matcher, batch and planner tests.
enum MatchFixtures {
    static let epoch = Date(timeIntervalSince1970: 1_800_000_000)

    static func facility(
        _ id: String, status: FacilityStatus = .active, accepts: [ExecutableKind] = [.jupyterNotebook, .dockerContainer],
        limits: FacilityLimits = FacilityLimits(cores: 16, memory: 64, duration: ISODuration(seconds: 86_400)),
        capacity: FacilityCapacity = FacilityCapacity(cores: 64, memory: 256), rses: [String] = []
    ) -> Facility {
        Facility(
            id: FacilityID(id), name: id, status: status, endpoints: [Endpoint(kind: .uws, url: "https://\(id).example.org/uws")],
            accepts: accepts, limits: limits, capacity: capacity, data: FacilityData(rses: rses), owner: "test",
            created: epoch, modified: epoch)
    }

    static func request(
        kind: ExecutableKind? = .jupyterNotebook, cores: ResourceRange? = nil, memory: ResourceRange? = nil,
        duration: ISODuration? = nil, start: TimeWindow? = nil, rucio: [[String]] = [], name: String? = nil
    ) -> NormalisedRequest {
        NormalisedRequest(
            name: name, executable: ExecutableRequest(kind: kind), cores: cores, memory: memory, duration: duration, start: start,
            data: rucio.enumerated().map { n, rses in DataItem(kind: .rucio, did: "test:file-\(n)", rses: rses) })
    }

    /// The request, with its data required to be local (`locality: required`).
    static func local(_ request: NormalisedRequest) -> NormalisedRequest {
        var r = request
        r.needs = RequestNeeds(locality: .required)
        return r
    }
}

/// One hard filter: a facility and a request that fail it and nothing else.
struct ReasonCase: Sendable, CustomTestStringConvertible {
    var facility: Facility
    var request: NormalisedRequest
    var code: MatchReasonCode
    var field: String
    var requested: String
    var offered: String
    var testDescription: String { "\(code.rawValue): requested \(requested), offered \(offered)" }

    static let all: [ReasonCase] = {
        typealias F = MatchFixtures
        return [
            ReasonCase(facility: F.facility("draining", status: .draining), request: F.request(),
                       code: .facilityNotActive, field: "status", requested: "active", offered: "draining"),
            ReasonCase(facility: F.facility("disabled", status: .disabled), request: F.request(),
                       code: .facilityNotActive, field: "status", requested: "active", offered: "disabled"),
            ReasonCase(facility: F.facility("jupyter-only", accepts: [.jupyterNotebook]), request: F.request(kind: .dockerContainer),
                       code: .kindNotAccepted, field: "executable.kind", requested: "docker-container", offered: "jupyter-notebook"),
            ReasonCase(facility: F.facility("runs-nothing", accepts: []), request: F.request(kind: nil),
                       code: .kindNotAccepted, field: "executable.kind", requested: "unknown", offered: ""),
            ReasonCase(facility: F.facility("small-jobs"), request: F.request(cores: ResourceRange(min: 32)),
                       code: .coresExceedLimit, field: "cores", requested: "32", offered: "16"),
            ReasonCase(facility: F.facility("small-memory"), request: F.request(memory: ResourceRange(min: 128, max: 256)),
                       code: .memoryExceedLimit, field: "memory", requested: "128", offered: "64"),
            ReasonCase(facility: F.facility("short-jobs", limits: FacilityLimits(duration: ISODuration(seconds: 7_200))),
                       request: F.request(duration: ISODuration(seconds: 4 * 3_600)),
                       code: .durationExceedLimit, field: "duration", requested: "PT4H", offered: "PT2H"),
            ReasonCase(facility: F.facility("tiny", limits: FacilityLimits(), capacity: FacilityCapacity(cores: 4, memory: 256)),
                       request: F.request(cores: ResourceRange(min: 8)),
                       code: .coresExceedCapacity, field: "cores", requested: "8", offered: "4"),
            ReasonCase(facility: F.facility("tiny-memory", limits: FacilityLimits(), capacity: FacilityCapacity(cores: 64, memory: 8)),
                       request: F.request(memory: ResourceRange(min: 16)),
                       code: .memoryExceedCapacity, field: "memory", requested: "16", offered: "8"),
            ReasonCase(facility: F.facility("at-pic", rses: ["PIC-DCACHE"]), request: F.local(F.request(rucio: [["DESY-DCACHE"]])),
                       code: .dataNotColocated, field: "data", requested: "DESY-DCACHE", offered: "PIC-DCACHE"),
        ]
    }()
}

@Suite struct MatcherTests {
    typealias F = MatchFixtures

    @Test(arguments: ReasonCase.all)
    func eachHardFilterRejectsWithItsReason(_ c: ReasonCase) throws {
        // Given a facility that fails exactly one filter, and one that passes everything
        let outcome = Matcher.match(c.request, against: [c.facility, F.facility("roomy", accepts: [.jupyterNotebook, .dockerContainer], limits: FacilityLimits(), capacity: FacilityCapacity(), rses: ["DESY-DCACHE"])])
        // Then the first is rejected with that one reason, carrying what was asked and what is offered
        let rejection = try #require(outcome.rejections.first)
        #expect(outcome.rejections.count == 1)
        #expect(rejection.facility == c.facility.id)
        #expect(rejection.reasons.count == 1)
        let reason = try #require(rejection.reasons.first)
        #expect(reason.code == c.code)
        #expect(reason.field == c.field)
        #expect(reason.requested == c.requested)
        #expect(reason.offered == c.offered)
        #expect(!reason.message.isEmpty)
        #expect(outcome.rankedIDs.map(\.rawValue) == ["roomy"])
    }

    /// Equal keys only where the rejections are equal: the same index and shape; never another index (a facility may
    /// have changed), another shape, or other health.
    @Test func rejectionsKeysAreEqualOnlyWhereTheRejectionsMustBe() {
        let facilities = [F.facility("jupyter-only", accepts: [.jupyterNotebook]), F.facility("small", limits: FacilityLimits(cores: 2)), F.facility("any")]
        let index = MatchIndex(facilities)
        let request = F.request(kind: .dockerContainer, cores: ResourceRange(min: 4))
        let key = index.match(request).rejectionsKey
        #expect(index.match(request).rejectionsKey == key)
        #expect(index.match(request).rejectionsKey.hashValue == key.hashValue)
        #expect(index.match(request).rejections == index.match(request).rejections)
        #expect(MatchIndex(facilities).match(request).rejectionsKey != key)
        #expect(index.match(F.request(kind: .dockerContainer, cores: ResourceRange(min: 3))).rejectionsKey != key)
        #expect(index.match(F.request(kind: .jupyterNotebook, cores: ResourceRange(min: 4))).rejectionsKey != key)
        let now = MatchFixtures.epoch
        var board = HealthBoard()
        board.record(.unavailable("connection refused"), for: FacilityID("any"), at: now)
        let sick = Matcher.match(request, index: index, health: board, now: now)
        #expect(sick.rejectionsKey != key)
        var later = HealthBoard()
        later.record(.unavailable("connection reset"), for: FacilityID("any"), at: now)
        #expect(Matcher.match(request, index: index, health: later, now: now).rejectionsKey != sick.rejectionsKey)
        #expect(Matcher.match(request, index: index, health: board, now: now).rejectionsKey == sick.rejectionsKey)
    }

    @Test func aFacilityFailingEverythingGetsEveryReason() throws {
        let f = F.facility(
            "hopeless", status: .disabled, accepts: [.tapQuery],
            limits: FacilityLimits(cores: 2, memory: 4, duration: ISODuration(seconds: 600)),
            capacity: FacilityCapacity(cores: 2, memory: 4), rses: ["CERN-EOS"])
        let r = F.local(F.request(cores: ResourceRange(min: 8), memory: ResourceRange(min: 16), duration: ISODuration(seconds: 3_600),
                          rucio: [["DESY-DCACHE"], ["PIC-DCACHE", "SARA-DCACHE"]]))
        let outcome = Matcher.match(r, against: [f])
        let reasons = try #require(outcome.rejections.first).reasons
        #expect(reasons.map(\.code) == [
            .facilityNotActive, .kindNotAccepted, .coresExceedLimit, .memoryExceedLimit, .durationExceedLimit,
            .coresExceedCapacity, .memoryExceedCapacity, .dataNotColocated, .dataNotColocated,
        ])
        #expect(reasons.last?.requested == "PIC-DCACHE|SARA-DCACHE")
        #expect(!outcome.isMatch)
        #expect(outcome.candidates.isEmpty)
    }

    @Test func requestsAtExactlyTheLimitPass() {
        let f = F.facility("edge", limits: FacilityLimits(cores: 8, memory: 32, duration: ISODuration(seconds: 3_600)),
                           capacity: FacilityCapacity(cores: 8, memory: 32))
        let r = F.request(cores: ResourceRange(min: 8), memory: ResourceRange(min: 32), duration: ISODuration(seconds: 3_600))
        #expect(Matcher.match(r, against: [f]).rankedIDs == [f.id])
        let over = F.request(cores: ResourceRange(min: 9))
        #expect(Matcher.match(over, against: [f]).rankedIDs.isEmpty)
    }

    @Test func unknownValuesFlagInsteadOfRejecting() throws {
        // Given a facility that publishes no limits, no capacity and no RSEs
        let f = F.facility("vague", limits: FacilityLimits(), capacity: FacilityCapacity())
        // When a request with an unknown kind asks for a lot, with one unlocated and one located Rucio item
        let r = F.request(kind: nil, cores: ResourceRange(min: 512), memory: ResourceRange(min: 4_096),
                          duration: ISODuration(seconds: 30 * 86_400), rucio: [[], ["DESY-DCACHE"]])
        let outcome = Matcher.match(r, against: [f])
        // Then it is accepted, with every unknown flagged
        let c = try #require(outcome.candidates.first)
        #expect(outcome.rejectedCount == 0)
        let flags = c.flags.map { "\($0.code.rawValue):\($0.field)" }
        #expect(flags == [
            "kind-unknown:executable.kind", "limit-unknown:cores", "limit-unknown:memory", "limit-unknown:duration",
            "capacity-unknown:cores", "capacity-unknown:memory", "data-location-unknown:data", "facility-data-unknown:data",
        ])
        #expect(c.score == MatchScore(colocation: 0, headroom: 0, staging: 0))
    }

    @Test func unlocatedDataNeverRejectsADataFacility() throws {
        let f = F.facility("at-desy", rses: ["DESY-DCACHE"])
        let outcome = Matcher.match(F.request(rucio: [[]]), against: [f])
        let c = try #require(outcome.candidates.first)
        #expect(c.flags.map(\.code) == [.dataLocationUnknown])
    }

    @Test func partialColocationIsAcceptedFlaggedAndScoredByFraction() throws {
        let f = F.facility("at-desy", rses: ["desy-dcache"])
        let outcome = Matcher.match(F.request(rucio: [["DESY-DCACHE"], ["PIC-DCACHE"]]), against: [f])
        let c = try #require(outcome.candidates.first)
        #expect(c.score.colocation == 0.5)
        #expect(c.flags.map(\.code) == [.dataPartlyColocated])
        #expect(c.flags.first?.message.contains("PIC-DCACHE") == true)
    }

    @Test func rankingPrefersColocationThenHeadroomThenKey() {
        let big = FacilityLimits(cores: 128, memory: 512, duration: ISODuration(seconds: 7 * 86_400))
        let small = FacilityLimits(cores: 8, memory: 32, duration: ISODuration(seconds: 86_400))
        let facilities = [
            F.facility("remote-small", limits: small, capacity: FacilityCapacity(cores: 16, memory: 64)),
            F.facility("remote-big", limits: big, capacity: FacilityCapacity(cores: 4_096, memory: 16_384)),
            F.facility("local-small", limits: small, capacity: FacilityCapacity(cores: 16, memory: 64), rses: ["DESY-DCACHE"]),
            F.facility("local-big", limits: big, capacity: FacilityCapacity(cores: 4_096, memory: 16_384), rses: ["DESY-DCACHE", "PIC-DCACHE"]),
            F.facility("b-twin", limits: small, capacity: FacilityCapacity(cores: 16, memory: 64), rses: ["PIC-DCACHE"]),
            F.facility("A-twin", limits: small, capacity: FacilityCapacity(cores: 16, memory: 64), rses: ["PIC-DCACHE"]),
        ]
        let r = F.request(cores: ResourceRange(min: 4), memory: ResourceRange(min: 8), rucio: [["DESY-DCACHE"], ["PIC-DCACHE"]])
        let outcome = Matcher.match(r, against: facilities)
        #expect(outcome.rankedIDs.map(\.rawValue) == ["local-big", "A-twin", "b-twin", "local-small", "remote-big", "remote-small"])
        let scores = outcome.candidates.map(\.score)
        #expect(scores.map(\.colocation) == [1, 0.5, 0.5, 0.5, 0, 0])
        #expect(scores[0] > scores[1] && scores[3] > scores[4] && scores[4] > scores[5])
        #expect(scores[1] == scores[2])
    }

    @Test func headroomIsTheMeanOverKnownLimitsAndCapacities() throws {
        let f = F.facility("f", limits: FacilityLimits(cores: 8, memory: 16, duration: ISODuration(seconds: 4 * 3_600)),
                           capacity: FacilityCapacity(cores: 16, memory: 32))
        let r = F.request(cores: ResourceRange(min: 4), memory: ResourceRange(min: 8), duration: ISODuration(seconds: 2 * 3_600))
        let score = try #require(Matcher.match(r, against: [f]).candidates.first).score
        // (0.5 + 0.5 + 0.75 + 0.75 + 0.5) / 5
        #expect(abs(score.headroom - 0.6) < 1e-12)
    }

    @Test func sameInputSameOutputWhateverTheFacilityOrder() {
        let facilities = SyntheticWorkload.facilities(count: 300, seed: 5)
        let requests = SyntheticWorkload.requests(count: 60, distinctShapes: 60, seed: 9)
        var rng = SeededGenerator(seed: 77)
        let shuffled = facilities.shuffled(using: &rng)
        #expect(shuffled.map(\.id) != facilities.map(\.id))
        let a = MatchIndex(facilities), b = MatchIndex(shuffled)
        var matched = 0
        for r in requests {
            let x = a.match(r), y = b.match(r)
            #expect(x.rankedIDs == y.rankedIDs)
            #expect(x.candidates == y.candidates)
            #expect(x.rejections == y.rejections)
            #expect(x.rankedIDs == a.match(r).rankedIDs)
            if x.isMatch { matched += 1 }
        }
        #expect(matched > 10 && matched < requests.count + 1)
    }

    @Test func everyFacilityIsEitherRankedOrRejected() {
        let facilities = SyntheticWorkload.facilities(count: 200, seed: 1)
        for r in SyntheticWorkload.requests(count: 40, distinctShapes: 40, seed: 2) {
            let o = Matcher.match(r, against: facilities)
            #expect(o.acceptedCount + o.rejectedCount == facilities.count)
            #expect(Set(o.rankedIDs).count == o.acceptedCount)
            #expect(o.rejections.allSatisfy { !$0.reasons.isEmpty })
            #expect(Set(o.rankedIDs).isDisjoint(with: o.rejections.map(\.facility)))
        }
    }

    @Test func kindsGivenAsURIsMatchTheirAliases() {
        let f = F.facility("docker", accepts: [.dockerContainer])
        let uri = ExecutableKind("https://www.purl.org/ivoa.net/EB/schema/types/executable/docker-container-1.0")
        #expect(Matcher.match(F.request(kind: uri), against: [f]).rankedIDs == [f.id])
        let custom = ExecutableKind("https://example.org/kinds/other-thing")
        #expect(Matcher.match(F.request(kind: custom), against: [f]).rejections.first?.reasons.map(\.code) == [.kindNotAccepted])
    }

    @Test func reportListsCandidatesWithFlagsAndEveryRejectionReason() {
        let facilities = [
            F.facility("good", rses: ["DESY-DCACHE"]),
            F.facility("vague", limits: FacilityLimits(), capacity: FacilityCapacity()),
            F.facility("small", limits: FacilityLimits(cores: 2, memory: 4), capacity: FacilityCapacity(cores: 2, memory: 4)),
        ]
        let r = F.request(cores: ResourceRange(min: 4), rucio: [["DESY-DCACHE"]], name: "demo")
        let text = MatchReport.text(for: r, against: facilities)
        #expect(text.contains("Request 'demo': kind jupyter-notebook, cores >= 4, 1 Rucio item"))
        #expect(text.contains("YES: 2 of 3 facilities match."))
        #expect(text.contains("1. good  (data 1.00 headroom"))
        #expect(text.contains("2. vague  (data 0.00 headroom 0.00)"))
        #expect(text.contains("! limit-unknown [cores]"))
        #expect(text.contains("x cores-exceed-limit [cores]: requested 4, offered 2."))
        #expect(text.contains("x cores-exceed-capacity [cores]: requested 4, offered 2."))
        #expect(text.contains("x data-not-colocated") == false)
    }

    @Test func reasonsAreStoredAsCodesAndValuesAndRenderedOnRead() throws {
        let o = Matcher.match(F.request(cores: ResourceRange(min: 32)), against: [F.facility("small")])
        let data = try JSONEncoder().encode(o.rejections)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#"["cores-exceed-limit","cores","32","#))
        #expect(!text.contains("the request needs"))
        let read = try JSONDecoder().decode([MatchRejection].self, from: data)
        #expect(read == o.rejections)
        #expect(read.first?.reasons.first?.message.hasPrefix("the request needs at least 32 cores; facility small allows at most") == true)
    }

    /// An offer set keeps its rejections as one text (cheap to write inside the store's transaction); every value
    /// survives it, tabs, line breaks and backslashes included, and sets stored with the nested arrays still read.
    @Test func offerSetRejectionsAreKeptAsOneTextAndReadBack() throws {
        let o = Matcher.match(F.request(cores: ResourceRange(min: 32)), against: [F.facility("small"), F.facility("tiny")])
        var rejections = o.rejections
        rejections.append(MatchRejection(facility: FacilityID("odd\tname"), reasons: [
            MatchReason(code: .kindNotAccepted, field: "executable.kind", requested: "a\tb\\c", offered: "x\ny", detail: nil),
            MatchReason(code: .brokerUnreachable, field: "broker", requested: "", offered: "", detail: "answered HTTP 502: \\ back\tslash"),
        ]))
        let set = OfferSetRecord(
            id: UUID(), created: Date(timeIntervalSince1970: 1_800_000_000), expires: Date(timeIntervalSince1970: 1_800_000_300),
            request: F.request(cores: ResourceRange(min: 32)), rejections: rejections)
        let data = try JSONEncoder().encode(set)
        let stored = try #require(try JSONValue.parse(data)["rejections"]?.stringValue)
        #expect(stored.hasPrefix("small\tcores-exceed-limit\tcores\t32\t"))
        let read = try JSONDecoder().decode(OfferSetRecord.self, from: data)
        #expect(read == set)

        var old = try #require(try JSONValue.parse(data).objectValue)
        old["rejections"] = try JSONValue.parse(try JSONEncoder().encode(rejections))
        #expect(try JSONDecoder().decode(OfferSetRecord.self, from: JSONEncoder().encode(JSONValue.object(old))) == set)
        #expect(throws: FieldError.self) { try MatchRejection.parseCompact("f\tno-such-code\tx\ty\tz") }
    }

    /// A reason many facilities share is written once and referred to (`facility TAB ^N`); reading gives every
    /// facility its own copy, and a reference to a line not yet read is an error.
    @Test func compactRejectionsReferToAReasonAlreadyWritten() throws {
        let a = MatchReason(code: .kindNotAccepted, field: "executable.kind", requested: "jupyter-notebook", offered: "tap-query")
        let b = MatchReason(code: .kindNotAccepted, field: "executable.kind", requested: "jupyter-notebook", offered: "docker-container")
        let c = MatchReason(code: .facilityUnavailable, field: "health", requested: "", offered: "", detail: "HTTP 503 \\ down")
        let rejections = (0..<40).map { i in
            MatchRejection(facility: FacilityID("f\(i)"), reasons: i % 10 == 3 ? [b, c] : [i % 2 == 0 ? a : b])
        } + [MatchRejection(facility: FacilityID("^0"), reasons: [a, a])]
        let text = MatchRejection.compact(rejections)
        let lines = text.split(separator: "\n")
        #expect(lines[0] == "f0\tkind-not-accepted\texecutable.kind\tjupyter-notebook\ttap-query")
        #expect(lines[2] == "f2\t^0" && lines[3] == "f3\t^1" && lines[4] == "f3\tfacility-unavailable\thealth\t\t\tHTTP 503 \\\\ down")
        #expect(lines.last == "^0\t^0" && lines[lines.count - 2] == "^0\t^0")
        #expect(text.utf8.count < 40 * 12 + 200)
        // A reason that is only canonically equivalent to the first of its kind written is written in full, with its own bytes.
        let e1 = MatchReason(code: .kindNotAccepted, field: "executable.kind", requested: "caf\u{e9}", offered: "x")
        let e2 = MatchReason(code: .kindNotAccepted, field: "executable.kind", requested: "cafe\u{301}", offered: "x")
        let accents = [MatchRejection(facility: FacilityID("e1"), reasons: [e1]), MatchRejection(facility: FacilityID("e2"), reasons: [e2]),
                       MatchRejection(facility: FacilityID("e3"), reasons: [e2])]
        let accentText = MatchRejection.compact(accents)
        #expect(accentText.split(separator: "\n").map { $0.split(separator: "\t").count } == [5, 5, 5])
        #expect(try MatchRejection.parseCompact(accentText).map { Array($0.reasons[0].requested.utf8) } == [e1, e2, e2].map { Array($0.requested.utf8) })
        let read = try MatchRejection.parseCompact(text)
        #expect(read == rejections)
        #expect(read[13].reasons.map(\.facility) == [FacilityID("f13"), FacilityID("f13")])
        #expect(read[13].reasons[1].detail == "HTTP 503 \\ down")
        #expect(read.last?.reasons.count == 2)
        for bad in ["f\t^0", "f\tkind-not-accepted\ta\tb\tc\ng\t^1", "f\tkind-not-accepted\ta\tb\tc\ng\t^-1", "f\tkind-not-accepted\ta\tb\tc\ng\t^x"] {
            #expect(throws: FieldError.self) { try MatchRejection.parseCompact(bad) }
        }
    }

    /// The planner's note on each facility without room is most of a `NO` set's messages: stored, a run of them is
    /// one entry with the facilities in order; read, it is the same messages, and sets stored before still read.
    @Test func runsOfFacilityMessagesAreStoredOnceAndReadBack() throws {
        let t = Date(timeIntervalSince1970: 1_800_000_000.25)
        func room(_ f: String, _ rest: String = "has no room for 4 cores and 1 GiB for PT1H starting by 2027-01-15T08:00:00Z", time: Date? = nil) -> BrokerMessage {
            BrokerMessage(kind: "urn:no-capacity-in-window", level: .INFO, time: time ?? t, message: "facility \(f) \(rest)")
        }
        let messages = [BrokerMessage(kind: "urn:no-offers", level: .WARN, time: t, message: "no accepted facility has capacity")]
            + (0..<50).map { room("f\($0)") }
            + [room("g", "has no room for 2 cores"), room("h", "has no room for 2 cores"), room("x", time: t.addingTimeInterval(1)),
               BrokerMessage(kind: "urn:exceeds-limit", level: .INFO, time: t, message: "cores: facility  has two spaces"),
               BrokerMessage(kind: "urn:note", level: .INFO, time: t, message: "facility"),
               BrokerMessage(kind: "urn:note", level: .INFO, time: t, message: "facility  leading space"),
               room("y\u{e9}\"q\""), room("z\u{e9}\"q\"")]
        let stored = StoredMessage.pack(messages)
        #expect(stored.map { $0.facilities?.count ?? 0 } == [0, 50, 2, 0, 0, 0, 0, 2])
        #expect(stored[1].message == "has no room for 4 cores and 1 GiB for PT1H starting by 2027-01-15T08:00:00Z")
        #expect(stored[3].message == "facility x has no room for 4 cores and 1 GiB for PT1H starting by 2027-01-15T08:00:00Z")
        #expect(StoredMessage.unpack(stored) == messages)
        // Texts that are only canonically equivalent (`==` in Swift) are not one run: each keeps its own bytes.
        let accents = [room("a", "has no room in caf\u{e9}"), room("b", "has no room in cafe\u{301}")]
        #expect(StoredMessage.pack(accents).allSatisfy { $0.facilities == nil })
        #expect(StoredMessage.unpack(StoredMessage.pack(accents)).map { Array($0.message.utf8) } == accents.map { Array($0.message.utf8) })

        let set = OfferSetRecord(
            id: UUID(), created: t, expires: t.addingTimeInterval(300), request: F.request(cores: ResourceRange(min: 1)), messages: messages)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        let data = try encoder.encode(set)
        #expect(try decoder.decode(OfferSetRecord.self, from: data) == set)
        #expect(data.count < 2_500)
        var old = try #require(try JSONValue.parse(data).objectValue)
        old["messages"] = try JSONValue.parse(try encoder.encode(messages))
        #expect(try decoder.decode(OfferSetRecord.self, from: encoder.encode(JSONValue.object(old))) == set)
    }

    @Test func compactRejectionsKeepEscapesAndAnyTextWhole() throws {
        // Tabs, line breaks, backslashes and non-ASCII text in any field, and a facility with two reasons.
        let odd = "ivo://obs.example/été\tab\t\\"
        let rejections = [
            MatchRejection(facility: FacilityID(odd), reasons: [
                MatchReason(code: .facilityUnavailable, field: "health", requested: "available", offered: "unavailable",
                            detail: "HTTP 503:\n\tline\r\n¿qué? \\ end\\"),
                MatchReason(code: .coresExceedLimit, field: "cores", requested: "32", offered: "8"),
            ]),
            MatchRejection(facility: FacilityID("plain"), reasons: [MatchReason(code: .kindNotAccepted, field: "executable.kind", requested: "", offered: "")]),
        ]
        let read = try MatchRejection.parseCompact(MatchRejection.compact(rejections))
        #expect(read == rejections)
        #expect(read[0].facility.rawValue == odd)
        #expect(read[0].reasons[0].detail == rejections[0].reasons[0].detail)
        #expect(read[0].reasons[0].detail?.hasSuffix("¿qué? \\ end\\") == true)
        #expect(try MatchRejection.parseCompact("") == [])
        #expect(throws: FieldError.self) { try MatchRejection.parseCompact("plain\tkind-not-accepted\tx\n\nf\tcores\ta") }
        #expect(throws: FieldError.self) { try MatchRejection.parseCompact("plain\tkind-not-accepted\tx\ty\tz\r\nf\tcores-exceed-limit\tcores\t2\t1") }
    }

    @Test func reasonsStoredAsSentencesByAnOlderVersionAreStillRead() throws {
        let old = #"""
            [{"facility": "f", "reasons": [
              {"code": "cores-exceed-limit", "field": "cores", "requested": "32", "offered": "8", "message": "old words"},
              {"code": "facility-unavailable", "field": "health", "requested": "available", "offered": "unavailable",
               "message": "facility f is unavailable since 2026-01-01T00:00:00Z (checked 2026-01-01T00:01:00Z): VOSI availability answered HTTP 403"}]}]
            """#
        let read = try JSONDecoder().decode([MatchRejection].self, from: Data(old.utf8))
        let reasons = try #require(read.first?.reasons)
        #expect(reasons[0].message == "the request needs at least 32 cores; facility f allows at most 8 per job")
        #expect(reasons[1].message(for: .operator).hasSuffix("): VOSI availability answered HTTP 403"))
        #expect(reasons[1].message(for: .public) == "facility f is unavailable")
    }

    @Test func anotherPartysWordsAreClippedAndReducedForThePublic() throws {
        let body = "upstream exploded:\n" + String(repeating: "<html>secret ", count: 200)
        let unreachable = try #require(BrokerAnswer.failed("answered HTTP 502: " + body).reason(for: FacilityID("b")))
        let detail = try #require(unreachable.detail)
        #expect(detail.count <= RemoteText.limit + 1 && !detail.contains("\n"))
        #expect(unreachable.message(for: .public) == "broker b could not be asked (it answered HTTP 502)")
        #expect(unreachable.message(for: .operator).hasPrefix("broker b: answered HTTP 502: upstream exploded: <html>secret"))
        let none = try #require(BrokerAnswer.noOffers(offerSet: nil, messages: ["their facility X is down"]).reason(for: FacilityID("b")))
        #expect(none.message(for: .public) == "broker b made no offers: their facility X is down")
        let long = try #require(BrokerAnswer.noOffers(offerSet: nil, messages: [String(repeating: "y", count: 1_000)]).reason(for: FacilityID("b")))
        #expect(long.message(for: .public).count < long.message(for: .operator).count)
        #expect(none.message(for: .operator) == "broker b made no offers: their facility X is down")
    }

    @Test func anUnsupportedKindIsRejectedByEveryFacility() throws {
        var request = F.request(kind: nil)
        request.executable.unsupportedKind = "foo"
        let facilities = [F.facility("a", accepts: [.jupyterNotebook]), F.facility("b", accepts: ExecutableKind.knownAliases.compactMap { ExecutableKind($0) })]
        let outcome = Matcher.match(request, against: facilities)
        #expect(!outcome.isMatch && outcome.rejectedCount == 2)
        for r in outcome.rejections {
            #expect(r.reasons.map(\.code) == [.kindNotAccepted] && r.reasons.first?.requested == "foo")
        }
        // No kind said at all still matches (flagged kind-unknown).
        #expect(Matcher.match(F.request(kind: nil), against: facilities).acceptedCount == 2)
    }
}

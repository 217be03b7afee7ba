import Foundation
import HTTPTypes
import HummingbirdTesting
import SkyportCore
import SkyportStore
import SkyportTestSupport
import Testing

/// A facility that runs every known kind, with the given per-job limits and total capacity.
func computeFacility(_ id: String, cores: Int = 16, memory: Int = 16, capacityCores: Int = 32, capacityMemory: Int = 32,
                     accepts: [String] = ["jupyter-notebook", "docker-container", "singularity-container", "binder-notebook", "tap-query"],
                     rses: [String] = []) -> String {
    FacilityDocuments.json(
        id: id, name: "Facility \(id)", kind: "uws", url: "http://127.0.0.1:9/\(id)", accepts: accepts,
        limits: .init(cores: cores, memory: memory, duration: "P1D"), capacity: (capacityCores, capacityMemory), rses: rses)
}

extension TestClientProtocol {
    /// Posts a request document; returns the offer-set path from Location and the body.
    func request(json: String? = nil, yaml: String? = nil, key: String? = nil) async throws -> (status: HTTPResponse.Status, path: String?, body: [String: Any]) {
        var headers: HTTPFields = [:]
        if let key { headers[HTTPField.Name("Idempotency-Key")!] = key }
        let r = try await send(.post, "/requests", json: json, yaml: yaml, headers: headers)
        let path = r.headers[.location].flatMap { URL(string: $0)?.path }
        return (r.status, path, (try? r.json()) ?? [:])
    }

    /// Two compute facilities and a notebook request: the offers of its set (at least three, checked).
    func siblingOffers() async throws -> [[String: Any]] {
        for id in ["a", "b"] { _ = try await send(.post, "/facilities", json: computeFacility(id), token: TestBroker.aliceToken) }
        let list = offers(try await request(json: notebookRequest).body)
        try #require(list.count >= 3)
        return list
    }

    func setPhase(_ sessionURL: String, _ phase: String) async throws -> TestResponse {
        let path = URL(string: sessionURL)?.path ?? sessionURL
        return try await send(.post, path, json: #"{"kind":"uri:enum-value-update","path":"phase","value":"\#(phase)"}"#)
    }
}

func offers(_ body: [String: Any]) -> [[String: Any]] { body["offers"] as? [[String: Any]] ?? [] }
func sessionURL(_ offer: [String: Any]) -> String { (offer["meta"] as? [String: Any])?["url"] as? String ?? "" }

let notebookRequest = """
    {"executable": {"kind": "https://www.purl.org/ivoa.net/EB/schema/v1.0/types/executable/jupyter-notebook-1.0",
                    "location": "https://example.org/nb.ipynb"},
     "compute": {"cores": {"min": 2, "max": 4}, "memory": {"min": 2, "max": 8}},
     "schedule": {"requested": {"duration": "PT1H"}}}
    """

@Suite struct ExecutionAPITests {
    static let transcripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/samples/executionbroker/transcripts").standardized

    /// Every offer-set request document recorded from the reference broker.
    static var transcriptRequests: [String] {
        guard let e = FileManager.default.enumerator(atPath: transcripts.path) else { return [] }
        return e.compactMap { $0 as? String }.filter { $0.contains("offerset-request") }.sorted()
    }

    @Test func everyTranscriptRequestGetsAnOfferSet() async throws {
        let files = Self.transcriptRequests
        try #require(!files.isEmpty, "the shared samples are absent at \(Self.transcripts.path): this test needs ../shared/samples")
        try await TestBroker().run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("big", cores: 64, memory: 64, capacityCores: 4096, capacityMemory: 4096), token: TestBroker.aliceToken)
            for file in files {
                let text = try String(contentsOf: Self.transcripts.appendingPathComponent(file), encoding: .utf8)
                let r = file.hasSuffix(".json") ? try await client.request(json: text) : try await client.request(yaml: text)
                #expect(r.status == .seeOther, "\(file): \(r.body)")
                #expect(r.path?.hasPrefix("/offersets/") == true, "\(file)")
                #expect(r.body["result"] as? String == "YES", "\(file): \(r.body["meta"] ?? "")")
            }
        }
    }

    @Test func offersAreNegotiatedWithinTheRequestAndTheFacility() async throws {
        try await TestBroker().run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("small", cores: 3, memory: 6), token: TestBroker.aliceToken)
            let r = try await client.request(json: notebookRequest)
            #expect(r.status == .seeOther)
            let list = offers(r.body)
            #expect(!list.isEmpty && list.count <= 4)
            for offer in list {
                #expect(offer["phase"] as? String == "OFFERED")
                #expect(offer["expires"] is String)
                let compute = try #require(offer["compute"] as? [String: Any])
                let cores = try #require((compute["cores"] as? [String: Any])?["min"] as? Int)
                let memory = try #require((compute["memory"] as? [String: Any])?["min"] as? Int)
                #expect((2...3).contains(cores))   // within the request, never above the facility's limit
                #expect((2...6).contains(memory))
                #expect((offer["facility"] as? [String: Any])?["id"] as? String == "small")
            }
            // GET shows the same set, and what Skyport understood.
            let again = try await client.send(.get, try #require(r.path)).json()
            #expect(offers(again).count == list.count)
            #expect(((again["request"] as? [String: Any])?["executable"] as? [String: Any])?["kind"] as? String == "jupyter-notebook")
        }
    }

    @Test func noOfferListsEveryFacilitysReasons() async throws {
        try await TestBroker().run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("tiny", cores: 1, memory: 1, capacityCores: 1, capacityMemory: 1), token: TestBroker.aliceToken)
            _ = try await client.send(.post, "/facilities", json: computeFacility("taponly", accepts: ["tap-query"]), token: TestBroker.aliceToken)
            let r = try await client.request(json: notebookRequest)
            #expect(r.status == .seeOther)
            #expect(r.body["result"] as? String == "NO")
            #expect(offers(r.body).isEmpty)
            let messages = try #require((r.body["meta"] as? [String: Any])?["messages"] as? [[String: Any]])
            #expect(messages.contains { $0["kind"] as? String == "urn:no-offers" })
            let rejected = try #require(r.body["rejected"] as? [[String: Any]])
            let codes = Dictionary(uniqueKeysWithValues: rejected.map {
                ($0["facility"] as? String ?? "", Set((($0["reasons"] as? [[String: Any]]) ?? []).compactMap { $0["code"] as? String }))
            })
            #expect(codes["tiny"]?.contains("cores-exceed-limit") == true)
            #expect(codes["tiny"]?.contains("memory-exceed-limit") == true)
            #expect(codes["taponly"] == ["kind-not-accepted"])
            let reason = try #require(((rejected.first { $0["facility"] as? String == "tiny" })?["reasons"] as? [[String: Any]])?.first { $0["code"] as? String == "cores-exceed-limit" })
            #expect(reason["requested"] as? String == "2")
            #expect(reason["offered"] as? String == "1")
        }
    }

    /// Rejections are explained once per shape while the facilities stand (`RejectionsKey`): a facility changed
    /// since is explained as it is now, for the same request, and each answer is written for its own audience.
    @Test func aRequestAskedAgainIsExplainedByTheFacilitiesAsTheyAreNow() async throws {
        try await TestBroker().run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("taponly", accepts: ["tap-query"]), token: TestBroker.aliceToken)
            func offered() async throws -> [String] {
                let r = try await client.request(json: notebookRequest)
                #expect(r.body["result"] as? String == "NO")
                let rejected = try #require(r.body["rejected"] as? [[String: Any]])
                let reasons = (rejected.first { $0["facility"] as? String == "taponly" }?["reasons"] as? [[String: Any]]) ?? []
                return reasons.compactMap { $0["offered"] as? String }
            }
            #expect(try await offered() == ["tap-query"])
            #expect(try await offered() == ["tap-query"])
            let replaced = try await client.send(
                .put, "/facilities/taponly", json: computeFacility("taponly", accepts: ["tap-query", "docker-container"]), token: TestBroker.aliceToken)
            #expect(replaced.status == .ok)
            #expect(try await offered() == ["tap-query,docker-container"])
        }
    }

    @Test func cancellingOrRejectingAnOfferLeavesItsSiblingsAcceptable() async throws {
        try await TestBroker().run { client in
            let list = try await client.siblingOffers()
            // Given one offer cancelled while OFFERED and one rejected
            let cancelled = try await client.setPhase(sessionURL(list[0]), "CANCELLED")
            #expect(cancelled.status == .ok)
            #expect(try cancelled.json()["phase"] as? String == "CANCELLED")
            #expect(try await client.setPhase(sessionURL(list[1]), "REJECTED").status == .ok)
            // When a sibling is accepted, then it is: nothing was accepted before
            let accepted = try await client.setPhase(sessionURL(list[2]), "ACCEPTED")
            #expect(accepted.status == .ok, "\(accepted.text)")
            #expect(try accepted.json()["phase"] as? String == "ACCEPTED")
            // And once one is accepted, cancelling it still blocks the rest
            #expect(try await client.setPhase(sessionURL(list[2]), "CANCELLED").status == .ok)
            if list.count > 3 {
                let late = try await client.setPhase(sessionURL(list[3]), "ACCEPTED")
                #expect(late.status == .conflict)
            }
        }
    }

    @Test func anOfferSetRetentionDeletedAnswers404AsDoItsSessions() async throws {
        // Offers that live 1 s, kept 0 s after they ended, a retention pass every second.
        var broker = try await TestBroker(offerLifetime: 1, withServices: true)
        broker.config.retainOffers = 0
        broker.config.retentionSweep = 1
        try await broker.run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("a"), token: TestBroker.aliceToken)
            let r = try await client.request(json: notebookRequest)
            let path = try #require(r.path)
            let offer = try #require(offers(r.body).first)
            let session = try #require(URL(string: sessionURL(offer))?.path)
            // The session was made (read from the answer: a GET now would race the 1 s lifetime on a busy machine).
            #expect(offer["phase"] as? String == "OFFERED")
            #expect(try await eventually { try await client.send(.get, path).status == .notFound })
            let gone = try await client.send(.get, session)
            #expect(gone.status == .notFound)
            #expect(try gone.json()["code"] as? String == "not-found")
        }
    }

    @Test func anUnsupportedExecutableKindMatchesNoFacility() async throws {
        try await TestBroker().run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("a"), token: TestBroker.aliceToken)
            _ = try await client.send(.post, "/facilities", json: computeFacility("hub", accepts: ["jupyter-notebook"]), token: TestBroker.aliceToken)
            // The ExecutionBroker answers an unsupported request with result NO and messages, not an HTTP error.
            let r = try await client.request(json: #"{"executable": {"kind": "foo"}}"#)
            #expect(r.status == .seeOther)
            #expect(r.body["result"] as? String == "NO")
            #expect(offers(r.body).isEmpty)
            let rejected = try #require(r.body["rejected"] as? [[String: Any]])
            #expect(rejected.count == 2)
            for facility in rejected {
                let reasons = facility["reasons"] as? [[String: Any]] ?? []
                #expect(reasons.count == 1 && reasons.first?["code"] as? String == "kind-not-accepted", "\(facility)")
                #expect(reasons.first?["field"] as? String == "executable.kind" && reasons.first?["requested"] as? String == "foo")
            }
            let messages = (r.body["meta"] as? [String: Any])?["messages"] as? [[String: Any]] ?? []
            #expect(messages.contains { ($0["message"] as? String ?? "").hasPrefix("executable.kind: 'foo' is neither a known kind") }, "\(messages)")
            #expect(messages.contains { $0["kind"] as? String == "urn:no-offers" })
        }
    }

    @Test func acceptingOneOfferRejectsTheRestAndASecondAcceptIsRefused() async throws {
        try await TestBroker().run { client in
            let list = try await client.siblingOffers()
            // Reject the first, accept the second.
            let rejected = try await client.setPhase(sessionURL(list[0]), "REJECTED")
            #expect(rejected.status == .ok)
            #expect(try rejected.json()["phase"] as? String == "REJECTED")
            let accepted = try await client.setPhase(sessionURL(list[1]), "ACCEPTED")
            #expect(accepted.status == .ok)
            #expect(try accepted.json()["phase"] as? String == "ACCEPTED")

            let set = try await client.send(.get, try #require(URL(string: list[0]["offerset"] as? String ?? "")?.path)).json()
            let phases = offers(set).map { $0["phase"] as? String ?? "" }
            #expect(phases[1] == "ACCEPTED")
            #expect(phases.enumerated().allSatisfy { $0.offset == 1 || $0.element == "REJECTED" })

            // A second accept in the same set is a 409 that says why.
            let second = try await client.setPhase(sessionURL(list[2]), "ACCEPTED")
            #expect(second.status == .conflict)
            #expect(try second.json()["code"] as? String == "offer-set-already-accepted")
            // An illegal transition is a 409 too; a phase a client may not set is a 422.
            let illegal = try await client.setPhase(sessionURL(list[0]), "ACCEPTED")
            #expect(illegal.status == .conflict)
            let notSettable = try await client.setPhase(sessionURL(list[1]), "RUNNING")
            #expect(notSettable.status == .unprocessableContent)
            // Cancelling the accepted session is allowed.
            let cancelled = try await client.setPhase(sessionURL(list[1]), "CANCELLED")
            #expect(try cancelled.json()["phase"] as? String == "CANCELLED")
        }
    }

    @Test func badUpdatesNameTheField() async throws {
        try await TestBroker().run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("a"), token: TestBroker.aliceToken)
            let r = try await client.request(json: notebookRequest)
            let url = try #require(URL(string: sessionURL(offers(r.body)[0]))?.path)
            let bad = try await client.send(.post, url, json: #"{"kind":"uri:enum-value-update","path":"colour","value":"BLUE"}"#)
            #expect(bad.status == .unprocessableContent)
            #expect(Set(try bad.errorFields()) == ["path", "value"])
            let missing = try await client.send(.post, "/sessions/00000000-0000-0000-0000-000000000000", json: #"{"path":"phase","value":"ACCEPTED"}"#)
            #expect(missing.status == .notFound)
            #expect(try await client.send(.get, "/sessions/not-a-uuid").status == .notFound)
            #expect(try await client.send(.get, "/offersets/00000000-0000-0000-0000-000000000000").status == .notFound)
        }
    }

    /// What the spec's schemas accept but Skyport cannot honour is answered NO with a message naming the field;
    /// what breaks the types is 422 naming the field; what is no document at all is 400.
    @Test func unusableRequestsAreAnsweredNoAndBrokenOnes4xxNamingTheField() async throws {
        try await TestBroker().run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("big"), token: TestBroker.aliceToken)
            let refused = refusedMessages
            let minAboveMax = try await client.request(json: #"{"executable": {"kind": "jupyter-notebook", "location": "https://x/nb.ipynb"}, "compute": {"cores": {"min": 8, "max": 2}}}"#)
            #expect(minAboveMax.status == .seeOther)
            #expect(minAboveMax.body["result"] as? String == "NO")
            #expect(refused(minAboveMax.body).contains { $0.hasPrefix("compute.cores.min: min 8 is greater than max 2") }, "\(minAboveMax.body)")
            let noExecutable = try await client.request(json: #"{"compute": {"cores": {"min": 1}}}"#)
            #expect(noExecutable.status == .seeOther)
            #expect(refused(noExecutable.body).contains { $0.hasPrefix("executable:") })
            let privileged = try await client.request(json: #"{"executable": {"kind": "docker-container", "image": {"locations": ["ghcr.io/a/b:1"]}, "privileged": true}}"#)
            #expect(privileged.body["result"] as? String == "NO")
            #expect(refused(privileged.body).contains { $0.hasPrefix("executable.privileged:") })
            let wrongType = try await client.send(.post, "/requests", json: #"{"executable": {"kind": "jupyter-notebook", "location": 5}}"#)
            #expect(wrongType.status == .unprocessableContent)
            #expect(try wrongType.errorFields() == ["executable.location"])
            let malformed = try await client.request(yaml: "executable: [unclosed")
            #expect(malformed.status == .badRequest)
        }
    }

    @Test func offersReallyExpireAndReleaseTheirCapacity() async throws {
        // Offers live 10 s: long enough that the second request is surely made while the first's are still offered,
        // however loaded the machine (with 1 s they could lapse in between); their expiry is then awaited by polling.
        try await TestBroker(offerLifetime: 10).run { client in
            // Room for exactly one 4-core job at a time.
            _ = try await client.send(.post, "/facilities", json: computeFacility("one", cores: 4, memory: 4, capacityCores: 4, capacityMemory: 4), token: TestBroker.aliceToken)
            let exact = #"{"executable": {"kind": "docker-container", "image": {"locations": ["x/y:1"]}}, "compute": {"cores": {"min": 4, "max": 4}, "memory": {"min": 4, "max": 4}}, "schedule": {"requested": {"duration": "PT1H", "start": "2020-01-01T00:00:00Z/P100Y"}}}"#
            let first = try await client.request(json: exact)
            try #require(offers(first.body).count >= 1)
            let firstStart = ((offers(first.body)[0]["schedule"] as? [String: Any])?["available"] as? [String: Any])?["start"] as? String
            // While it is offered, the capacity is booked: a second request is offered a later start.
            let second = try await client.request(json: exact)
            let secondStart = ((offers(second.body).first?["schedule"] as? [String: Any])?["available"] as? [String: Any])?["start"] as? String
            #expect(secondStart != nil && secondStart != firstStart)

            // After expiry: the phase shows EXPIRED and accepting is refused.
            let url = sessionURL(offers(first.body)[0])
            let path = try #require(URL(string: url)?.path)
            #expect(try await eventually { try await client.send(.get, path).json()["phase"] as? String == "EXPIRED" })
            let late = try await client.setPhase(url, "ACCEPTED")
            #expect(late.status == .conflict)
            #expect(try late.json()["code"] as? String == "offer-expired")
            // And the capacity is free again: a new request gets the earliest slot again.
            let third = try await client.request(json: exact)
            let thirdStart = ((offers(third.body).first?["schedule"] as? [String: Any])?["available"] as? [String: Any])?["start"] as? String
            #expect(thirdStart != nil)
            #expect(thirdStart! < secondStart!)
        }
    }

    /// Parallel requests on one facility (24 as ever; 200 on each store since booking reads the capacity ledger).
    @Test(arguments: [(24, "sqlite"), (200, "sqlite"), (200, "memory")])
    func concurrentRequestsNeverOverbookAFacility(parallel: Int, storeKind: String) async throws {
        let store: any BrokerStore = storeKind == "memory"
            ? InMemoryStore()
            : try SQLiteStore(path: FileManager.default.temporaryDirectory.appendingPathComponent("overbook-\(UUID().uuidString).sqlite").path)
        try await TestBroker(store: store).run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("c", cores: 4, memory: 4, capacityCores: 8, capacityMemory: 8), token: TestBroker.aliceToken)
            let doc = #"{"executable": {"kind": "docker-container", "image": {"locations": ["x/y:1"]}}, "compute": {"cores": {"min": 3, "max": 4}, "memory": {"min": 1, "max": 2}}, "schedule": {"requested": {"duration": "PT1H"}}}"#
            let bodies = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<parallel { group.addTask { try await client.send(.post, "/requests", json: doc).text } }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            let sets = try bodies.map { offers(try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])) }
            // Sweep every offer's interval: the cores booked at any instant never exceed the capacity of 8.
            var edges: [(Date, Int)] = []
            for offer in sets.joined() {
                let available = try #require((offer["schedule"] as? [String: Any])?["available"] as? [String: Any])
                let start = try #require(Timestamp.parse(String((available["start"] as? String ?? "").prefix { $0 != "/" })))
                let seconds = try #require(ISODuration(available["duration"] as? String ?? "")).seconds
                let cores = try #require(((offer["compute"] as? [String: Any])?["cores"] as? [String: Any])?["min"] as? Int)
                edges.append((start, cores))
                edges.append((start.addingTimeInterval(TimeInterval(seconds)), -cores))
            }
            #expect(edges.count >= 4)
            var booked = 0
            for (_, delta) in edges.sorted(by: { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }) {
                booked += delta
                #expect(booked <= 8)
            }
        }
    }

    @Test func idempotencyKeyReturnsTheSameSetOrAConflict() async throws {
        try await TestBroker().run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("a"), token: TestBroker.aliceToken)
            let first = try await client.request(json: notebookRequest, key: "req-1")
            let again = try await client.request(json: notebookRequest, key: "req-1")
            #expect(first.path != nil && first.path == again.path)
            #expect(offers(again.body).count == offers(first.body).count)
            let other = try await client.request(json: notebookRequest.replacingOccurrences(of: "PT1H", with: "PT2H"), key: "req-1")
            #expect(other.status == .conflict)
            let fresh = try await client.request(json: notebookRequest, key: "req-2")
            #expect(fresh.path != first.path)
        }
    }

    @Test func codemetaAndBasketAreUnderstoodAndShown() async throws {
        try await TestBroker().run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("near", rses: ["CERN-EOS"]), token: TestBroker.aliceToken)
            _ = try await client.send(.post, "/facilities", json: computeFacility("far", rses: ["PIC-DCACHE"]), token: TestBroker.aliceToken)
            let doc = #"""
                {"software": {"@context": "https://doi.org/10.5063/schema/codemeta-2.0", "name": "demo",
                              "codeRepository": "git+https://github.com/example/demo.git", "keywords": "astronomy, jupyter-notebook",
                              "programmingLanguage": "Python"},
                 "basket": [{"item_data": "{\"archive\": \"rucio\", \"record\": {\"scope\": \"ESCAPE_CTA\", \"name\": \"events.fits\", \"type\": \"FILE\"}}"}],
                 "data": [{"kind": "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/data/skao-data-resource.yaml",
                           "skao": {"namespace": "ESCAPE_CTA", "objectname": "calib.fits", "replicas": [{"rsename": "CERN-EOS", "dataurl": "davs://eos/calib.fits"}]}}]}
                """#
            let r = try await client.request(json: doc)
            #expect(r.status == .seeOther, "\(r.body)")
            let request = try #require(r.body["request"] as? [String: Any])
            let executable = try #require(request["executable"] as? [String: Any])
            #expect(executable["kind"] as? String == "jupyter-notebook")
            #expect(executable["repository"] as? String == "https://github.com/example/demo.git" || executable["repository"] as? String == "https://github.com/example/demo")
            let data = try #require(request["data"] as? [[String: Any]])
            #expect(Set(data.compactMap { $0["did"] as? String }) == ["ESCAPE_CTA:events.fits", "ESCAPE_CTA:calib.fits"])
            // The co-located facility ranks first.
            #expect((offers(r.body).first?["facility"] as? [String: Any])?["id"] as? String == "near")

            let noColon = #"{"software": {"name": "x", "keywords": ["jupyter-notebook"]}, "basket": [{"archive": "rucio", "did": "no-colon-here"}]}"#
            // A basket item the broker cannot read is answered NO, naming it.
            let bad = try await client.request(json: noColon)
            #expect(bad.status == .seeOther && bad.body["result"] as? String == "NO", "\(bad.body)")
            let refused = refusedMessages(bad.body)
            #expect(refused.contains { $0.hasPrefix("basket[0]") }, "\(refused)")
        }
    }

    @Test func theAcceptsProbeAnswersYesWithInterfacesOrNoWithReasons() async throws {
        try await TestBroker().run { client in
            _ = try await client.send(.post, "/facilities", json: computeFacility("nb", cores: 8, memory: 16), token: TestBroker.aliceToken)
            let yes = try await client.send(.get, "/accepts?tasktype=uri://jupyter-notebook").json()
            #expect(yes["responseword"] as? String == "YES")
            #expect(yes["reponseword"] as? String == "YES")
            let interfaces = try #require(yes["interfaces"] as? [[String: Any]])
            #expect(interfaces.first?["servicetype"] as? String == "uri://uws")
            #expect((interfaces.first?["serviceinfo"] as? [String: Any])?["endpoint"] as? String == "http://127.0.0.1:9/nb")

            let post = try await client.send(.post, "/accepts", yaml: "tasktype: uri://jupyter-notebook\nresources: {mincores: 32, minmemory: 4G, minduration: 30m}\n").json()
            #expect(post["responseword"] as? String == "NO")
            let reasons = try #require((post["reponseinfo"] as? [String: Any])?["reasons"] as? [[String: Any]])
            #expect(reasons.contains { $0["code"] as? String == "cores-exceed-limit" })

            let unknown = try await client.send(.get, "/accepts?tasktype=uri://zeppelin-notebook").json()
            #expect(unknown["responseword"] as? String == "NO")
        }
    }
}

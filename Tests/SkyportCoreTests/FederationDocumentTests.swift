import Foundation
import SkyportCore
import Testing

/// The pure parts of federation: the request Skyport passes on, the offer sets and sessions it reads back, and the
/// federation path that stops loops.
@Suite struct FederationDocumentTests {
    static let now = Date(timeIntervalSince1970: 1_790_000_000)

    /// What survives a trip to another broker: everything but the parser's notes, the codemeta summary (already
    /// folded into the request), where items came from, and an S3 item's split into endpoint and bucket.
    static func comparable(_ r: NormalisedRequest) -> NormalisedRequest {
        var r = r
        r.notes = []
        // The components are passed on as written (normalised again by the other broker's parser), except an
        // executable of Skyport's own kinds, which is passed on as this broker read it (defaults resolved).
        if let kind = r.executable.kind, ![ExecutableKind.dockerContainer, .jupyterNotebook, .singularityContainer].contains(kind) {
            r.components?.executable = nil
        }
        r.software = nil
        r.callback = nil
        r.data = r.data.map { d in
            var d = d
            d.source = nil
            if d.kind == .s3 { d.kind = .url }
            return d
        }
        return r
    }

    static func roundTrip(_ r: NormalisedRequest) throws -> NormalisedRequest {
        let data = try JSONEncoder().encode(RequestDocument.write(r))
        return try ExecutionRequestParser.parse(try JSONDecoder().decode(JSONValue.self, from: data), now: now, strict: true)
    }

    @Test func aRichRequestIsReadBackTheSameByAnotherSkyport() throws {
        let doc = try JSONDecoder().decode(JSONValue.self, from: Data(#"""
            {"meta": {"name": "federated"},
             "executable": {"kind": "docker-container", "image": {"locations": ["ghcr.io/a/b:1", "docker.io/a/b:1"], "digest": "sha256:abc",
                            "platform": {"architecture": "amd64", "os": "linux"}},
                            "command": ["sleep", "10"], "entrypoint": "/bin/sh", "environment": {"MODE": "fast", "N": 3},
                            "privileged": false, "network": {"ports": [{"internal": {"port": 3000}, "protocol": "HTTP"}, {"internal": {"port": 22}}]}},
             "compute": {"cores": {"min": 2, "max": 8}, "memory": {"min": 4}, "gpus": {"count": 2, "models": ["A100"]}, "architecture": "x86_64",
                         "volumes": [{"path": "/cal", "mode": "READONLY", "resource": "cal"}]},
             "storage": [{"size": {"min": 10, "max": 20}}],
             "runtimes": ["python >=3.10"], "environments": ["casa6"], "locality": "required", "rank": "cost",
             "costs": [{"kind": "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/costs/simple-minmax-float-cost.yaml", "min": 0, "max": 2.5}],
             "schedule": {"requested": {"duration": "PT3H", "start": "2026-09-21T12:00:00Z/2026-09-21T18:00:00Z"}},
             "data": [{"kind": "simple-data-resource", "meta": {"name": "cal"}, "location": "https://example.org/cal.fits", "size": 2880, "checksum": "md5:0cc175b9c0f1b6a831c399e269772661"},
                      {"kind": "rucio-data-resource", "rucio": {"scope": "testing", "object": "obj", "replicas": [{"rse": "A"}, {"rse": "B"}]}},
                      {"kind": "skao-data-resource", "skao": {"namespace": "ns", "objectname": "o2", "datasize": 29, "checksum": {"type": "ADLER32", "value": "6c9f06a7"}, "replicas": [{"rsename": "C"}]}},
                      {"kind": "ivoa-data-resource", "ivoa": {"ivoid": "ivo://example.org/obs?1", "datalink": {"access_url": "https://example.org/dl?id=1", "content_length": 77}}},
                      {"kind": "s3-data-resource", "endpoint": "https://s3.example.org", "bucket": "b", "object": "k/x.fits"}],
             "callback": "https://portal.example.org/done"}
            """#.utf8))
        let original = try ExecutionRequestParser.parse(doc, now: Self.now)
        let back = try Self.roundTrip(original)
        #expect(original.needs?.locality == .required && original.needs?.gpus == ResourceRange(min: 2, max: 2))
        #expect(original.components?.costs.count == 1 && original.components?.compute?["volumes"]?.arrayValue?.count == 1)
        #expect(Self.comparable(back) == Self.comparable(original))
        #expect(back.callback == nil, "the user's callback stays with the broker the user asked")
        #expect(back.data[0].checksum == "md5:0cc175b9c0f1b6a831c399e269772661" && back.data[0].size == 2880)
    }

    @Test(arguments: [
        #"{"executable": {"kind": "tap-query", "query": "SELECT TOP 1 * FROM t", "format": "votable", "maxrec": 5, "parameters": {"RUNID": "x"}}}"#,
        #"{"executable": {"kind": "jupyter-notebook", "location": "https://example.org/nb.ipynb", "repository": "https://github.com/a/b", "ref": "main", "path": "nb/x.ipynb"}}"#,
        #"{"executable": {"kind": "singularity-container", "location": "https://example.org/img.sif"}}"#,
        #"{"executable": {"kind": "uws-job", "parameters": {"type": "echo", "greeting": "hello"}}, "compute": {"cores": {"max": 2}}}"#,
        #"{"executable": {"kind": "urn:example:kinds:my-thing", "location": "https://example.org/x"}}"#,
    ])
    func everyKindOfExecutableIsReadBackTheSame(_ text: String) throws {
        let original = try ExecutionRequestParser.parse(try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)), now: Self.now)
        #expect(Self.comparable(try Self.roundTrip(original)) == Self.comparable(original))
    }

    /// Every request recorded from the reference broker survives the trip.
    @Test(.enabled(if: SharedSamples.available, Comment(rawValue: SharedSamples.absentMessage)))
    func everyTranscriptRequestIsReadBackTheSame() throws {
        let files = SharedSamples.files(under: SharedSamples.transcripts, nameContaining: "offerset-request")
        #expect(files.count >= 10)
        for file in files {
            let original = try ExecutionRequestParser.parse(try TestYAML.load(SharedSamples.transcripts.appendingPathComponent(file)), now: Self.now)
            #expect(Self.comparable(try Self.roundTrip(original)) == Self.comparable(original), "\(file)")
        }
    }

    // MARK: Reading other brokers' answers

    /// The Calycopis broker's recorded offer sets: four offers, negotiated compute, `start/PT0S` times, expiry.
    @Test(.enabled(if: SharedSamples.available, Comment(rawValue: SharedSamples.absentMessage)))
    func theReferenceBrokersOfferSetsAreRead() throws {
        for file in ["004/004-002-offerset-response.json", "001/001-003-offerset-response.json"] {
            let doc = try TestYAML.load(SharedSamples.transcripts.appendingPathComponent(file))
            let answer = try RemoteDocuments.offerSet(doc, base: URL(string: "http://127.0.0.1:8082/requests")!).get()
            guard case .offers(let link, let offers, _) = answer else {
                Issue.record("\(file): \(answer)")
                continue
            }
            #expect(link.hasPrefix("http://127.0.0.1:8082/offersets/"), "\(file)")
            #expect(offers.count == 4, "\(file)")
            #expect(offers.allSatisfy { $0.session.hasPrefix("http://127.0.0.1:8082/sessions/") && $0.expires != nil && $0.cores > 0 })
            #expect(offers.map(\.start) == offers.map(\.start).sorted(), "successive start slots")
            #expect(offers.first?.duration == ISODuration("PT2H") || offers.first?.duration == ISODuration("PT1H"))
        }
        // After an acceptance: the set holds one PREPARING session and three REJECTED ones, so nothing is offered.
        let final = try TestYAML.load(SharedSamples.transcripts.appendingPathComponent("004/004-009-offerset-final.json"))
        let answer = try RemoteDocuments.offerSet(final, base: URL(string: "http://127.0.0.1:8082/")!).get()
        if case .offers = answer { Issue.record("a set with nothing OFFERED has no offers: \(answer)") }
    }

    @Test(arguments: [
        (#"[1, 2]"#, "not a JSON object"),
        (#"{"offers": []}"#, "result: missing"),
        (#"{"result": "MAYBE", "offers": [{"phase": "OFFERED", "meta": {"url": "/sessions/1"}, "compute": {"cores": 1, "memory": 1}, "schedule": {"available": {"start": "2026-01-01T00:00:00Z", "duration": "PT1H"}}}]}"#, "neither YES nor NO"),
        (#"{"result": "YES", "offers": [{"phase": "OFFERED", "compute": {"cores": 1, "memory": 1}}]}"#, "offers[0].meta.url"),
        (#"{"result": "YES", "offers": [{"phase": "OFFERED", "meta": {"url": "/s/1"}, "compute": {"cores": "many", "memory": 1}}]}"#, "offers[0].compute.cores"),
        (#"{"result": "YES", "offers": [{"phase": "OFFERED", "meta": {"url": "/s/1"}, "compute": {"cores": 1, "memory": 1}, "schedule": {"available": {"start": "soon"}}}]}"#, "offers[0].schedule.available.start"),
        (#"{"result": "YES", "offers": [{"phase": "OFFERED", "meta": {"url": "javascript:alert(1)"}, "compute": {"cores": 1, "memory": 1}}]}"#, "offers[0].meta.url"),
        (#"{"result": "YES", "offers": ["x"]}"#, "offers[0]: not an object"),
    ])
    func aBrokenOfferSetIsAnErrorNamingTheField(_ text: String, _ expected: String) throws {
        let doc = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        switch RemoteDocuments.offerSet(doc, base: URL(string: "http://b.example.org/requests")!) {
        case .success(let answer): Issue.record("read as \(answer)")
        case .failure(let problem): #expect(problem.message.contains(expected), "\(problem)")
        }
    }

    @Test func aResultNoKeepsTheRemoteReasonsIncludingSkyportsRejections() throws {
        let doc = try JSONDecoder().decode(JSONValue.self, from: Data(#"""
            {"result": "NO", "offers": [], "meta": {"url": "http://b/offersets/1", "messages": [{"message": "no facility can run this"}]},
             "rejected": [{"facility": "a", "reasons": [{"code": "federation-loop", "message": "federation loop: via x"}]}]}
            """#.utf8))
        let answer = try RemoteDocuments.offerSet(doc, base: URL(string: "http://b/requests")!).get()
        // The facilities' reasons come before the broker's other (not ERROR) messages: they say most.
        #expect(answer == .noOffers(offerSet: "http://b/offersets/1", messages: ["federation loop: via x", "no facility can run this"]))
        let reason = try #require(answer.reason(for: FacilityID("broker-b")))
        #expect(reason.code == .brokerNoOffers && reason.message.contains("federation loop"))
    }

    @Test func anotherBrokersWordsAreKeptShortAndFew() throws {
        let long = String(repeating: "x", count: 5_000)
        let messages = (0..<100).map { _ in JSONValue.object(["message": .string("line\n" + long)]) }
        let doc = JSONValue.object(["result": .string("NO"), "offers": .array([]), "meta": .object(["messages": .array(messages)])])
        guard case .noOffers(_, let read) = try RemoteDocuments.offerSet(doc, base: URL(string: "http://b/requests")!).get() else {
            Issue.record("not read as no offers")
            return
        }
        #expect(read.count == 20)
        #expect(read.allSatisfy { $0.count == 500 && $0.hasPrefix("line x") && $0.hasSuffix("…") })
    }

    @Test(arguments: [
        ("ACCEPTED", false, SessionPhase.preparing), ("PREPARING", false, .preparing), ("AVAILABLE", false, .available),
        ("RUNNING", false, .running), ("RELEASING", false, .running), ("COMPLETED", false, .completed), ("FAILED", false, .failed),
        ("EXPIRED", false, .failed), ("CANCELLED", true, .cancelled), ("CANCELLED", false, .failed),
    ])
    func remoteSessionPhasesMapOntoThisBrokersLifecycle(_ remote: String, _ cancelRequested: Bool, _ expected: SessionPhase) throws {
        let doc = JSONValue.object(["phase": .string(remote)])
        let (status, _) = try RemoteDocuments.session(doc, cancelRequested: cancelRequested).get()
        #expect(status.phase == expected)
        #expect(status.remotePhase == .broker(try #require(SessionPhase(rawValue: remote))))
        #expect((status.error != nil) == ["FAILED", "EXPIRED", "REJECTED"].contains(remote))
    }

    @Test func aRemoteNotebookLinkKeepsItsTokenApartAndResultsAreRead() throws {
        let doc = try JSONDecoder().decode(JSONValue.self, from: Data(#"""
            {"phase": "AVAILABLE", "results": [{"id": "notebook", "href": "http://hub/user/u/lab?token=s3cret"}, {"href": "no id"}],
             "connectors": [{"kind": "urn:skyport:connector:jupyter-notebook", "status": "AVAILABLE", "location": "http://hub/user/u/lab/tree/x.ipynb?token=s3cret"}]}
            """#.utf8))
        let (status, token) = try RemoteDocuments.session(doc, cancelRequested: false).get()
        #expect(status.access == "http://hub/user/u/lab/tree/x.ipynb")
        #expect(token == "s3cret")
        #expect(status.results.map(\.id) == ["notebook"])
        #expect(throws: RemoteDocuments.Problem.self) { try RemoteDocuments.session(.object(["phase": .string("DANCING")]), cancelRequested: false).get() }
    }

    // MARK: Federation path

    @Test func theFederationPathStopsLoopsAndLongChains() {
        let path = FederationPath(header: " a ,, b,\(String(repeating: "x", count: 200)), c ")
        #expect(path.brokers == ["a", "b", "c"])
        #expect(path.adding("d").headerValue == "a, b, c, d")
        #expect(path.refusal(at: "d") == nil)
        #expect(path.refusal(at: "b")?.contains("federation loop") == true)
        let long = FederationPath((1...FederationPath.maxHops).map { "b\($0)" })
        #expect(long.refusal(at: "new")?.contains("too long") == true)
        #expect(FederationPath(header: nil).brokers.isEmpty)
    }

    @Test func offerDeadlinesAreFractionalISODurations() throws {
        #expect(ISODuration.exactSeconds("PT0.25S") == 0.25)
        #expect(ISODuration.exactSeconds("PT1M2.5S") == 62.5)
        #expect(ISODuration.exactSeconds("soon") == nil)
        let endpoint = Endpoint(kind: .executionbroker, url: "http://b/", offerDeadline: 2.5)
        let json = String(decoding: try JSONEncoder().encode(endpoint), as: UTF8.self)
        #expect(json.contains(#""offerDeadline":"PT2.5S""#))
        #expect(try JSONDecoder().decode(Endpoint.self, from: Data(json.utf8)) == endpoint)
    }
}

import Foundation
import SkyportCore
import Testing

@Suite struct FacilityDocumentTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func document(_ edit: (inout [String: JSONValue]) -> Void = { _ in }) -> JSONValue {
        var o: [String: JSONValue] = [
            "id": .string("ivo://example.org/tap"), "name": .string("TAP"),
            "endpoints": .array([.object(["kind": .string("django-uws"), "url": .string("https://uws.example.org/uws/jobs/")])]),
            "accepts": .array([.string("tap-query"), .string("https://www.purl.org/ivoa.net/EB/schema/types/executable/docker-container-1.0")]),
            "limits": .object(["cores": .number(8), "memory": .number(32), "duration": .string("P1DT12H")]),
            "capacity": .object(["cores": .number(64)]),
            "data": .object(["rses": .array([.string("SKA_SRC_01"), .string("ska_src_01"), .string("CERN-EOS")])]),
        ]
        edit(&o)
        return .object(o)
    }

    func errors(_ value: JSONValue, pathID: FacilityID? = nil) -> [String] {
        do {
            _ = try FacilityDocument(value).validated(pathID: pathID, owner: "op", created: now, now: now)
            return []
        } catch let failure as ValidationFailure {
            return failure.errors.map(\.field)
        } catch {
            return ["unexpected \(error)"]
        }
    }

    @Test func validDocumentBecomesAFacility() throws {
        let f = try FacilityDocument(document()).validated(owner: "op", created: now, now: now)
        #expect(f.id == FacilityID("IVO://EXAMPLE.ORG/TAP"))
        #expect(f.status == .active)
        #expect(f.endpoints == [Endpoint(kind: .djangoUWS, url: "https://uws.example.org/uws/jobs/")])
        #expect(f.accepts == [.tapQuery, .dockerContainer])
        #expect(f.limits == FacilityLimits(cores: 8, memory: 32, duration: ISODuration(seconds: 129_600)))
        #expect(f.capacity == FacilityCapacity(cores: 64, memory: nil))
        #expect(f.data.rses == ["SKA_SRC_01", "CERN-EOS"])  // RSEs compare case-insensitively
        #expect(f.owner == "op" && f.created == now && f.modified == now)
    }

    @Test(arguments: [
        ("id", JSONValue.string("")), ("id", .string("a/b")), ("id", .string("ivo://x")), ("id", .string("ivo://example.org/<bad>")),
        ("id", .number(3)), ("name", .null), ("status", .string("sleeping")), ("endpoints", .array([])),
        ("endpoints", .string("http://x")), ("accepts", .array([.string("warp-drive")])), ("limits", .string("big")),
    ])
    func badFieldIsNamed(field: String, value: JSONValue) {
        let doc = document { $0[field] = value }
        #expect(errors(doc).contains { $0 == field || $0.hasPrefix(field + "[") || $0.hasPrefix(field + ".") }, "\(field)=\(value)")
    }

    @Test func everyProblemIsReportedAtOnce() {
        let doc = document {
            $0["name"] = nil
            $0["limits"] = .object(["cores": .number(0), "memory": .string("lots"), "duration": .string("PT0S"), "gpus": .string("one")])
            $0["endpoints"] = .array([.object(["kind": .string("uws"), "url": .string("file:///etc/passwd")]), .object([:])])
        }
        #expect(Set(errors(doc)) == [
            "name", "limits.cores", "limits.memory", "limits.duration", "limits.gpus", "endpoints[0].url",
            "endpoints[1].kind", "endpoints[1].url",
        ])
    }

    @Test func urlsMustBeAbsoluteHTTPWithoutCredentials() {
        #expect(FacilityDocument.httpURLProblem("https://binder.example.org/") == nil)
        #expect(FacilityDocument.httpURLProblem("http://127.0.0.1:8080/tap/async") == nil)
        #expect(FacilityDocument.httpURLProblem("ftp://example.org/") != nil)
        #expect(FacilityDocument.httpURLProblem("example.org/tap") != nil)
        #expect(FacilityDocument.httpURLProblem("http://user:pw@example.org/") != nil)
        #expect(FacilityDocument.httpURLProblem("http:///nohost") != nil)
    }

    @Test func putIdentifierMustMatchThePath() {
        #expect(errors(document(), pathID: FacilityID("ivo://EXAMPLE.org/tap")).isEmpty)
        #expect(errors(document(), pathID: FacilityID("other")) == ["id"])
        #expect(errors(document { $0["id"] = nil }, pathID: FacilityID("other")).isEmpty)
        #expect(errors(document { $0["id"] = nil }) == ["id"])
    }
}

@Suite struct ExecutableKindTests {
    @Test(arguments: [
        ("tap-query", "tap-query"),
        ("Jupyter-Notebook", "jupyter-notebook"),
        ("https://www.purl.org/ivoa.net/EB/schema/types/executable/docker-container-1.0", "docker-container"),
        ("https://www.purl.org/ivoa.net/EB/schema/v1.0/types/executable/jupyter-notebook-1.0", "jupyter-notebook"),
        ("https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/executable/singularity-container.yaml", "singularity-container"),
        ("uri://binder-notebook", "binder-notebook"),
        ("uri://esap-notebook", "jupyter-notebook"),
        ("urn:example:kinds:quantum-annealer-2.1", "urn:example:kinds:quantum-annealer-2.1"),
    ])
    func aliasesAndURIsMapToOneName(text: String, expected: String) throws {
        #expect(try #require(ExecutableKind(text)).rawValue == expected)
    }

    @Test func bareUnknownWordsAreNotKinds() {
        #expect(ExecutableKind("teleporter") == nil)
        #expect(ExecutableKind("") == nil)
    }
}

@Suite struct SessionLifecycleTests {
    @Test(arguments: SessionPhase.allCases)
    func onlyOfferedSessionsCanBeAccepted(from: SessionPhase) throws {
        let result = Result { () throws(SessionLifecycle.Refusal) in try SessionLifecycle.clientTransition(from: from, to: .accepted) }
        switch from {
        case .offered: #expect(try result.get() == .accepted)
        case .expired: #expect(throws: SessionLifecycle.Refusal.expired) { try result.get() }
        default: #expect(throws: SessionLifecycle.Refusal.self) { try result.get() }
        }
    }

    @Test func runningSessionsCanBeCancelledButFinishedOnesCannot() throws {
        #expect(try SessionLifecycle.clientTransition(from: .running, to: .cancelled) == .cancelled)
        #expect(throws: SessionLifecycle.Refusal.illegal(from: .completed, to: .cancelled)) {
            try SessionLifecycle.clientTransition(from: .completed, to: .cancelled)
        }
        #expect(throws: SessionLifecycle.Refusal.notClientSettable(.running)) {
            try SessionLifecycle.clientTransition(from: .offered, to: .running)
        }
    }

    @Test func anOfferPastItsExpiryIsExpired() {
        let t = Date(timeIntervalSince1970: 1_000)
        #expect(SessionLifecycle.effectivePhase(.offered, expires: t, now: t) == .expired)
        #expect(SessionLifecycle.effectivePhase(.offered, expires: t, now: t.addingTimeInterval(-1)) == .offered)
        #expect(SessionLifecycle.effectivePhase(.accepted, expires: t, now: t.addingTimeInterval(60)) == .accepted)
    }
}

@Suite struct TimestampTests {
    @Test(arguments: [0, 951_782_400, 1_764_000_000, 1_790_000_000, 4_102_444_799, -86_400])
    func canonicalTimesReadBackExactly(seconds: Int) throws {
        let date = Date(timeIntervalSince1970: TimeInterval(seconds))
        let text = Timestamp.format(date)
        #expect(Timestamp.parse(text) == date, "\(text)")
        #expect(Timestamp.parse(text) == (try? Date(text, strategy: .iso8601)))
    }

    @Test func otherFormsStillParse() {
        #expect(Timestamp.parse("2025-11-25T05:12:49.399263503Z") != nil)
        #expect(Timestamp.parse("2026-01-02T03:04:05+01:00") == Timestamp.parse("2026-01-02T02:04:05Z"))
        #expect(Timestamp.parse("2026-13-02T03:04:05Z") == nil)
        #expect(Timestamp.parse("yesterday") == nil)
    }
}

extension FacilityDocumentTests {
    @Test func anEndpointSaysHowSkyportAuthenticatesThereAndEveryMistakeIsNamed() throws {
        func endpoint(_ credentials: JSONValue, kind: String = "uws") -> JSONValue {
            document { $0["endpoints"] = .array([.object(["kind": .string(kind), "url": .string("https://uws.example.org/jobs"), "credentials": credentials])]) }
        }
        let forward = try FacilityDocument(endpoint(.object(["mode": .string("forward"), "audience": .string("https://uws.example.org")])))
            .validated(owner: "op", created: now, now: now)
        #expect(forward.endpoints[0].credentials == .forward(audience: "https://uws.example.org"))
        // Kept through the store's form.
        let again = try JSONDecoder().decode(Facility.self, from: try JSONEncoder().encode(forward))
        #expect(again.endpoints[0].credentials == .forward(audience: "https://uws.example.org"))
        let exchange = try FacilityDocument(endpoint(.object(["mode": .string("exchange"), "audience": .string("a")]))).validated(owner: "op", created: now, now: now)
        #expect(exchange.endpoints[0].credentials == .exchange(audience: "a"))
        #expect(try FacilityDocument(endpoint(.object(["mode": .string("service")]))).validated(owner: "op", created: now, now: now).endpoints[0].credentials == nil)

        #expect(errors(endpoint(.object(["mode": .string("forward")]))) == ["endpoints[0].credentials.audience"])
        #expect(errors(endpoint(.object(["mode": .string("steal"), "audience": .string("a")]))) == ["endpoints[0].credentials.mode"])
        #expect(errors(endpoint(.object(["audience": .string("a")]))) == ["endpoints[0].credentials.mode"])
        #expect(errors(endpoint(.object(["mode": .string("service"), "audience": .string("a")]))) == ["endpoints[0].credentials.audience"])
        #expect(errors(endpoint(.object(["mode": .string("exchange"), "audience": .string("a")]), kind: "binderhub")) == ["endpoints[0].credentials.mode"])
        #expect(errors(endpoint(.object(["mode": .string("forward"), "audience": .string("a"), "scope": .string("x")]))) == ["endpoints[0].credentials.scope"])
        #expect(errors(endpoint(.string("forward"))) == ["endpoints[0].credentials"])
    }

    @Test func aUsersTokenIsSentRenewedOrEndedByItsExpiry() {
        let exchanged = UserCredential(
            mode: "exchange", issuer: "i", audience: "a", sealedToken: "t", expires: now.addingTimeInterval(100),
            sealedSubject: "s", subjectExpires: now.addingTimeInterval(1000))
        #expect(exchanged.use(at: now, margin: 60) == .send)
        #expect(exchanged.use(at: now.addingTimeInterval(50), margin: 60) == .exchangeAgain)
        guard case .fail(let why) = exchanged.use(at: now.addingTimeInterval(1000), margin: 60) else { Issue.record("renewed"); return }
        #expect(why.contains("can no longer be renewed"))
        let forwarded = UserCredential(mode: "forward", issuer: "i", audience: "a", sealedToken: "t", expires: now.addingTimeInterval(100))
        #expect(forwarded.use(at: now.addingTimeInterval(50), margin: 60) == .send)
        guard case .fail(let ended) = forwarded.use(at: now.addingTimeInterval(100), margin: 60) else { Issue.record("sent"); return }
        #expect(ended.contains("cannot renew it"))
    }
}

@Suite struct FacilityVocabularyDocumentTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func facility(_ extra: [String: JSONValue]) throws -> Facility {
        var o: [String: JSONValue] = [
            "id": .string("gpu-site"), "name": .string("GPU site"),
            "endpoints": .array([.object(["kind": .string("uws"), "url": .string("https://uws.example.org/jobs")])]),
            "accepts": .array([.string("docker-container")]),
        ]
        for (k, v) in extra { o[k] = v }
        return try FacilityDocument(.object(o)).validated(owner: "op", created: now, now: now)
    }

    @Test func hardwareSoftwareScratchBandwidthAndCostAreRead() throws {
        let f = try facility([
            "limits": .object(["gpus": .number(4), "scratch": .number(500)]),
            "capacity": .object(["gpus": .number(16)]),
            "hardware": .object(["architectures": .array([.string("amd64"), .string("aarch64")]),
                                 "gpu": .object(["models": .array([.string("A100")]), "memory": .number(80)])]),
            "software": .object([
                "runtimes": .array([.object(["name": .string("Python"), "versions": .array([.string("3.11"), .string("3.12")])])]),
                "environments": .array([.string("casa6")]), "registries": .array([.string("ghcr.io/SKA-telescope/")]),
            ]),
            "data": .object(["rses": .array([.string("SKA_SRC_01")]), "bandwidth": .number(250)]),
            "cost": .number(1.5),
        ])
        #expect(f.limits.gpus == 4 && f.limits.scratch == 500 && f.capacity.gpus == 16)
        #expect(f.hardware == FacilityHardware(architectures: [.x86_64, .aarch64], gpuModels: ["A100"], gpuMemory: 80))
        #expect(f.software?.runtimes == [FacilityRuntime(name: "python", versions: ["3.11", "3.12"])])
        #expect(f.software?.registries == ["ghcr.io/ska-telescope"])
        #expect(f.data.bandwidth == 250 && f.cost == 1.5)
        // What is served reads back as the same facility (GET, edit, PUT).
        let served = try JSONValue.parse(CanonicalJSON.encoder().encode(f))
        let again = try FacilityDocument(served).validated(owner: "op", created: now, now: now)
        #expect(again.hardware == f.hardware && again.software == f.software && again.limits == f.limits && again.capacity == f.capacity)
        #expect(again.data == f.data && again.cost == f.cost)
    }

    @Test(arguments: [
        ("hardware", JSONValue.object(["architectures": .array([.string("vax")])]), "hardware.architectures[0]"),
        ("hardware", .object(["gpu": .object(["modles": .array([])])]), "hardware.gpu.modles"),
        ("software", .object(["runtimes": .array([.object(["versions": .array([.string("3")])])])]), "software.runtimes[0].name"),
        ("software", .object(["runtimes": .array([.object(["name": .string("python"), "versions": .array([.string("three")])])])]), "software.runtimes[0].versions[0]"),
        ("software", .object(["registries": .array([.string("https://ghcr.io")])]), "software.registries[0]"),
        ("limits", .object(["gpus": .number(-1)]), "limits.gpus"),
        ("cost", .number(-2), "cost"),
        ("data", .object(["bandwidth": .number(0)]), "data.bandwidth"),
        ("data", .object(["bandwidth": .number(1e-300)]), "data.bandwidth"),
    ])
    func badVocabularyIsNamed(key: String, value: JSONValue, field: String) {
        do {
            _ = try facility([key: value])
            Issue.record("accepted \(key)")
        } catch let failure as ValidationFailure {
            #expect(failure.errors.map(\.field).contains(field), "\(failure.errors)")
        } catch {
            Issue.record("\(error)")
        }
    }
}

import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SkyportBroker
import SkyportCore
import SkyportHTTP
import SkyportTestSupport
import Testing

/// Validates UWS documents against the UWS 1.1 XSD with xmllint (libxml2-utils).
enum UWSSchema {
    static let xsd = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/schemas/UWS-v1.1-local.xsd").standardized

    /// Records an issue unless `document` validates.
    static func check(_ document: String, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        guard FileManager.default.fileExists(atPath: xsd.path) else {
            Issue.record("the UWS schema is absent at \(xsd.path): this test needs ../shared/schemas", sourceLocation: sourceLocation)
            return
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("uws-\(UUID().uuidString).xml")
        try Data(document.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["xmllint", "--noout", "--schema", xsd.path, file.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus == 127 {
            Issue.record("xmllint is missing: install libxml2-utils (apt-get install libxml2-utils)", sourceLocation: sourceLocation)
            return
        }
        #expect(process.terminationStatus == 0, "\(label) does not validate against the UWS 1.1 XSD: \(output)\n\(document)",
                sourceLocation: sourceLocation)
    }
}

extension TestClientProtocol {
    /// A UWS call: form-encoded parameters (for POST), a bearer token, and an Accept header.
    func uws(
        _ method: HTTPRequest.Method, _ uri: String, form: [(String, String)] = [], token: String? = UWSAPITests.carol,
        accept: String? = nil, contentType: String = "application/x-www-form-urlencoded"
    ) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if let accept { headers[.accept] = accept }
        var body: ByteBuffer?
        if method == .post {
            headers[.contentType] = contentType
            body = ByteBuffer(string: UWSAPITests.encode(form))
        }
        let path = URL(string: uri).map { $0.path + ($0.query.map { "?\($0)" } ?? "") } ?? uri
        return try await execute(uri: path, method: method, headers: headers, body: body)
    }

    /// Creates a job; returns its path.
    func createJob(_ form: [(String, String)], token: String = UWSAPITests.carol) async throws -> String {
        let r = try await uws(.post, "/uws/jobs", form: form, token: token)
        #expect(r.status == .seeOther, "\(r.text)")
        let location = try #require(r.headers[.location])
        return try #require(URL(string: location)?.path)
    }

    /// A text sub-resource of a job.
    func jobText(_ path: String, _ resource: String, token: String = UWSAPITests.carol) async throws -> String {
        let r = try await uws(.get, "\(path)/\(resource)", token: token)
        #expect(r.status == .ok, "\(resource): \(r.text)")
        return r.text
    }

    /// The job as JSON.
    func jobJSON(_ path: String, query: String = "", token: String = UWSAPITests.carol) async throws -> UWSJob {
        let r = try await uws(.get, path + query, token: token, accept: "application/json")
        #expect(r.status == .ok, "\(r.text)")
        return try CanonicalJSON.decode(UWSJob.self, r.text)
    }
}

@Suite struct UWSAPITests {
    /// Scientists' own tokens (not operators').
    static let carol = "carol-personal-token"
    static let dave = "dave-personal-token"

    static func encode(_ form: [(String, String)]) -> String {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        return form.map { "\($0.0.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }
            .joined(separator: "&")
    }

    static let request = [("request", notebookRequest)]

    /// A broker with one facility that can run the notebook request.
    func withFacility(_ test: @Sendable @escaping (any TestClientProtocol, TestBroker) async throws -> Void) async throws {
        let broker = try await TestBroker()
        try await broker.run { client in
            let r = try await client.send(.post, "/facilities", json: computeFacility("big"), token: TestBroker.aliceToken)
            #expect(r.status == .created)
            try await test(client, broker)
        }
    }

    @Test func aJobIsCreatedPendingRunsAbortsAndIsDeleted() async throws {
        try await withFacility { client, broker in
            let job = try await client.createJob(Self.request + [("RUNID", "my-run")])
            #expect(job.hasPrefix("/uws/jobs/"))
            let pending = try await client.uws(.get, job)
            #expect(pending.headers[.contentType]?.hasPrefix("text/xml") == true)
            #expect(pending.text.contains("<uws:phase>PENDING</uws:phase>") && pending.text.contains("<uws:runId>my-run</uws:runId>"))
            try UWSSchema.check(pending.text, "a PENDING job")
            #expect(try await client.jobText(job, "phase") == "PENDING")
            #expect(try await client.jobText(job, "quote") == "")
            #expect(try await client.jobText(job, "owner").hasPrefix("user-"))

            let run = try await client.uws(.post, "\(job)/phase", form: [("PHASE", "RUN")])
            #expect(run.status == .seeOther)
            #expect(run.headers[.location].flatMap { URL(string: $0)?.path } == job)
            // At once QUEUED (pyvo's wait() fails on PENDING), the session accepted, the other offers rejected.
            #expect(try await client.jobText(job, "phase") == "QUEUED")
            let running = try await client.jobJSON(job)
            #expect(running.startTime == nil && running.quote != nil && running.runId == "my-run")  // it starts when it executes
            let sessionHref = try #require(running.results.first { $0.id == "session" }?.href)
            #expect(running.results.contains { $0.id == "offerset" })
            let sessionID = try #require(UUID(uuidString: URL(string: sessionHref)?.lastPathComponent ?? ""))
            #expect(try await broker.store.session(sessionID)?.phase == .accepted)
            let results = try await client.uws(.get, "\(job)/results")
            try UWSSchema.check(results.text, "the results")
            try UWSSchema.check(try await client.uws(.get, "\(job)/parameters").text, "the parameters")
            try UWSSchema.check(try await client.uws(.get, job).text, "a QUEUED job")

            let again = try await client.uws(.post, "\(job)/phase", form: [("PHASE", "RUN")])
            #expect(again.status == .forbidden)
            #expect(try again.json()["code"] as? String == "illegal-transition")

            #expect(try await client.uws(.post, "\(job)/phase", form: [("phase", "abort")]).status == .seeOther)
            #expect(try await client.jobText(job, "phase") == "ABORTED")
            #expect(try await broker.store.session(sessionID)?.phase == .cancelled)
            try UWSSchema.check(try await client.uws(.get, job).text, "an ABORTED job")
            #expect(try await client.uws(.post, "\(job)/phase", form: [("PHASE", "ABORT")]).status == .forbidden)

            let deleted = try await client.uws(.delete, job)
            #expect(deleted.status == .seeOther)
            #expect(deleted.headers[.location].flatMap { URL(string: $0)?.path } == "/uws/jobs")
            #expect(try await client.uws(.get, job).status == .notFound)
        }
    }

    @Test func aJobLeftMidNegotiationByAStoppedBrokerIsResumedNotStuck() async throws {
        try await withFacility { client, broker in
            let job = try await client.createJob(Self.request)
            let id = try #require(job.split(separator: "/").last.map(String.init))
            // The broker had claimed RUN (QUEUED) and stopped before linking a session.
            _ = try await broker.store.updateUWSJob(id) { j in
                j.phase = .queued
                j.started = Date().addingTimeInterval(-120)
            }
            let resumed = try await client.jobJSON(job)
            #expect(resumed.phase == .queued || resumed.phase == .executing)
            let sessionHref = try #require(resumed.results.first { $0.id == "session" }?.href)
            let sessionID = try #require(UUID(uuidString: URL(string: sessionHref)?.lastPathComponent ?? ""))
            #expect(try await broker.store.session(sessionID)?.phase == .accepted)
            // Reading it again finds the same session (the job id keys the negotiation).
            #expect(try await client.jobJSON(job).results.first { $0.id == "session" }?.href == sessionHref)
        }
    }

    @Test func aPendingJobCanBeAbortedAndDeletedByAction() async throws {
        try await withFacility { client, _ in
            let job = try await client.createJob(Self.request)
            #expect(try await client.uws(.post, "\(job)/phase", form: [("PHASE", "ABORT")]).status == .seeOther)
            #expect(try await client.jobText(job, "phase") == "ABORTED")
            #expect(try await client.uws(.post, "\(job)/phase", form: [("PHASE", "RUN")]).status == .forbidden)
            let bad = try await client.uws(.post, job, form: [("ACTION", "KEEP")])
            #expect(bad.status == .badRequest)
            #expect(try bad.errorFields() == ["ACTION"])
            let deleted = try await client.uws(.post, job, form: [("action", "delete")])
            #expect(deleted.status == .seeOther)
            #expect(try await client.uws(.get, job).status == .notFound)
        }
    }

    @Test func theJobShowsItsSessionsPhaseAndResults() async throws {
        try await withFacility { client, broker in
            let job = try await client.createJob(Self.request + [("PHASE", "RUN")])
            #expect(try await client.jobText(job, "phase") == "QUEUED")
            // The forwarding service's part, played by hand: the facility runs the job, then completes it.
            let claimed = try await broker.store.claimWork(worker: "w", now: Date(), until: Date().addingTimeInterval(60), limit: 5)
            let session = try #require(claimed.first)
            _ = try await broker.store.updateClaimed(session.id, worker: "w", now: Date()) { $0.phase = .running }
            #expect(try await client.jobText(job, "phase") == "EXECUTING")
            let executing = try await client.uws(.get, "/uws/jobs?PHASE=EXECUTING")
            #expect(executing.text.components(separatedBy: "<uws:jobref ").count == 2)
            _ = try await broker.store.updateClaimed(session.id, worker: "w", now: Date()) { s in
                s.phase = .completed
                s.remote = RemoteJob(endpoint: Endpoint(kind: .uws, url: "http://127.0.0.1:9/tap/async"))
                s.remote?.results = [UWSResult(id: "result", href: "http://127.0.0.1:9/tap/async/1/results/result", mimeType: "application/x-votable+xml")]
            }
            let completed = try await client.jobJSON(job)
            #expect(completed.phase == .completed && completed.endTime != nil)
            #expect(completed.results.map(\.id) == ["result", "session", "offerset"])
            try UWSSchema.check(try await client.uws(.get, job).text, "a COMPLETED job")
            try UWSSchema.check(try await client.uws(.get, "\(job)/results").text, "the results of a COMPLETED job")
            #expect(try await client.uws(.post, "\(job)/phase", form: [("PHASE", "ABORT")]).status == .forbidden)
        }
    }

    @Test func aFailedSessionIsAnErrorWithItsMessage() async throws {
        try await withFacility { client, broker in
            let job = try await client.createJob(Self.request + [("PHASE", "RUN")])
            let session = try #require(try await broker.store.claimWork(worker: "w", now: Date(), until: Date().addingTimeInterval(60), limit: 5).first)
            _ = try await broker.store.updateClaimed(session.id, worker: "w", now: Date()) { s in
                s.phase = .failed
                s.message = "the facility reported ERROR: out of quota"
            }
            let failed = try await client.jobJSON(job)
            #expect(failed.phase == .error && failed.errorMessage == "the facility reported ERROR: out of quota" && failed.hasErrorDetail)
            try UWSSchema.check(try await client.uws(.get, job).text, "an ERROR job")
            #expect(try await client.jobText(job, "error").contains("out of quota"))
        }
    }

    @Test func negotiationThatGivesNoPutsTheJobInErrorWithEveryReason() async throws {
        try await withFacility { client, _ in
            let huge = #"{"executable": {"kind": "jupyter-notebook", "location": "https://example.org/nb.ipynb"}, "compute": {"cores": {"min": 500}}}"#
            let job = try await client.createJob([("request", huge), ("PHASE", "RUN")])
            let failed = try await client.jobJSON(job)
            #expect(failed.phase == .error)
            let message = try #require(failed.errorMessage)
            #expect(message.contains("negotiation gave NO") && message.contains("big") && message.contains("500"), "\(message)")
            #expect(failed.results.map(\.id) == ["offerset"])
            let xml = try await client.uws(.get, job)
            #expect(xml.text.contains("<uws:errorSummary type=\"fatal\" hasDetail=\"true\">"))
            try UWSSchema.check(xml.text, "a job whose negotiation gave NO")
            let detail = try await client.jobText(job, "error")
            #expect(detail.contains("big rejected") && detail.contains("cores-exceed-limit"), "\(detail)")
            #expect(try await client.uws(.post, "\(job)/phase", form: [("PHASE", "RUN")]).status == .forbidden)
        }
    }

    @Test func listsAreFilteredAndEveryoneSeesOnlyTheirOwnJobs() async throws {
        try await withFacility { client, _ in
            let first = try await client.createJob(Self.request)
            let second = try await client.createJob(Self.request + [("PHASE", "RUN")])
            let third = try await client.createJob(Self.request)
            let daves = try await client.createJob(Self.request, token: Self.dave)

            func ids(_ query: String, token: String = Self.carol) async throws -> [String] {
                let r = try await client.uws(.get, "/uws/jobs\(query)", token: token)
                #expect(r.status == .ok, "\(query): \(r.text)")
                try UWSSchema.check(r.text, "the job list \(query)")
                return r.text.components(separatedBy: "<uws:jobref id=\"").dropFirst().compactMap { $0.split(separator: "\"").first.map { "/uws/jobs/\($0)" } }
            }
            #expect(Set(try await ids("")) == [first, second, third])
            #expect(try await ids("", token: Self.dave) == [daves])
            #expect(Set(try await ids("?PHASE=PENDING")) == [first, third])
            #expect(try await ids("?PHASE=QUEUED") == [second])
            #expect(Set(try await ids("?phase=QUEUED&PHASE=PENDING")) == [first, second, third])
            #expect(try await ids("?LAST=1") == [third])  // the newest of carol's, not dave's newer one
            #expect(try await ids("?LAST=2&PHASE=PENDING") == [third, first])  // newest first, among the PENDING ones
            #expect(try await ids("?AFTER=2999-01-01T00:00:00Z").isEmpty)
            #expect(try await ids("?AFTER=2000-01-01T00:00:00Z").count == 3)
            #expect(try await ids("?PHASE=ARCHIVED").isEmpty)
            let json = try await client.uws(.get, "/uws/jobs?PHASE=QUEUED", accept: "application/json")
            #expect(json.headers[.contentType] == "application/json")
            #expect(((try json.json()["jobs"] as? [[String: Any]])?.first?["phase"] as? String) == "QUEUED")

            // Another owner's job does not exist, whatever one tries.
            #expect(try await client.uws(.get, daves).status == .notFound)
            #expect(try await client.uws(.get, "\(daves)/phase").status == .notFound)
            #expect(try await client.uws(.post, "\(daves)/phase", form: [("PHASE", "RUN")]).status == .notFound)
            #expect(try await client.uws(.delete, daves).status == .notFound)
            #expect(try await client.uws(.get, first, token: Self.dave).status == .notFound)
            #expect(try await client.jobText(daves, "phase", token: Self.dave) == "PENDING")
        }
    }

    @Test func theCallerIsTheBearerToken() async throws {
        try await withFacility { client, _ in
            for header in [nil, "Basic dXNlcjpwYXNz", "Bearer ", "Bearer a\u{7f}b"] as [String?] {
                var headers: HTTPFields = [:]
                if let header { headers[.authorization] = header }
                let r = try await client.execute(uri: "/uws/jobs", method: .get, headers: headers)
                #expect(r.status == .unauthorized, "\(header ?? "no header")")
                #expect(r.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            }
            let create = try await client.uws(.post, "/uws/jobs", form: Self.request, token: nil)
            #expect(create.status == .unauthorized)
            // An operator's token stands for the operator.
            let job = try await client.createJob(Self.request, token: TestBroker.aliceToken)
            #expect(try await client.jobText(job, "owner", token: TestBroker.aliceToken) == "alice")
            let hash = OperatorToken.hash(Self.carol)
            let mine = try await client.createJob(Self.request)
            #expect(try await client.jobText(mine, "owner") == "user-" + hash.prefix(16))
        }
    }

    @Test func badInputIsA4xxNamingTheParameter() async throws {
        try await withFacility { client, _ in
            func fields(_ form: [(String, String)], path: String = "/uws/jobs", _ expected: String, status: HTTPResponse.Status = .badRequest,
                        sourceLocation: SourceLocation = #_sourceLocation) async throws {
                let r = try await client.uws(.post, path, form: form)
                #expect(r.status == status, "\(form): \(r.text)", sourceLocation: sourceLocation)
                #expect(try r.errorFields().contains(expected), "\(form): \(r.text)", sourceLocation: sourceLocation)
            }
            try await fields(Self.request + [("type", "launch-rockets")], "type")
            try await fields([], "request")
            try await fields([("request", "{not json")], "request")
            try await fields([("request", "- just\n- a list")], "request")
            try await fields([("request", #"{"executable": {"kind": "jupyter-notebook"}, "schedule": {"requested": {"duration": "forever"}}}"#)], "request")
            try await fields([("software", "{")], "software")
            try await fields([("software", #"{"name": "x"}"#), ("basket", "[")], "basket")
            try await fields(Self.request + [("colour", "blue")], "colour")
            try await fields(Self.request + [("request", notebookRequest)], "request")
            try await fields(Self.request + [("PHASE", "ABORT")], "PHASE")
            try await fields(Self.request + [("EXECUTIONDURATION", "-5")], "EXECUTIONDURATION")
            try await fields(Self.request + [("DESTRUCTION", "next tuesday")], "DESTRUCTION")
            try await fields(Self.request + [("RUNID", "a"), ("runid", "b")], "RUNID")
            try await fields(Self.request + [("", "null")], "parameter name")

            let job = try await client.createJob(Self.request)
            try await fields([("PHASE", "SUSPEND")], path: "\(job)/phase", "PHASE")
            try await fields([], path: "\(job)/phase", "PHASE")
            try await fields([("EXECUTIONDURATION", "ten")], path: "\(job)/executionduration", "EXECUTIONDURATION")
            try await fields([("DESTRUCTION", "")], path: "\(job)/destruction", "DESTRUCTION")
            for query in ["?PHASE=DONE", "?LAST=-1", "?LAST=x", "?AFTER=yesterday"] {
                let r = try await client.uws(.get, "/uws/jobs\(query)")
                #expect(r.status == .badRequest, "\(query)")
                #expect(try r.errorFields() == [String(query.dropFirst().prefix { $0 != "=" })], "\(query)")
            }
            for query in ["?WAIT=soon", "?WAIT=-2", "?WAIT=1&PHASE=DONE"] {
                let r = try await client.uws(.get, job + query)
                #expect(r.status == .badRequest, "\(query): \(r.text)")
            }
            let json = try await client.uws(.post, "/uws/jobs", form: Self.request, contentType: "application/json")
            #expect(json.status == .unsupportedMediaType)
            let malformed = try await client.execute(
                uri: "/uws/jobs", method: .post,
                headers: [.authorization: "Bearer \(Self.carol)", .contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "request=%zz"))
            #expect(malformed.status == .badRequest)
            #expect(try await client.uws(.get, "/uws/jobs/no-such-job").status == .notFound)
        }
    }

    @Test func parameterNamesAreCaseInsensitiveAndSoftwareWithABasketIsAccepted() async throws {
        try await withFacility { client, _ in
            let job = try await client.createJob([("REQUEST", notebookRequest), ("Type", "EXECUTE")])
            let parameters = try await client.uws(.get, "\(job)/parameters", accept: "application/json").json()["parameters"] as? [[String: Any]]
            #expect(parameters?.compactMap { $0["id"] as? String } == ["type", "request"])
            let yaml = "executable: {kind: jupyter-notebook, location: \"https://example.org/nb.ipynb\"}\ncompute: {cores: {min: 1}}\n"
            #expect(try await client.jobText(try await client.createJob([("request", yaml)]), "phase") == "PENDING")
            let codemeta = #"{"@context": "https://doi.org/10.5063/schema/codemeta-2.0", "name": "demo", "codeRepository": "https://github.com/example/demo", "programmingLanguage": "Python"}"#
            let basket = #"[{"archive": "rucio", "did": "testing:file.fits"}]"#
            let software = try await client.createJob([("software", codemeta), ("basket", basket), ("PHASE", "RUN")])
            let state = try await client.jobJSON(software)
            #expect([.queued, .error].contains(state.phase), "\(state)")
        }
    }

    @Test func executionDurationAndDestructionCanBeSet() async throws {
        try await withFacility { client, _ in
            let job = try await client.createJob(Self.request)
            #expect(try await client.jobText(job, "executionduration") == "3600")  // the request's PT1H
            #expect(try await client.uws(.post, "\(job)/executionduration", form: [("EXECUTIONDURATION", "1800")]).status == .seeOther)
            #expect(try await client.jobText(job, "executionduration") == "1800")
            // pyvo sends DESTRUCTION without a zone (UTC).
            #expect(try await client.uws(.post, "\(job)/destruction", form: [("DESTRUCTION", "2099-01-02T03:04:05.000000")]).status == .seeOther)
            let destruction = try await client.jobText(job, "destruction")
            #expect(destruction.hasPrefix("20") && destruction.hasSuffix("Z"), "\(destruction)")  // brought forward to at most 30 days
            #expect(try await client.uws(.post, "\(job)/phase", form: [("PHASE", "RUN")]).status == .seeOther)
            #expect(try await client.jobText(job, "executionduration") == "1800")  // negotiated as asked
            #expect(try await client.jobText(job, "quote").hasSuffix("Z"))
            #expect(try await client.uws(.post, "\(job)/executionduration", form: [("EXECUTIONDURATION", "60")]).status == .forbidden)
            // Two hours ahead: above the hour a job is kept at least (one hour exactly raced the server's clock).
            let shorter = Timestamp.format(Date().addingTimeInterval(7_200))
            #expect(try await client.uws(.post, "\(job)/destruction", form: [("DESTRUCTION", shorter)]).status == .seeOther)
            #expect(try await client.jobText(job, "destruction") == shorter)
        }
    }

    /// Every "at once" below asks for the longest WAIT (60 s): a wait that wrongly blocks runs the test past its time
    /// limit, and a right one returns on the event, however loaded the machine is.
    @Test(.timeLimit(.minutes(1)))
    func waitBlocksUntilThePhaseChangesAndNoLonger() async throws {
        try await withFacility { client, broker in
            let job = try await client.createJob(Self.request)
            // Nothing changes: it waits the time asked (a sleep never ends early), then answers.
            let started = ContinuousClock.now
            #expect(try await client.jobJSON(job, query: "?WAIT=1").phase == .pending)
            #expect(ContinuousClock.now - started >= .milliseconds(950))
            // Waiting for another phase than the job's: at once.
            #expect(try await client.jobJSON(job, query: "?WAIT=60&PHASE=QUEUED").phase == .pending)

            #expect(try await client.uws(.post, "\(job)/phase", form: [("PHASE", "RUN")]).status == .seeOther)
            let sessionHref = try #require(try await client.jobJSON(job).results.first { $0.id == "session" }?.href)
            let sessionID = try #require(UUID(uuidString: URL(string: sessionHref)?.lastPathComponent ?? ""))
            let store = broker.store
            // The change comes while the wait blocks (or before it starts: then the wait answers at once, as it should).
            let change = Task {
                try await Task.sleep(for: .milliseconds(400))
                _ = try await store.changePhase(of: sessionID, to: .cancelled, now: Date())
            }
            let changed = try await client.jobJSON(job, query: "?WAIT=-1")
            try await change.value
            #expect(changed.phase == .aborted)
            // A final job never blocks; a wait longer than an Int holds asks for the longest one, as -1 does.
            #expect(try await client.jobJSON(job, query: "?WAIT=60").phase == .aborted)
            #expect(try await client.jobJSON(job, query: "?WAIT=35318135478006015066112").phase == .aborted)
        }
    }

    @Test func xmlByDefaultJSONWhenAsked() async throws {
        try await withFacility { client, _ in
            let job = try await client.createJob(Self.request)
            for accept in [nil, "application/xml", "text/xml, application/json", "*/*", "application/xml,text/plain"] {
                let r = try await client.uws(.get, job, accept: accept)
                #expect(r.headers[.contentType]?.hasPrefix("text/xml") == true, "\(accept ?? "none")")
                #expect(r.text.hasPrefix("<?xml"))
            }
            let json = try await client.uws(.get, job, accept: "application/json")
            #expect(json.headers[.contentType] == "application/json")
            let decoded = try CanonicalJSON.decode(UWSJob.self, json.text)
            #expect(decoded.phase == .pending && decoded.jobId == job.split(separator: "/").last.map(String.init))
            let list = try await client.uws(.get, "/uws/jobs")
            try UWSSchema.check(list.text, "the job list")
        }
    }

    @Test func typesAreListedWithTheirParameterSchemas() async throws {
        try await TestBroker().run { client in
            let r = try await client.send(.get, "/uws/types")
            #expect(r.status == .ok)
            let types = try #require(try r.json()["types"] as? [[String: Any]])
            #expect(types.map { $0["name"] as? String } == ["execute"])
            let schema = try #require(types.first?["parameters"] as? [String: Any])
            #expect((schema["properties"] as? [String: Any]).map { Set($0.keys) } == ["request", "software", "basket"])
        }
    }

    @Test(.enabled(if: TestPeers.run(TestPeers.dachs != nil), "DaCHS is not running: start it with scripts/peers.sh (the test command does)"))
    func aUWSJobRunsThroughTheBrokerOnDaCHSToCompletion() async throws {
        let list = try TestPeers.requireDaCHS().absoluteString
        try await TestBroker(withServices: true).run { client in
            let facility = ForwardingIntegrationTests.facility("ivo://skyport.test/tap", kind: "uws", url: list)
            #expect(try await client.send(.post, "/facilities", json: facility, token: TestBroker.aliceToken).status == .created)
            let request = ForwardingIntegrationTests.tapRequest("SELECT TOP 3 table_name FROM tap_schema.tables")
            let job = try await client.createJob([("request", request), ("PHASE", "RUN")])
            var seen: [UWSPhase] = []
            let deadline = ContinuousClock.now + .seconds(90)
            var state = try await client.jobJSON(job)
            while !state.phase.isFinal, ContinuousClock.now < deadline {
                seen.append(state.phase)
                state = try await client.jobJSON(job, query: "?WAIT=5")
            }
            #expect(state.phase == .completed, "\(state)")
            #expect(!seen.contains(.pending))
            let result = try #require(state.results.first { $0.id != "session" && $0.id != "offerset" })
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: result.href), timeout: .seconds(30))
            #expect(String(buffer: try await response.body.collect(upTo: 16 << 20)).contains("VOTABLE"))
            try UWSSchema.check(try await client.uws(.get, job).text, "a job completed on DaCHS")
        }
    }
}

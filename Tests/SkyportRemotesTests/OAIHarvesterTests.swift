import Foundation
import SkyportCore
import SkyportRemotes
import SkyportTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A local OAI-PMH server run with python3 on 127.0.0.1 for one test, stopped when done.
/// (Spawned with posix_spawn with no signal blocked, killed and reaped with waitpid.)
final class LocalOAIServer: @unchecked Sendable {
    private var pid: pid_t = 0
    let port: Int
    /// A scratch directory removed when the server stops.
    var scratch: URL?
    var baseURL: URL { URL(string: "http://127.0.0.1:\(port)/oai")! }

    /// Starts `script` (with the port as first argument, then `arguments`) and waits until it answers.
    init(script: String, arguments: [String] = []) async throws {
        port = try Self.freePort()
        let argv = ["/usr/bin/env", "python3", script, String(port)] + arguments
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        // The test process blocks signals on its threads; the child must start with none blocked, or SIGTERM is ignored.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        var child: pid_t = 0
        guard posix_spawn(&child, "/usr/bin/env", &actions, &attributes, &cargs, environ) == 0 else {
            throw RegistryError(.unexpectedDocument, "cannot start python3 \(script)")
        }
        pid = child
        // A loaded machine starts python slowly: wait as long as it takes, up to a generous minute.
        if await eventually(every: .milliseconds(50), { Self.accepts(port) }) { return }
        stop()
        throw RegistryError(.unexpectedDocument, "the test OAI-PMH server \(script) did not start on port \(port)")
    }

    /// Stops the server (idempotent).
    func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGKILL)   // a test server has nothing to flush
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pid = 0
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
    }

    deinit { stop() }

    /// Whether something listens on the loopback port.
    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// A port nobody listens on right now (bound to port 0, read back, closed).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RegistryError(.unexpectedDocument, "socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw RegistryError(.unexpectedDocument, "cannot find a free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// Harvests the shared mini OAI-PMH server (the RegTAP fixtures as pages), misbehaving registries, and DaCHS when it runs.
@Suite(.serialized) struct OAIHarvesterTests {
    static let peers = "/work/shared/peers"
    static let fixtures = [
        "tap.oai-listrecords", "deleted.oai-listrecords", "auth.oai-listrecords", "cone.oai-getrecord", "dc.oai-getrecord",
        "org.oai-getrecord", "siap.oai-listrecords", "ssap.oai-getrecord", "std.oai-listrecords",
    ].map { "\(Samples.root)/registry/regtap-validator-\($0).xml" }

    /// The fixtures as ListRecords pages in a temp dir: mini_oai_server.py renames `<oai:GetRecord>` but not a
    /// `<oai:GetRecord xmlns:...>` start tag with attributes (org, ssap), so GetRecord answers are renamed here.
    static func fixturePages() throws -> (URL, [String]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skyport-oai-pages-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return (dir, try fixtures.map { path in
            let text = try String(contentsOfFile: path, encoding: .utf8)
                .replacingOccurrences(of: ":GetRecord>", with: ":ListRecords>").replacingOccurrences(of: ":GetRecord ", with: ":ListRecords ")
            let page = dir.appendingPathComponent(URL(fileURLWithPath: path).lastPathComponent)
            try Data(text.utf8).write(to: page)
            return page.path
        })
    }

    /// Misbehaving registries, chosen by the path: endless tokens, a repeated token, HTML, bad tokens, day granularity, GetRecord.
    static func tricky(_ request: StubRequest, mode: String) -> StubResponse {
        func oai(_ body: String) -> String { #"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">\#(body)</OAI-PMH>"# }
        func rec(_ i: Int) -> String {
            #"<record><header><identifier>ivo://t.test/r\#(i)</identifier><datestamp>2024-01-01T00:00:00Z</datestamp></header>"#
                + #"<metadata><ri:Resource xmlns:ri="http://www.ivoa.net/xml/RegistryInterface/v1.0" status="active"><title>r\#(i)</title>"#
                + #"<identifier>ivo://t.test/r\#(i)</identifier><capability standardID="ivo://ivoa.net/std/TAP"><interface>"#
                + #"<accessURL use="base">http://t.test/r\#(i)/tap</accessURL></interface></capability></ri:Resource></metadata></record>"#
        }
        var q: [String: String] = [:]
        for item in URLComponents(string: "?" + (request.query ?? ""))?.queryItems ?? [] { q[item.name] = item.value ?? "" }
        let granularity = mode == "day" ? "YYYY-MM-DD" : "YYYY-MM-DDThh:mm:ssZ"
        let body: String
        switch (mode, q["verb"]) {
        case (_, "Identify"):
            body = oai("<Identify><repositoryName>t</repositoryName><granularity>\(granularity)</granularity></Identify>")
        case ("endless", _):
            let n = Int(q["resumptionToken"] ?? "0") ?? 0
            body = oai("<ListRecords>\(rec(n))<resumptionToken>\(n + 1)</resumptionToken></ListRecords>")
        case ("same", _):
            body = oai("<ListRecords>\(rec(0))<resumptionToken>again</resumptionToken></ListRecords>")
        case ("html", _):
            return .text("<html><body><h1>Service unavailable</h1></body></html>", contentType: "text/html")
        case ("badtoken", _):
            body = q["resumptionToken"] != nil
                ? oai(#"<error code="badResumptionToken">token expired</error>"#)
                : oai("<ListRecords>\(rec(0))<resumptionToken>x y+z</resumptionToken></ListRecords>")
        case ("day", _):
            let from = Array(q["from"] ?? "")
            let ok = from.count == 10 && from[4] == "-" && from[7] == "-"
            body = oai(ok ? #"<error code="noRecordsMatch"/>"# : #"<error code="badArgument">from=\#(String(from))</error>"#)
        case ("get", "GetRecord"):
            body = q["identifier"] == "ivo://t.test/r7" && q["metadataPrefix"] == "ivo_vor"
                ? oai("<GetRecord>\(rec(7))</GetRecord>") : oai(#"<error code="idDoesNotExist">no such record</error>"#)
        default:
            body = oai(#"<error code="badVerb">bad verb</error>"#)
        }
        return .xml(body)
    }

    /// Runs `body` with the misbehaving registries on a stub server; the URL is the server's root.
    static func withTrickyServer(_ body: (URL) async throws -> Void) async throws {
        try await withStubHTTPServer { server in
            for mode in ["endless", "same", "html", "badtoken", "day", "get"] {
                server.route("/" + mode) { request, _ in tricky(request, mode: mode) }
            }
            try await body(server.base)
        }
    }

    @Test func pagesThroughResumptionTokensOfTheMiniServer() async throws {
        let (dir, pagePaths) = try Self.fixturePages()
        let server = try await LocalOAIServer(script: "\(Self.peers)/mini_oai_server.py", arguments: pagePaths)
        server.scratch = dir
        defer { server.stop() }
        let pages = try await withRemoteHTTP { http in
            var pages: [OAIPage] = []
            for try await page in OAIHarvester(http: http).pages(baseURL: server.baseURL) { pages.append(page) }
            return pages
        }
        #expect(pages.count == 9)
        #expect(pages.dropLast().allSatisfy { $0.completeListSize == 9 && $0.resumptionToken != nil })
        #expect(pages.last?.resumptionToken == nil)
        let records = pages.flatMap(\.records)
        #expect(records.count == 10)
        #expect(records.filter(\.header.isDeleted).map(\.header.identifier) == ["ivo://x-unregistred-test/TNG-OIG-SIAP"])
        #expect(records.allSatisfy { $0.resource != nil })
        let facilities = records.compactMap { $0.resource.flatMap { try? RegistryMapping.facility(from: $0, owner: "registry", now: Date()).get() } }
        #expect(facilities.map(\.id.rawValue) == ["ivo://x-invalid-test/__system__/tap/run"])
        #expect(facilities.first?.endpoints == [Endpoint(kind: .uws, url: "http://dc.zah.uni-heidelberg.de/__system__/tap/run/tap/async")])
    }

    @Test func aNeverEndingFeedStopsAtThePageCap() async throws {
        try await Self.withTrickyServer { base in try await withRemoteHTTP { http in
            var seen = 0
            do {
                for try await page in OAIHarvester(http: http, maxPages: 25).pages(baseURL: base.appendingPathComponent("endless")) {
                    seen += page.records.count
                }
                Issue.record("an endless feed ended")
            } catch let error as RegistryError {
                #expect(error.kind == .limitExceeded)
                #expect(error.message.contains("25 pages"))
            }
            #expect(seen == 25)
            await #expect(throws: RegistryError(.limitExceeded, "stopped at 11 records, over the cap of 10")) {
                try await OAIHarvester(http: http, maxRecords: 10).harvest(baseURL: base.appendingPathComponent("endless"))
            }
            let repeated = await #expect(throws: RegistryError.self) {
                try await OAIHarvester(http: http).harvest(baseURL: base.appendingPathComponent("same"))
            }
            #expect(repeated?.kind == .limitExceeded)
        } }
    }

    @Test func registryErrorsAreClear() async throws {
        try await Self.withTrickyServer { base in try await withRemoteHTTP { http in
            let harvester = OAIHarvester(http: http)
            let html = await #expect(throws: RegistryError.self) { try await harvester.harvest(baseURL: base.appendingPathComponent("html")) }
            #expect(html?.kind == .unexpectedDocument)
            #expect(html?.message.contains("text/html") == true)
            // The token "x y+z" must travel intact; the server then says it expired.
            let bad = await #expect(throws: RegistryError.self) { try await harvester.harvest(baseURL: base.appendingPathComponent("badtoken")) }
            #expect(bad?.oaiCode == "badResumptionToken")
            #expect(bad?.description.contains("token expired") == true)
        } }
        // A registry that is down: a connect error, not a crash (one attempt, no retries).
        try await withRemoteHTTP(retry: RetryPolicy(maxAttempts: 1)) { http in
            let down = await #expect(throws: RemoteError.self) {
                try await OAIHarvester(http: http).harvest(baseURL: URL(string: "http://127.0.0.1:\(try LocalOAIServer.freePort())/oai")!)
            }
            #expect(down?.kind == .connect)
        }
    }

    @Test func incrementalHarvestUsesTheIdentifiedGranularity() async throws {
        try await Self.withTrickyServer { base in try await withRemoteHTTP { http in
            let since = Date(timeIntervalSince1970: 1_700_000_000)
            // /day says YYYY-MM-DD and answers noRecordsMatch only to a day-granular from=, badArgument otherwise.
            let harvester = OAIHarvester(http: http)
            let records = try await harvester.harvest(baseURL: base.appendingPathComponent("day"), from: since)
            #expect(records.isEmpty)
            let day = try await harvester.identify(baseURL: base.appendingPathComponent("day"))
            let full = try await harvester.identify(baseURL: base.appendingPathComponent("endless"))
            #expect(!day.supportsSeconds)
            #expect(full.supportsSeconds)
        } }
    }

    @Test func getRecordByIdentifier() async throws {
        try await Self.withTrickyServer { base in try await withRemoteHTTP { http in
            let harvester = OAIHarvester(http: http)
            let record = try #require(try await harvester.getRecord(baseURL: base.appendingPathComponent("get"), identifier: "ivo://t.test/r7"))
            #expect(record.resource?.title == "r7")
            #expect(try await harvester.getRecord(baseURL: base.appendingPathComponent("get"), identifier: "ivo://t.test/none") == nil)
        } }
    }

    /// The OAI-PMH endpoint of the DaCHS peer: its TAP job list URL's origin + `/oai.xml`.
    static var dachsOAI: URL? {
        guard let tap = Peers.dachs, var parts = URLComponents(url: tap, resolvingAgainstBaseURL: false) else { return nil }
        parts.path = "/oai.xml"
        parts.query = nil
        return parts.url
    }

    @Test(.enabled(if: TestPeers.run(dachsOAI != nil), "DaCHS is not running: SKYPORT_TEST_DACHS_URL is unset (bash scripts/peers.sh start dachs)"))
    func harvestsTheRealDaCHSRegistry() async throws {
        let asyncURL = try Peers.requireDaCHS()
        let oai = try #require(Self.dachsOAI)
        try await withRemoteHTTP { http in
            let harvester = OAIHarvester(http: http)
            let records = try await harvester.harvest(baseURL: oai)
            let record = try #require(records.first { $0.header.identifier.lowercased() == "ivo://skyport.test/tap" }, "\(records.map(\.header.identifier))")
            let resource = try #require(record.resource)
            let facility = try RegistryMapping.facility(from: resource, owner: "registry", now: Date()).get()
            #expect(facility.id == FacilityID("ivo://skyport.test/tap"))
            #expect(facility.endpoints == [Endpoint(kind: .uws, url: asyncURL.absoluteString)])
            #expect(facility.accepts == [.tapQuery])
            #expect(facility.limits.duration != nil)
            // The endpoint really is a UWS job list.
            let list = try await http.get(try #require(URL(string: facility.endpoints[0].url)))
            #expect(String(decoding: list.body, as: UTF8.self).contains("http://www.ivoa.net/xml/UWS/v1.0"))
            // The same record by GetRecord, and an incremental harvest that still lists it.
            let one = try await harvester.getRecord(baseURL: oai, identifier: "ivo://skyport.test/tap")
            #expect(one?.resource?.ivoid == FacilityID("ivo://skyport.test/tap"))
            #expect(try await harvester.harvest(baseURL: oai, from: Date(timeIntervalSince1970: 0)).count == records.count)
            #expect(try await harvester.identify(baseURL: oai).repositoryName.isEmpty == false)
        }
    }

    // MARK: A second harvester

    /// The venv's python with sickle (made by `scripts/pyvo_check.sh --install-only`, which the test command runs).
    static var sicklePython: String? {
        let env = ProcessInfo.processInfo.environment
        let venv = env["SKYPORT_PYVO_VENV"] ?? ((env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/skyport/pyvo-venv")
        return FileManager.default.isExecutableFile(atPath: venv + "/bin/python") ? venv + "/bin/python" : nil
    }

    /// What sickle (PyPI) reads from an OAI-PMH endpoint: scripts/sickle_harvest.py, run on a thread of its own.
    static func sickle(_ base: URL) async throws -> [[String: Any]] {
        let python = try TestPeers.require(sicklePython, "the pyvo/sickle venv is absent (scripts/pyvo_check.sh --install-only; the test command does)")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/sickle_harvest.py").standardized.path
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("sickle-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: out) }
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: python)
                    process.arguments = [script, base.absoluteString]
                    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
                    process.standardOutput = try FileHandle(forWritingTo: out)
                    process.standardError = FileHandle.nullDevice
                    try process.run()
                    process.waitUntilExit()
                    return process.terminationStatus
                })
            }
        }
        #expect(status == 0, "sickle_harvest.py failed on \(base)")
        return try #require(JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [[String: Any]])
    }

    /// Skyport's harvester and sickle read the same records from `base`: identifiers, deletions, each resource's
    /// own identifier (compared case-insensitively, as ivoids are) and title.
    static func compareWithSickle(_ base: URL) async throws -> Int {
        let theirs = try await sickle(base)
        let ours = try await withRemoteHTTP { http in try await OAIHarvester(http: http).harvest(baseURL: base) }
        #expect(ours.map(\.header.identifier) == theirs.map { $0["identifier"] as? String ?? "" })
        #expect(ours.map(\.header.isDeleted) == theirs.map { $0["deleted"] as? Bool ?? false })
        for (record, other) in zip(ours, theirs) where !record.header.isDeleted {
            if let id = other["identifier"] as? String { #expect(record.resource?.ivoid == FacilityID(id), "\(record.header.identifier)") }
            if let title = other["title"] as? String { #expect(record.resource?.title == title, "\(record.header.identifier)") }
        }
        return ours.count
    }

    @Test(.enabled(if: TestPeers.run(sicklePython != nil), "the pyvo/sickle venv is absent: run scripts/pyvo_check.sh --install-only (the test command does)"))
    func sickleReadsTheSameRecordsFromTheSamplePages() async throws {
        let (dir, pagePaths) = try Self.fixturePages()
        let server = try await LocalOAIServer(script: "\(Self.peers)/mini_oai_server.py", arguments: pagePaths)
        server.scratch = dir
        defer { server.stop() }
        #expect(try await Self.compareWithSickle(server.baseURL) == 10)
    }

    @Test(.enabled(if: TestPeers.run(sicklePython != nil && dachsOAI != nil), "needs DaCHS (scripts/peers.sh start dachs) and the sickle venv (scripts/pyvo_check.sh --install-only)"))
    func sickleReadsTheSameRecordsFromTheRealDaCHSRegistry() async throws {
        _ = try Peers.requireDaCHS()
        #expect(try await Self.compareWithSickle(try #require(Self.dachsOAI)) > 0)
    }
}

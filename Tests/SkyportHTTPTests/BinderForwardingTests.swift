import AsyncHTTPClient
import Foundation
import HummingbirdTesting
import NIOCore
import SkyportCore
import SkyportRemotes
import SkyportStore
import SkyportTestSupport
import Testing

/// Notebook sessions forwarded to a BinderHub: the stand-in (`Tests/Standins/binderhub_standin.py`, built from
/// `binderhub.md` §5) in the default test command, and a real BinderHub when `SKYPORT_TEST_BINDERHUB_URL` is set.
@Suite(.serialized, .enabled(if: TestPeers.run(BinderRig.available), "git and python3 are needed for the BinderHub tests"))
struct BinderForwardingTests {
    static let hubToken = "hub-service-token-for-tests"

    /// A request for the rig's demo notebook with basket items (three files on the data server, one Rucio DID).
    static func request(
        _ rig: BinderRig, repository: String? = nil, ref: String? = nil, files: [String] = Array(BinderRig.files.keys).sorted(), callback: String? = nil
    ) -> String {
        var software: [String: Any] = [
            "@context": "https://doi.org/10.5063/schema/codemeta-2.0", "name": "demo",
            "codeRepository": repository ?? rig.demoRepository, "keywords": ["jupyter-notebook"], "skyport:path": "analysis.ipynb",
        ]
        if let ref { software["skyport:ref"] = ref }
        var basket: [[String: Any]] = files.map { name in
            var record: [String: Any] = ["url": rig.dataURL(name), "name": name]
            if let content = BinderRig.files[name] { record["size"] = content.utf8.count }
            return ["archive": "astron_vo", "record": record]
        }
        basket.append(["archive": "rucio", "did": "ESCAPE_CTA:events.fits"])
        var doc: [String: Any] = ["software": software, "basket": basket]
        if let callback { doc["callback"] = callback }
        let data = try! JSONSerialization.data(withJSONObject: doc)
        return String(decoding: data, as: UTF8.self)
    }

    static func facility(_ id: String, url: String, launchTimeout: String = "PT2M") -> String {
        FacilityDocuments.json(
            id: id, name: "BinderHub \(id)", kind: "binderhub", url: url, endpoint: ["launchTimeout": launchTimeout], accepts: ["jupyter-notebook"],
            limits: .init(cores: 2, memory: 4, duration: "PT2H"), capacity: (400, 800))
    }

    static func broker(_ rig: BinderRig, hub: String? = nil) async throws -> TestBroker {
        var credentials: String?
        if let hub {
            let file = rig.root.appending(path: "credentials.json")
            try Data(#"{"\#(hub)": {"token": "\#(hubToken)", "scheme": "token"}}"#.utf8).write(to: file)
            credentials = file.path
        }
        var broker = try await TestBroker(withServices: true, credentialsFile: credentials)
        broker.config.stagingRemote = rig.stagingPush
        broker.config.stagingDirectory = rig.workDirectory
        return broker
    }

    /// Asks, accepts the offer of `facility`, and returns the session's path.
    static func launch(_ client: any TestClientProtocol, facility: String, request: String) async throws -> String {
        let answer = try await client.request(json: request)
        let offer = try #require(
            offers(answer.body).first { ($0["facility"] as? [String: Any])?["id"] as? String == facility }, "no offer from \(facility): \(answer.body)")
        let path = try #require(URL(string: sessionURL(offer))?.path)
        #expect(try await client.setPhase(path, "ACCEPTED").status == .ok)
        return path
    }

    /// Follows a session until its phase is one of `phases` (or its progress phase is `progress`); also returns the
    /// progress phases seen on the way.
    static func follow(
        _ client: any TestClientProtocol, _ path: String, until phases: Set<String>, orProgress progress: String? = nil,
        timeout: Duration = .seconds(60)
    ) async throws -> (session: [String: Any], progress: [String]) {
        let deadline = ContinuousClock.now + timeout
        var seen: [String] = []
        while ContinuousClock.now < deadline {
            let session = try await client.send(.get, path).json()
            if let phase = (session["progress"] as? [String: Any])?["phase"] as? String, seen.last != phase { seen.append(phase) }
            if phases.contains(session["phase"] as? String ?? "") || (progress != nil && seen.last == progress) { return (session, seen) }
            try await Task.sleep(for: .milliseconds(50))
        }
        let last = try await client.send(.get, path).json()
        Issue.record("session \(path) is still \(last["phase"] ?? "?") after \(timeout): \(last)")
        return (last, seen)
    }

    /// POSTs nothing to `url` (a stand-in's control hook); its status.
    static func post(_ url: String) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        return Int(try await HTTPClient.shared.execute(request, timeout: .seconds(60)).status.code)
    }

    static func get(_ url: String, headers: [(String, String)] = []) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: url)
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 8 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    static func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }

    // MARK: - Against the stand-in

    @Test func aNotebookIsStagedLaunchedOpenedAndTrackedToItsEnd() async throws {
        // The stand-in holds a fresh launch's stream open long after ready (far longer than the test waits below), and
        // holds the launch after its 'launching' event until the test has seen that progress.
        let rig = try await BinderRig.make(standin: [
            "--keepalive", "1", "--hold-after-ready", "600", "--launch-delay", "1", "--hub-token", Self.hubToken, "--hold-launching",
        ])
        defer { rig.stop() }
        let binder = try #require(rig.binderURL)
        let broker = try await Self.broker(rig, hub: binder + "/")
        try await broker.run { client in
            #expect(try await client.send(.post, "/facilities", json: Self.facility("standin", url: binder), token: TestBroker.aliceToken).status == .created)
            let path = try await Self.launch(client, facility: "standin", request: Self.request(rig))
            // Build progress is visible while it happens: the launch waits, after its 'launching' event, for this.
            let (_, before) = try await Self.follow(client, path, until: ["AVAILABLE", "FAILED"], orProgress: "launching")
            #expect(before.last == "launching", "progress seen: \(before)")
            #expect(try await Self.post(binder + "/_standin/release") == 204)
            let (session, _) = try await Self.follow(client, path, until: ["AVAILABLE", "FAILED"])
            #expect(session["phase"] as? String == "AVAILABLE", "\(session)")

            // The user's link: server URL + notebook path + token. The server takes the token and refuses without it.
            let connector = try #require((session["connectors"] as? [[String: Any]])?.first)
            let location = try #require(connector["location"] as? String)
            #expect(connector["kind"] as? String == "urn:skyport:connector:jupyter-notebook")
            let parts = try #require(location.range(of: "lab/tree/analysis.ipynb?token="))
            let server = String(location[..<parts.lowerBound])
            let token = String(location[parts.upperBound...])
            #expect(try await Self.get(server + "api/status?token=" + token).0 == 200)
            #expect(try await Self.get(server + "api/status").0 == 403)
            #expect((session["results"] as? [[String: Any]])?.first?["href"] as? String == location)

            // The basket is inside the server, with the manifest; the repository's own postBuild still ran.
            let (_, listing) = try await Self.get(server + "api/contents/data", headers: [("Authorization", "token \(token)")])
            let names = Set(((Self.json(listing)["content"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String })
            #expect(names == Set(BinderRig.files.keys).union(["skyport-manifest.json"]), "\(listing)")
            let (_, a) = try await Self.get(server + "api/contents/data/a.txt?token=" + token)
            #expect(Self.json(a)["content"] as? String == BinderRig.files["a.txt"])
            let (_, manifestDoc) = try await Self.get(server + "api/contents/data/skyport-manifest.json?token=" + token)
            let manifest = Self.json(Self.json(manifestDoc)["content"] as? String ?? "")
            #expect((manifest["staged"] as? [Any])?.count == 3)
            #expect(((manifest["rucio"] as? [[String: Any]])?.first?["did"] as? String) == "ESCAPE_CTA:events.fits")
            #expect(try await Self.get(server + "api/contents/built-by-original.txt?token=" + token).0 == 200)

            // The token is not in the store in clear; nothing is left behind in staging.
            let id = try #require(UUID(uuidString: String(path.split(separator: "/").last ?? "")))
            let stored = try #require(try await broker.store.session(id))
            #expect(!String(decoding: try JSONEncoder().encode(stored), as: UTF8.self).contains(token))
            #expect(try await rig.stagingBranchesGone())
            #expect(rig.clonesLeft().isEmpty)
            // Skyport hung up on ready itself (the stand-in would hold the stream open for 600 s); the stand-in sees
            // the hang-up when its next keepalive write fails, so its count is polled until it settles.
            var stats = ""
            let hungUp = try await eventually {
                stats = try await Self.get(binder + "/_standin/stats").1
                return Self.json(stats)["open_streams"] as? Int == 0
            }
            #expect(hungUp, "\(stats)")

            // The server is culled when idle: the session completes (not FAILED).
            let user = try #require(server.split(separator: "/").last)
            var cull = HTTPClientRequest(url: binder + "/_standin/cull/\(user)")
            cull.method = .POST
            _ = try await HTTPClient.shared.execute(cull, timeout: .seconds(60))
            let (ended, _) = try await Self.follow(client, path, until: ["COMPLETED", "EXPIRED", "FAILED"])
            #expect(ended["phase"] as? String == "COMPLETED", "\(ended)")
        }
    }

    @Test func aCancelledSessionStopsItsServerThroughTheHub() async throws {
        let rig = try await BinderRig.make(standin: ["--keepalive", "1", "--hold-after-ready", "0", "--launch-delay", "0.2", "--hub-token", Self.hubToken])
        defer { rig.stop() }
        let binder = try #require(rig.binderURL)
        try await Self.broker(rig, hub: binder + "/").run { client in
            _ = try await client.send(.post, "/facilities", json: Self.facility("standin", url: binder), token: TestBroker.aliceToken)
            let path = try await Self.launch(client, facility: "standin", request: Self.request(rig, files: ["a.txt"]))
            let (session, _) = try await Self.follow(client, path, until: ["AVAILABLE", "FAILED"])
            let location = try #require((session["connectors"] as? [[String: Any]])?.first?["location"] as? String)
            let server = String(location[..<location.range(of: "lab/tree")!.lowerBound])
            let token = String(location[location.range(of: "token=")!.upperBound...])
            #expect(try await client.setPhase(path, "CANCELLED").status == .ok)
            var code = 200
            _ = try await eventually {
                code = try await Self.get(server + "api/status?token=" + token).0
                return code != 200
            }
            #expect(code == 404, "the server still answers after the cancel")
            let after = try await client.send(.get, path).json()
            #expect(after["phase"] as? String == "CANCELLED")
            #expect((after["message"] as? String)?.contains("stopped") == true, "\(after)")
        }
    }

    @Test func aBusyBinderHubIsAskedAgainLaterAndTheCallbackHearsOfTheServer() async throws {
        let rig = try await BinderRig.make(standin: ["--keepalive", "1", "--hold-after-ready", "0", "--launch-delay", "0.2", "--total-quota", "1"])
        defer { rig.stop() }
        let binder = try #require(rig.binderURL)
        var broker = try await Self.broker(rig)
        broker.config.binderBusyDelay = 1
        try await broker.run { client in
            _ = try await client.send(.post, "/facilities", json: Self.facility("standin", url: binder), token: TestBroker.aliceToken)
            let first = try await Self.launch(client, facility: "standin", request: Self.request(rig, files: ["a.txt"], callback: rig.callbackURL))
            let (a, _) = try await Self.follow(client, first, until: ["AVAILABLE", "FAILED"])
            #expect(a["phase"] as? String == "AVAILABLE")
            // The callback heard that the server is up (once).
            #expect(await eventually { !rig.callbacks().isEmpty })
            #expect(rig.callbacks().map { $0["phase"] as? String } == ["AVAILABLE"], "\(rig.callbacks())")

            // The quota is full: the second launch waits, saying why, and is asked again.
            let second = try await Self.launch(client, facility: "standin", request: Self.request(rig, files: ["a.txt"]))
            var waiting: [String: Any] = [:]
            _ = try await eventually {
                waiting = try await client.send(.get, second).json()
                return (waiting["message"] as? String ?? "").contains("busy")
            }
            #expect((waiting["message"] as? String ?? "").contains("Too many users on this BinderHub"), "\(waiting)")
            #expect(waiting["phase"] as? String == "PREPARING")
            // The first server ends; the second launch gets its turn.
            let location = try #require((a["connectors"] as? [[String: Any]])?.first?["location"] as? String)
            let user = try #require(location.components(separatedBy: "/user/").last?.split(separator: "/").first)
            var cull = HTTPClientRequest(url: binder + "/_standin/cull/\(user)")
            cull.method = .POST
            _ = try await HTTPClient.shared.execute(cull, timeout: .seconds(60))
            let (b, _) = try await Self.follow(client, second, until: ["AVAILABLE", "FAILED"])
            #expect(b["phase"] as? String == "AVAILABLE", "\(b)")
        }
    }

    @Test func aLaunchInterruptedByARestartIsResumed() async throws {
        let rig = try await BinderRig.make(standin: ["--keepalive", "1", "--hold-after-ready", "0", "--launch-delay", "4"])
        defer { rig.stop() }
        let binder = try #require(rig.binderURL)
        let db = rig.root.appending(path: "restart.sqlite").path
        var before = try await TestBroker(store: try SQLiteStore(path: db), withServices: true)
        before.config.stagingRemote = rig.stagingPush
        before.config.stagingDirectory = rig.workDirectory
        let path = try await before.run { client in
            _ = try await client.send(.post, "/facilities", json: Self.facility("standin", url: binder), token: TestBroker.aliceToken)
            let path = try await Self.launch(client, facility: "standin", request: Self.request(rig))
            // Stop while the server is being started (the build is done, the spawn takes 4 s).
            let (s, _) = try await Self.follow(client, path, until: ["PREPARING"])
            var progress = s["progress"] as? [String: Any]
            _ = try await eventually(every: .milliseconds(50)) {
                if progress?["phase"] as? String == "launching" { return true }
                progress = try await client.send(.get, path).json()["progress"] as? [String: Any]
                return progress?["phase"] as? String == "launching"
            }
            #expect(progress?["phase"] as? String == "launching")
            return path
        }
        var after = try await TestBroker(store: try SQLiteStore(path: db), withServices: true)
        after.config.stagingRemote = rig.stagingPush
        after.config.stagingDirectory = rig.workDirectory
        try await after.run { client in
            let (session, _) = try await Self.follow(client, path, until: ["AVAILABLE", "FAILED"])
            #expect(session["phase"] as? String == "AVAILABLE", "\(session)")
            let location = try #require((session["connectors"] as? [[String: Any]])?.first?["location"] as? String)
            let split = try #require(location.range(of: "lab/tree/analysis.ipynb?token="))
            let (_, listing) = try await Self.get(String(location[..<split.lowerBound]) + "api/contents/data?token=" + String(location[split.upperBound...]))
            #expect(listing.contains("a.txt"))
        }
        #expect(try await rig.stagingBranchesGone())
    }

    @Test func theUWSFaceEndsWithTheNotebookLinkAmongTheResults() async throws {
        let rig = try await BinderRig.make(standin: ["--keepalive", "1", "--hold-after-ready", "0", "--launch-delay", "0.2"])
        defer { rig.stop() }
        let binder = try #require(rig.binderURL)
        try await Self.broker(rig).run { client in
            _ = try await client.send(.post, "/facilities", json: Self.facility("standin", url: binder), token: TestBroker.aliceToken)
            let doc = Self.json(Self.request(rig))
            let software = String(decoding: try JSONSerialization.data(withJSONObject: doc["software"]!), as: UTF8.self)
            let basket = String(decoding: try JSONSerialization.data(withJSONObject: doc["basket"]!), as: UTF8.self)
            let job = try await client.createJob([("software", software), ("basket", basket), ("PHASE", "RUN")])
            var state = try await client.jobJSON(job)
            _ = try await eventually(every: .milliseconds(200)) {
                state = try await client.jobJSON(job)
                return state.phase == .executing || state.phase.isFinal
            }
            #expect(state.phase == .executing, "\(state)")
            let notebook = try #require(state.results.first { $0.id == "notebook" }, "\(state.results)")
            #expect(notebook.href.hasPrefix(binder + "/user/") && notebook.href.contains("?token="))
            #expect(try await Self.get(notebook.href.replacingOccurrences(of: "lab/tree/analysis.ipynb", with: "api/status")).0 == 200)
            let xml = try await client.jobText(job, "results")
            #expect(xml.contains(#"id="notebook""#))
        }
    }

    @Test func badInputEndsFailedWithTheFacilitysMessageAndLeavesNothingBehind() async throws {
        let rig = try await BinderRig.make(standin: ["--keepalive", "1", "--hold-after-ready", "0", "--launch-delay", "0.2"])
        defer { rig.stop() }
        let never = try await BinderRig.make(standin: ["--keepalive", "1", "--never-ready"])
        defer { never.stop() }
        let limited = try await BinderRig.make(standin: ["--keepalive", "1", "--hold-after-ready", "0", "--rate-limit", "1"])
        defer { limited.stop() }
        let binder = try #require(rig.binderURL)
        let down = "http://127.0.0.1:\(try BinderRig.freePort())"
        try await Self.broker(rig).run { client in
            for (id, url, timeout) in [("standin", binder, "PT2M"), ("down", down, "PT2M"), ("never", never.binderURL!, "PT4S"), ("limited", limited.binderURL!, "PT2M")] {
                #expect(try await client.send(.post, "/facilities", json: Self.facility(id, url: url, launchTimeout: timeout), token: TestBroker.aliceToken).status == .created)
            }
            let cases: [(facility: String, request: String, expect: String)] = [
                ("standin", Self.request(rig, repository: "git://127.0.0.1:\(rig.gitPort)/no-such-repo.git"), "no-such-repo.git"),
                ("standin", Self.request(rig, ref: "no-such-branch"), "'no-such-branch' does not resolve"),
                ("standin", Self.request(rig, files: ["a.txt", "missing.fits"]), "basket item 'missing.fits'"),
                ("down", Self.request(rig, files: ["a.txt"]), "could not be reached"),
                ("never", Self.request(rig, files: ["a.txt"]), "did not reach ready within PT4S"),
            ]
            var paths: [(String, String)] = []
            for c in cases { paths.append((try await Self.launch(client, facility: c.facility, request: c.request), c.expect)) }
            for (path, expected) in paths {
                let (session, _) = try await Self.follow(client, path, until: ["FAILED", "AVAILABLE", "COMPLETED"], timeout: .seconds(60))
                print("bad input → \(session["phase"] ?? "?"): \(session["message"] ?? "no message")")
                #expect(session["phase"] as? String == "FAILED", "\(expected): \(session)")
                #expect((session["message"] as? String ?? "").contains(expected), "\(session["message"] ?? "no message")")
            }
            // A rate-limited BinderHub: the first launch takes the hour's only slot, the second is refused
            // with 429 and, since the hour is longer than the launch may wait, fails saying so.
            let first = try await Self.launch(client, facility: "limited", request: Self.request(limited, files: ["a.txt"]))
            #expect(try await Self.follow(client, first, until: ["AVAILABLE", "FAILED"]).session["phase"] as? String == "AVAILABLE")
            let second = try await Self.launch(client, facility: "limited", request: Self.request(limited, files: ["a.txt"]))
            let refused = try await Self.follow(client, second, until: ["AVAILABLE", "FAILED"]).session
            print("bad input → \(refused["phase"] ?? "?"): \(refused["message"] ?? "no message")")
            #expect(refused["phase"] as? String == "FAILED")
            #expect((refused["message"] as? String ?? "").contains("Rate limit exceeded"), "\(refused)")
            #expect(try await rig.stagingBranchesGone())
            #expect(rig.clonesLeft().isEmpty)
        }
    }

    // MARK: - Against a real BinderHub

    static let realBinder: String? = {
        let env = ProcessInfo.processInfo.environment
        guard let url = env["SKYPORT_TEST_BINDERHUB_URL"], !url.isEmpty else {
            print("NOT RUN: the real-BinderHub test — SKYPORT_TEST_BINDERHUB_URL is unset (set SKYPORT_TEST_BINDERHUB_SRC for scripts/test.sh to start one)")
            return nil
        }
        return url
    }()

    /// `../shared/peers/start-binderhub.sh SRC local`: a real BinderHub and JupyterHub on loopback. A real repository
    /// with staged basket data is launched; the returned URL is opened with its token and the files are inside.
    @Test(.enabled(if: realBinder != nil, "no real BinderHub: set SKYPORT_TEST_BINDERHUB_SRC for scripts/test.sh"))
    func aRealBinderHubLaunchesTheRepositoryWithItsStagedBasket() async throws {
        let env = ProcessInfo.processInfo.environment
        let binder = try #require(Self.realBinder)
        let hub = env["SKYPORT_TEST_JUPYTERHUB_URL"] ?? "http://127.0.0.1:18000/"
        let rig = try await BinderRig.make()
        defer { rig.stop() }
        let file = rig.root.appending(path: "credentials.json")
        try Data(#"{"\#(hub)": {"token": "\#(env["SKYPORT_TEST_JUPYTERHUB_TOKEN"] ?? "")", "scheme": "token"}}"#.utf8).write(to: file)
        var broker = try await TestBroker(withServices: true, credentialsFile: file.path)
        broker.config.stagingRemote = rig.stagingPush
        broker.config.stagingDirectory = rig.workDirectory
        try await broker.run { client in
            #expect(try await client.send(.post, "/facilities", json: Self.facility("real-binderhub", url: binder, launchTimeout: "PT3M"), token: TestBroker.aliceToken).status == .created)
            let started = ContinuousClock.now
            let path = try await Self.launch(client, facility: "real-binderhub", request: Self.request(rig))
            let (session, progress) = try await Self.follow(client, path, until: ["AVAILABLE", "FAILED"], timeout: .seconds(180))
            print("real BinderHub: \(session["phase"] ?? "?") after \(ContinuousClock.now - started); progress phases seen: \(progress)")
            #expect(session["phase"] as? String == "AVAILABLE", "\(session)")
            let location = try #require((session["connectors"] as? [[String: Any]])?.first?["location"] as? String)
            let split = try #require(location.range(of: "lab/tree/analysis.ipynb?token="))
            let server = String(location[..<split.lowerBound]), token = String(location[split.upperBound...])
            #expect(server.hasPrefix(hub + "user/"))
            #expect(try await Self.get(server + "api/status?token=" + token).0 == 200)
            #expect(try await Self.get(server + "api/status").0 == 403)
            let (_, listing) = try await Self.get(server + "api/contents/data?token=" + token)
            let names = Set(((Self.json(listing)["content"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String })
            print("real BinderHub: data/ in the running server holds \(names.sorted())")
            #expect(names == Set(BinderRig.files.keys).union(["skyport-manifest.json"]), "\(listing)")
            let (_, a) = try await Self.get(server + "api/contents/data/a.txt?token=" + token)
            #expect(Self.json(a)["content"] as? String == BinderRig.files["a.txt"])
            #expect(try await rig.stagingBranchesGone())
            #expect(rig.clonesLeft().isEmpty)
            // Cancelling stops the server through the JupyterHub API.
            #expect(try await client.setPhase(path, "CANCELLED").status == .ok)
            var code = 200
            _ = try await eventually(every: .milliseconds(250)) {
                code = try await Self.get(server + "api/status?token=" + token).0
                return code != 200
            }
            print("real BinderHub: after CANCELLED the server answers HTTP \(code)")
            #expect(code != 200)
        }
    }
}

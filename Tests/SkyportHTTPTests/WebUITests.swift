import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
@testable import SkyportHTTP
import SkyportBroker
import SkyportCore
import SkyportRemotes
import SkyportStore
import SkyportTestSupport
import Testing

/// The web interface (`/ui`, specs/web-ui.md) through the live server, as a browser without JavaScript uses it: its
/// cookies kept, its forms posted with the CSRF token the page carries. (The same pages in a real browser, with the
/// live updates, accessibility and HTML checks: scripts/ui-check.sh.)
@Suite struct WebUITests {
    @Test func askShowsOffersAndReasonsThenAcceptingLeadsToTheSession() async throws {
        try await TestBroker().run { client in
            try await Self.register(client, facilityJSON(id: "tap-one", name: "TAP one"))
            try await Self.register(client, Self.notebookFacility("nb-one"), token: TestBroker.bobToken)
            var browser = Browser(client)
            // A browser opening the broker's address lands on the Ask page.
            let root = try await client.send(.get, "/", headers: [.accept: "text/html,application/xhtml+xml"])
            #expect(root.status == .seeOther && root.headers[.location] == "/ui/")
            #expect(try await client.send(.get, "/").status == .notFound)
            // The first page sets the browser's cookie: HttpOnly, Secure, SameSite=Lax, and __Host- (no other host sets it).
            let ask = try await browser.get("/ui")
            #expect(ask.status == .ok)
            let cookie = try #require(ask.headers[.setCookie])
            #expect(cookie.hasPrefix("__Host-skyport_browser=") && cookie.contains("Path=/;") && cookie.contains("HttpOnly")
                && cookie.contains("Secure") && cookie.contains("SameSite=Lax"))
            #expect(ask.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("script-src 'self'") == true)
            #expect(ask.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("unsafe-inline") == false)

            let asked = try await browser.post("/ui/ask", ["tap_query": "SELECT TOP 1 * FROM ivoa.obscore", "cores_min": "1"], from: ask)
            #expect(asked.status == .seeOther)
            let offers = try await browser.get(try #require(asked.headers[.location]))
            #expect(offers.text.contains(#"<li class="offer" data-facility="tap-one""#))
            #expect(offers.text.contains(#"data-reason="kind-not-accepted""#))
            #expect(offers.text.contains(#"<li class="rejected" data-facility="nb-one">"#))
            #expect(offers.text.contains("Does not run this kind of software"))
            #expect(offers.text.contains("tap-query: SELECT TOP 1 * FROM ivoa.obscore"))

            let action = try #require(Browser.firstMatch(#"action="(/ui/sessions/[0-9a-f-]+/phase)""#, in: offers.text))
            let accepted = try await browser.post(action, ["phase": "ACCEPTED"], from: offers)
            #expect(accepted.status == .seeOther)
            let session = try await browser.get(try #require(accepted.headers[.location]))
            #expect(session.text.contains(#"<dd id="phase" aria-live="polite">ACCEPTED</dd>"#))
            #expect(session.text.contains(#"data-events="/ui/sessions/"#))

            // My work lists it for this browser, by phase; another browser sees nothing.
            #expect(try await browser.get("/ui/mine").text.contains(#"<tr class="session" data-phase="ACCEPTED">"#))
            #expect(try await browser.get("/ui/mine?phase=COMPLETED").text.contains(#"id="none""#))
            var other = Browser(client)
            #expect(try await other.get("/ui/mine").text.contains(#"id="none""#))
            #expect(try await browser.get("/ui/mine?phase=SOON").status == .badRequest)
        }
    }

    @Test func aFormWithoutThisBrowsersTokenOrFromAnotherSiteIsRefused() async throws {
        try await TestBroker().run { client in
            var browser = Browser(client)
            let page = try await browser.get("/ui/")
            var stranger = Browser(client)
            let theirs = try await stranger.get("/ui/")
            // No token, another browser's token, another site's page: 403, and nothing is asked.
            #expect(try await browser.post("/ui/ask", ["tap_query": "SELECT 1"], csrf: "").status == .forbidden)
            #expect(try await browser.post("/ui/ask", ["tap_query": "SELECT 1"], from: theirs).status == .forbidden)
            let forged = try await browser.post("/ui/ask", ["tap_query": "SELECT 1"], from: page, headers: [.origin: "https://evil.example"])
            #expect(forged.status == .forbidden)
            #expect(forged.text.contains(#"data-code="csrf-mismatch""#))
            #expect(try await browser.post("/ui/ask", ["tap_query": "SELECT 1"], from: page).status == .seeOther)
        }
    }

    @Test func badInputIsShownBesideItsFieldWithWhatWasTyped() async throws {
        try await TestBroker().run { client in
            var browser = Browser(client)
            let page = try await browser.get("/ui/")
            let cases: [([String: String], String)] = [
                ([:], "what"),
                (["tap_query": "SELECT 1", "cores_min": "many"], "cores_min"),
                (["codemeta": "{not json"], "codemeta"),
                (["tap_query": "SELECT 1", "start": "tomorrow"], "start"),
                (["tap_query": "SELECT 1", "basket": "[{"], "basket"),
                (["tap_query": "SELECT 1", "repository": "https://example.org/r"], "tap_query"),
                // A private address is refused where it enters, and never called.
                (["codemeta_url": "http://10.0.0.1/codemeta.json"], "codemeta_url"),
            ]
            for (fields, field) in cases {
                let answer = try await browser.post("/ui/ask", fields, from: page)
                #expect(answer.status == .badRequest, "\(fields)")
                #expect(answer.text.contains(#"<li data-field="\#(field)">"#), "\(fields): \(answer.text.prefix(3000))")
            }
            // What the form gets right but the request cannot be (more cores at least than at most) is answered as the
            // API answers it: an offer set with no offers, saying why.
            let refused = try await browser.post("/ui/ask", ["tap_query": "SELECT 1", "cores_min": "8", "cores_max": "2"], from: page)
            #expect(refused.status == .seeOther)
            let none = try await browser.get(try #require(refused.headers[.location]))
            #expect(none.text.contains(#"id="no-offers""#))
            #expect(none.text.contains("min 8 is greater than max 2"), "\(none.text)")
            let kept = try await browser.post("/ui/ask", ["tap_query": "SELECT <b>", "cores_min": "many"], from: page)
            #expect(kept.text.contains("SELECT &lt;b&gt;</textarea>"))
        }
    }

    @Test func anUploadedCodemetaFileIsWhatRuns() async throws {
        try await TestBroker().run { client in
            try await Self.register(client, Self.notebookFacility("nb-two"))
            var browser = Browser(client)
            let page = try await browser.get("/ui/")
            let codemeta = #"{"@type": "SoftwareSourceCode", "name": "galaxy-fit", "codeRepository": "https://github.com/example/galaxy-fit", "keywords": ["jupyter-notebook"]}"#
            let boundary = "skyport-test-boundary"
            var body = ""
            for (name, value) in [("csrf", try #require(Browser.csrf(in: page.text))), ("codemeta", ""), ("memory_min", "2")] {
                body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
            }
            body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"codemeta_file\"; filename=\"codemeta.json\"\r\n"
                + "Content-Type: application/json\r\n\r\n\(codemeta)\r\n--\(boundary)--\r\n"
            let asked = try await browser.send(
                .post, "/ui/ask", body: body, headers: [.contentType: "multipart/form-data; boundary=\(boundary)"])
            #expect(asked.status == .seeOther, "\(asked.text.prefix(2000))")
            let offers = try await browser.get(try #require(asked.headers[.location]))
            #expect(offers.text.contains(#"data-facility="nb-two""#))
            #expect(offers.text.contains("galaxy-fit"))
            #expect(offers.text.contains("memory ≥ 2 GiB"))
        }
    }

    @Test func aCodemetaGivenByURLIsFetchedThroughTheEgressGateFollowingItsRedirects() async throws {
        try await withStubHTTPServer { repository in
            let codemeta = #"{"name": "sky-survey-notebook", "codeRepository": "https://github.com/example/survey", "keywords": ["jupyter-notebook"]}"#
            repository.route("/raw/codemeta.json", StubResponse(status: 302, headers: [("Location", "/files/codemeta.json")]))
            repository.route("/files/codemeta.json", StubResponse(headers: [("Content-Type", "application/json")], body: Data(codemeta.utf8)))
            repository.route("/missing.json", StubResponse(status: 404))
            try await TestBroker().run { client in
                try await Self.register(client, Self.notebookFacility("nb-url"))
                var browser = Browser(client)
                let page = try await browser.get("/ui/")
                let asked = try await browser.post("/ui/ask", ["codemeta_url": repository.url("/raw/codemeta.json").absoluteString], from: page)
                #expect(asked.status == .seeOther, "\(asked.text.suffix(2000))")
                let offers = try await browser.get(try #require(asked.headers[.location]))
                #expect(offers.text.contains("sky-survey-notebook") && offers.text.contains(#"data-facility="nb-url""#))
                #expect(repository.hits("/files/codemeta.json") == 1)
                // A URL that answers with an error is the field's error, saying what the server answered.
                let missing = try await browser.post("/ui/ask", ["codemeta_url": repository.url("/missing.json").absoluteString], from: page)
                #expect(missing.status == .badRequest)
                #expect(missing.text.contains(#"<li data-field="codemeta_url">"#), "\(missing.text.suffix(2000))")
            }
        }
    }

    @Test func anOperatorEditsTheirFacilityAndSeesErrorsBesideTheFields() async throws {
        try await TestBroker().run { client in
            try await Self.register(client, facilityJSON(id: "tap-edit", name: "Before"))
            var browser = Browser(client)
            // Not signed in: the edit page sends the browser to sign in.
            let anonymous = try await browser.get("/ui/facilities/tap-edit/edit")
            #expect(anonymous.status == .seeOther)
            #expect(anonymous.headers[.location]?.hasPrefix("/ui/signin?next=") == true)
            let signin = try await browser.get("/ui/signin")
            #expect(try await browser.post("/ui/signin", ["token": "skp_nobody"], from: signin).status == .unauthorized)
            let signed = try await browser.post("/ui/signin", ["token": TestBroker.aliceToken, "next": "/ui/facilities/tap-edit"], from: signin)
            #expect(signed.status == .seeOther)
            #expect(signed.headers[.location] == "/ui/facilities/tap-edit")
            #expect(signed.headers[.setCookie]?.hasPrefix("__Host-skyport_auth=") == true)
            // The API never takes the cookie for a token; the cookie is this browser's only, and only for eight hours.
            #expect(try await browser.send(.delete, "/facilities/tap-edit").status == .unauthorized)
            var thief = Browser(client)
            _ = try await thief.get("/ui/")
            thief.cookies[WebSecurity.authCookie] = browser.cookies[WebSecurity.authCookie]
            #expect(try await thief.get("/ui/facilities/tap-edit/edit").status == .seeOther)
            let security = WebSecurity(sealer: SecretBox.ephemeral())
            let old = try #require(try security.authCookieValue(token: "t", browser: String(repeating: "a", count: 32), now: Date(timeIntervalSinceNow: -9 * 3600)))
            let request = Request(
                head: HTTPRequest(method: .get, scheme: "http", authority: "h", path: "/ui/", headerFields: [
                    .cookie: "\(WebSecurity.browserCookie)=\(String(repeating: "a", count: 32)); \(WebSecurity.authCookie)=\(old)",
                ]), body: .init(buffer: ByteBuffer()))
            #expect(security.bearerToken(request, now: Date()) == nil)
            #expect(security.bearerToken(request, now: Date(timeIntervalSinceNow: -8 * 3600)) == "t")

            let facility = try await browser.get("/ui/facilities/tap-edit")
            #expect(facility.text.contains(#"<a id="edit" href="/ui/facilities/tap-edit/edit">"#))
            #expect(facility.text.contains(#"<svg id="capacity""#))
            let edit = try await browser.get("/ui/facilities/tap-edit/edit")
            let yaml = try #require(Browser.firstMatch(#"(?s)<textarea id="facility-yaml"[^>]*>(.*?)</textarea>"#, in: edit.text))
                .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
            #expect(yaml.contains("name: Before"))

            let brokenYAML = yaml.replacingOccurrences(of: "limits:", with: "limits:\n  cores: -3\nx_limits:")
            let broken = try await browser.post("/ui/facilities/tap-edit/edit", ["yaml": brokenYAML], from: edit)
            #expect(broken.status == .badRequest)
            // Beside the editor, each error with the line of the YAML it is about.
            let line = try #require(brokenYAML.split(separator: "\n", omittingEmptySubsequences: false).firstIndex(of: "  cores: -3")) + 1
            #expect(broken.text.contains(#"<li data-field="limits.cores" data-line="\#(line)"><span class="line">line \#(line)</span>"#), "\(broken.text.suffix(2500))")
            #expect(broken.text.contains("cores: -3"))
            let notYAML = try await browser.post("/ui/facilities/tap-edit/edit", ["yaml": "name: [unclosed"], from: edit)
            #expect(notYAML.text.contains(#"<li data-field="yaml">"#))

            let saved = try await browser.post("/ui/facilities/tap-edit/edit", ["yaml": yaml.replacingOccurrences(of: "name: Before", with: "name: After")], from: edit)
            #expect(saved.status == .seeOther)
            #expect(try await browser.get("/ui/facilities/tap-edit").text.contains("<h1>After</h1>"))

            // Draining, then bob (another operator) may not.
            #expect(try await browser.post("/ui/facilities/tap-edit/status", ["status": "draining"], from: facility).status == .seeOther)
            #expect(try await client.send(.get, "/facilities/tap-edit").json()["status"] as? String == "draining")
            var bob = Browser(client)
            let bobSignin = try await bob.get("/ui/signin")
            _ = try await bob.post("/ui/signin", ["token": TestBroker.bobToken], from: bobSignin)
            #expect(try await bob.get("/ui/facilities/tap-edit/edit").status == .forbidden)
            #expect(!(try await bob.get("/ui/facilities/tap-edit").text.contains(#"id="edit""#)))
        }
    }

    @Test func theCatalogueFiltersAndPagesAThousandFacilitiesUnder100KB() async throws {
        let store = InMemoryStore()
        let now = Date()
        for i in 0..<1000 {
            let kinds: [ExecutableKind] = i % 3 == 0 ? [.jupyterNotebook] : [.tapQuery]
            try await store.insertFacility(Facility(
                id: FacilityID(String(format: "site-%04d", i)), name: "Site \(i) <Observatory>", description: "A facility",
                status: i % 10 == 0 ? .draining : .active, endpoints: [Endpoint(kind: .uws, url: "https://site\(i).example.org/tap/async")],
                accepts: kinds, capacity: FacilityCapacity(cores: 64), owner: "alice", created: now, modified: now))
        }
        try await TestBroker(store: store).run { client in
            var browser = Browser(client)
            let first = try await browser.get("/ui/facilities")
            #expect(first.body.readableBytes < 100_000)
            #expect(first.text.components(separatedBy: #"<tr class="facility""#).count - 1 == 50)
            #expect(first.text.contains("1000 of 1000 facilities; page 1 of 20."))
            #expect(first.text.contains("Site 0 &lt;Observatory&gt;"))
            let filtered = try await browser.get("/ui/facilities?kind=jupyter-notebook&status=draining&page=2")
            // Every 30th is a draining notebook facility: 34, on one page.
            #expect(filtered.text.contains("34 of 1000 facilities; page 1 of 1."))
            #expect(try await browser.get("/ui/facilities?q=site-0999").text.contains(#"data-facility="site-0999""#))
            #expect(try await browser.get("/ui/facilities?status=sleeping").status == .badRequest)
            #expect(try await browser.get("/ui/facilities?page=last").status == .badRequest)
            let page = try await browser.get("/ui/facilities/site-0042")
            #expect(page.body.readableBytes < 100_000)
            #expect(page.text.contains("capacity 64 cores"))
        }
    }

    @Test func aFacilityPageShowsWhatHoldsItAndItsHealthHistory() async throws {
        try await TestBroker().run { client in
            try await Self.register(client, facilityJSON(id: "tap-held"))
            _ = try await client.send(.post, "/requests", json: #"{"executable": {"kind": "tap-query", "query": "SELECT 1"}, "compute": {"cores": {"min": 3}}}"#)
            var browser = Browser(client)
            let anonymous = try await browser.get("/ui/facilities/tap-held")
            #expect(anonymous.text.contains("2 session(s) hold capacity here in this window (operators see them one by one)."))
            #expect(anonymous.text.contains("at most 3 of 16"))
            // Only operators are shown the sessions one by one, with their links (a session's UUID is all it takes to
            // act on it in open mode).
            #expect(!anonymous.text.contains("<td>OFFERED</td>") && !anonymous.text.contains(#"<a href="/ui/sessions/"#))
            let signin = try await browser.get("/ui/signin")
            _ = try await browser.post("/ui/signin", ["token": TestBroker.aliceToken], from: signin)
            #expect(try await browser.get("/ui/facilities/tap-held").text.contains(#"<td><a href="/ui/sessions/"#))
            let svg = try await browser.get("/ui/facilities/tap-held/capacity.svg?hours=12")
            #expect(svg.headers[.contentType] == "image/svg+xml")
            #expect(svg.text.hasPrefix("<svg id=\"capacity\""))
            #expect(try await browser.get("/ui/facilities/tap-held/capacity.svg?hours=9999").status == .badRequest)
        }
    }

    /// A busy facility's holds are listed a page at a time: every hold on one of the pages, once, and each page small.
    @Test func aFacilityPageListsWhatHoldsItAPageAtATime() async throws {
        try await TestBroker().run { client in
            try await Self.register(client, facilityJSON(id: "tap-busy"))
            let request = #"{"executable": {"kind": "tap-query", "query": "SELECT 1"}, "compute": {"cores": {"min": 1, "max": 1}}, "schedule": {"requested": {"duration": "PT10M"}}}"#
            for _ in 0..<40 { #expect(try await client.send(.post, "/requests", json: request).status == .seeOther) }
            let perPage = 50  // WebController.pageSize
            var browser = Browser(client)
            let signin = try await browser.get("/ui/signin")
            _ = try await browser.post("/ui/signin", ["token": TestBroker.aliceToken], from: signin)
            let first = try await browser.get("/ui/facilities/tap-busy")
            let count = try #require(Browser.firstMatch(#"(\d+) session\(s\) hold capacity"#, in: first.text).flatMap { Int($0) })
            #expect(count > perPage)
            let pages = (count + perPage - 1) / perPage
            #expect(first.text.contains("page 1 of \(pages):"))
            #expect(!first.text.contains(#"rel="prev""#))
            func sessions(_ page: TestResponse) -> [String] {
                page.text.components(separatedBy: #"<td><a href="/ui/sessions/"#).dropFirst().map { String($0.prefix(36)) }
            }
            var listed = sessions(first), page = first
            #expect(listed.count == perPage)
            while let next = Browser.firstMatch(#"<a rel="next" href="([^"]+)""#, in: page.text) {
                page = try await browser.get(next.replacingOccurrences(of: "&amp;", with: "&"))
                #expect(page.body.readableBytes < 100_000)
                listed += sessions(page)
            }
            #expect(page.text.contains("page \(pages) of \(pages):") && page.text.contains(#"rel="prev""#))
            #expect(listed.count == count && Set(listed).count == count)
            // A page past the last shows the last; a page that is no number is refused, naming the field.
            #expect(try await browser.get("/ui/facilities/tap-busy?page=99").text.contains("page \(pages) of \(pages):"))
            for bad in ["0", "two", "-1"] {
                let refused = try await browser.get("/ui/facilities/tap-busy?page=\(bad)")
                #expect(refused.status == .badRequest && refused.text.contains("is not a page number"), "page=\(bad)")
            }
        }
    }

    @Test func aSessionsLiveUpdatesFollowItToItsEnd() async throws {
        let broker = try await TestBroker()
        try await broker.run { client in
            try await Self.register(client, facilityJSON(id: "tap-live"))
            func offer() async throws -> String {
                let set = try await client.send(.post, "/requests", json: #"{"executable": {"kind": "tap-query", "query": "SELECT 1"}}"#).json()
                let meta = try #require((set["offers"] as? [[String: Any]])?.first?["meta"] as? [String: Any])
                return try #require(meta["uuid"] as? String)
            }
            let reject = #"{"kind": "uri:enum-value-update", "path": "phase", "value": "REJECTED"}"#
            func events(_ id: String) async throws -> [String] {
                let stream = try await client.send(.get, "/ui/sessions/\(id)/events")
                #expect(stream.headers[.contentType] == "text/event-stream")
                return stream.text.split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
            }
            // An ended session: one event, its last phase, and the stream ends.
            let ended = try await offer()
            _ = try await client.send(.post, "/sessions/\(ended)", json: reject)
            let once = try await events(ended)
            #expect(once.count == 1)
            #expect(once.last?.contains(#""phase":"REJECTED""#) == true && once.last?.contains(#""final":true"#) == true)
            // A session that ends while it is followed: the stream ends with the change, whenever it comes. (The change
            // is made in the store the broker uses: the test client sends one request at a time.)
            let live = try await offer()
            let followed = try await withThrowingTaskGroup(of: [String]?.self) { group in
                group.addTask { try await events(live) }
                group.addTask {
                    _ = try await broker.store.changePhase(of: try #require(UUID(uuidString: live)), to: .rejected, now: Date(), admit: nil)
                    return nil
                }
                var found: [String] = []
                for try await result in group { if let result { found = result } }
                return found
            }
            #expect(followed.last?.contains(#""phase":"REJECTED""#) == true)
            #expect(followed.allSatisfy { $0.contains(#""phase":"OFFERED""#) || $0.contains(#""phase":"REJECTED""#) })
            #expect(try await client.send(.get, "/ui/sessions/\(UUID().uuidString)/events").status == .notFound)
        }
    }

    @Test func aFieldErrorPointsAtItsLineInTheYAML() {
        let yaml = """
            id: f
            endpoints:
              - kind: uws
                url: https://a.example/tap
              - kind: uws
                url: not a url
            limits: {cores: -1}
            """
        #expect(YAMLBridge.line(of: "endpoints[1].url", in: yaml) == 6)
        #expect(YAMLBridge.line(of: "endpoints[0]", in: yaml) == 3)
        #expect(YAMLBridge.line(of: "limits.cores", in: yaml) == 7)
        // A field the document lacks: the nearest enclosing one; text that is not YAML: none.
        #expect(YAMLBridge.line(of: "limits.memory", in: yaml) == 7)
        #expect(YAMLBridge.line(of: "endpoints[9].url", in: yaml) == 3)
        #expect(YAMLBridge.line(of: "name", in: "name: [unclosed") == nil)
    }

    @Test func theCapacityPictureStepsWithTheBookings() throws {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let id = FacilityID("f")
        let picture = CapacityPicture(
            capacity: 8,
            holds: [
                Booking(facility: id, cores: 2, memory: 1, start: t0.addingTimeInterval(-600), end: t0.addingTimeInterval(3600)),
                Booking(facility: id, cores: 4, memory: 1, start: t0.addingTimeInterval(1800), end: t0.addingTimeInterval(7200)),
            ],
            from: t0, to: t0.addingTimeInterval(4 * 3600))
        #expect(picture.steps.map(\.cores) == [2, 6, 4, 0])
        #expect(picture.peak == 6)
        let svg = picture.svg(title: "Capacity of <f>")
        #expect(svg.contains("<title id=\"capacity-title\">Capacity of &lt;f&gt;</title>"))
        #expect(svg.contains("at most 6 of 8; 2 session(s) hold capacity; 6 free now."))
        #expect(svg == picture.svg(title: "Capacity of <f>"))
    }

    static func register(_ client: any TestClientProtocol, _ json: String, token: String = TestBroker.aliceToken) async throws {
        let created = try await client.send(.post, "/facilities", json: json, token: token)
        #expect(created.status == .created, "\(created.text)")
    }

    static func notebookFacility(_ id: String) -> String {
        #"{"id": "\#(id)", "name": "Notebooks \#(id)", "endpoints": [{"kind": "binderhub", "url": "http://127.0.0.1:9/"}], "accepts": ["jupyter-notebook"]}"#
    }
}

/// A browser without JavaScript: keeps the cookies the pages set and posts forms with their CSRF token.
struct Browser {
    let client: any TestClientProtocol
    var cookies: [String: String] = [:]

    init(_ client: any TestClientProtocol) { self.client = client }

    mutating func get(_ path: String) async throws -> TestResponse { try await send(.get, path) }

    /// Posts `fields` as a form, with the CSRF token of `page` (or `csrf`).
    mutating func post(
        _ path: String, _ fields: [String: String], from page: TestResponse? = nil, csrf: String? = nil, headers: HTTPFields = [:]
    ) async throws -> TestResponse {
        var all = fields
        all["csrf"] = csrf ?? page.flatMap { Self.csrf(in: $0.text) } ?? ""
        let body = all.map { name, value in "\(Self.encode(name))=\(Self.encode(value))" }.joined(separator: "&")
        var h = headers
        h[.contentType] = "application/x-www-form-urlencoded"
        return try await send(.post, path, body: body, headers: h)
    }

    mutating func send(_ method: HTTPRequest.Method, _ path: String, body: String? = nil, headers: HTTPFields = [:]) async throws -> TestResponse {
        var h = headers
        if !cookies.isEmpty { h[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        let response = try await client.execute(uri: path, method: method, headers: h, body: body.map { ByteBuffer(string: $0) })
        for header in response.headers[values: .setCookie] {
            let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            if header.contains("Max-Age=0") { cookies[String(pair[0])] = nil } else { cookies[String(pair[0])] = String(pair[1]) }
        }
        return response
    }

    static func csrf(in html: String) -> String? {
        firstMatch(#"name="csrf" value="([^"]+)""#, in: html).map { $0.replacingOccurrences(of: "&amp;", with: "&") }
    }

    static func firstMatch(_ pattern: String, in text: String) -> String? {
        guard let regex = try? NSRegularExpression(pattern: pattern),
              let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
              let range = Range(match.range(at: 1), in: text) else { return nil }
        return String(text[range])
    }

    static func encode(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")) ?? s
    }
}

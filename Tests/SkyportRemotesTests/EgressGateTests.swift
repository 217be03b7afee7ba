import Foundation
import Logging
import SkyportCore
@testable import SkyportRemotes
import SkyportTestSupport
import Synchronization
import Testing

/// The HTTP and git enforcement points of the egress rule, against a stub server on loopback: a refused destination
/// receives nothing, a name is connected to at the address it was judged by, and every refusal is counted.
@Suite struct EgressGateTests {
    /// Records the refusals the gate reports (what the composition root turns into the Prometheus counter).
    final class Audit: Sendable {
        let seen = Mutex<[(EgressReason, EgressPurpose)]>([])
        var hook: @Sendable (EgressRefusal, EgressPurpose) -> Void { { r, p in self.seen.withLock { $0.append((r.reason, p)) } } }
        var reasons: [EgressReason] { seen.withLock { $0.map(\.0) } }
    }

    static func loopbackAddress() -> IPAddress { IPAddress("127.0.0.1")! }

    @Test func aLoopbackFacilityIsNotCalledByDefault() async throws {
        try await withStubHTTPServer { server in
            server.route("/tap/async", .xml("<uws:jobs xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\"/>"))
            let audit = Audit()
            try await withEgress(EgressPolicy(), audit: audit.hook) { egress in
                let http = RemoteHTTP(egress: egress, purpose: .uws)
                let error = await #expect(throws: RemoteError.self) { try await http.get(server.url("/tap/async")) }
                #expect(error?.kind == .refused && error?.isTransient == false)
                #expect(error?.message.contains("loopback") == true)
            }
            #expect(server.hits("/tap/async") == 0, "nothing reached the internal service")
            #expect(audit.seen.withLock { $0.map(\.1) } == [.uws])
        }
    }

    /// A name is resolved once, judged, and connected to at the judged address: `facility.test` does not resolve
    /// through the system, so reaching the stub proves the pin; the Host header keeps the name.
    @Test func aNameIsConnectedToAtTheAddressItWasJudgedBy() async throws {
        try await withStubHTTPServer { server in
            server.route("/tap/async", .text("ok"))
            let resolver = StaticResolver { $0 == "facility.test" ? [Self.loopbackAddress()] : [] }
            try await withEgress(try EgressPolicy(parsing: "127.0.0.0/8"), resolver: resolver) { egress in
                let http = RemoteHTTP(egress: egress, purpose: .uws)
                let url = try #require(URL(string: "http://facility.test:\(server.url("/").port!)/tap/async"))
                let response = try await http.get(url)
                #expect(response.status == 200)
            }
        }
    }

    /// DNS rebinding: the second answer for the same name is internal; the gate judges each call's answer.
    @Test func aNameThatRebindsToAnInternalAddressIsRefusedOnTheNextCall() async throws {
        try await withStubHTTPServer { server in
            server.route("/x", .text("ok"))
            let answers = Mutex([[Self.loopbackAddress()], [IPAddress("10.0.0.7")!]])
            let resolver = StaticResolver { _ in answers.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] } }
            let audit = Audit()
            try await withEgress(try EgressPolicy(parsing: "127.0.0.0/8"), resolver: resolver, audit: audit.hook) { egress in
                let http = RemoteHTTP(egress: egress, purpose: .health, retry: RetryPolicy(maxAttempts: 1))
                let url = try #require(URL(string: "http://rebind.test:\(server.url("/").port!)/x"))
                #expect(try await http.get(url).status == 200)
                let error = await #expect(throws: RemoteError.self) { try await http.get(url) }
                #expect(error?.kind == .refused)
            }
            #expect(server.hits("/x") == 1)
            #expect(audit.reasons == [.private])
        }
    }

    @Test func aMixedAnswerAndAnUnresolvableNameAreRefused() async throws {
        let resolver = StaticResolver { host in
            host == "split.test" ? [IPAddress("93.184.216.34")!, Self.loopbackAddress()] : []
        }
        let audit = Audit()
        try await withEgress(EgressPolicy(), resolver: resolver, audit: audit.hook) { egress in
            let http = RemoteHTTP(egress: egress, purpose: .vosi, retry: RetryPolicy(maxAttempts: 1))
            for host in ["split.test", "nowhere.test"] {
                let error = await #expect(throws: RemoteError.self) { try await http.get(URL(string: "http://\(host)/capabilities")!) }
                #expect(error?.kind == .refused)
            }
        }
        #expect(audit.reasons == [.mixedAnswers, .unresolvable])
    }

    /// A callback is a URL a user wrote: an internal one gets no notice (and no retry storm).
    @Test func aCallbackToAnInternalAddressIsNotPosted() async throws {
        try await withStubHTTPServer { server in
            server.route("/notices", .text("ok"))
            try await withEgress(EgressPolicy()) { egress in
                let notifier = HTTPNotifier(egress: egress, logger: Logger(label: "t"))
                var s = SessionRecord.sample(facility: "tap", phase: .completed)
                s.callback = server.url("/notices").absoluteString
                await #expect(throws: RemoteError.self) { try await notifier.notify(s.callback!, SessionNotice(s)) }
            }
            #expect(server.hits("/notices") == 0)
        }
    }

    /// A redirect is a new destination: the job URL a UWS service's 303 names (here the metadata address) is judged
    /// when it is called.
    @Test func aRedirectToAnInternalAddressIsJudgedAgain() async throws {
        try await withStubHTTPServer { server in
            server.route("/tap/async", .init(status: 303, headers: [("Location", "http://169.254.169.254/latest/meta-data/")], body: Data()))
            let audit = Audit()
            try await withEgress(.loopback, audit: audit.hook) { egress in
                let client = UWSClient(http: RemoteHTTP(egress: egress, purpose: .uws, retry: RetryPolicy(maxAttempts: 1)))
                let job = try await client.create(jobList: server.url("/tap/async"), parameters: [("QUERY", "x")])
                #expect(job.host == "169.254.169.254")
                let error = await #expect(throws: RemoteError.self) { _ = try await client.job(job) }
                #expect(error?.kind == .refused)
            }
            #expect(audit.reasons == [.metadata])
        }
    }

    /// Credentials are chosen by the registered endpoint, by origin: a look-alike host never gets them.
    @Test func credentialsGoOnlyToTheirOrigin() {
        let credentials = Credentials([("https://hub.example", .token("t")), ("https://uws.example.org/tap/", .basic(username: "u", password: "p"))])
        #expect(credentials.auth(for: "https://hub.example/build") == .token("t"))
        #expect(credentials.auth(for: "https://hub.example.evil.org/build") == nil)
        #expect(credentials.auth(for: "https://hub.example:8443/build") == nil)
        #expect(credentials.auth(for: "http://hub.example/build") == nil)
        #expect(credentials.auth(for: "https://uws.example.org/tap/async") == .basic(username: "u", password: "p"))
        #expect(credentials.auth(for: "https://uws.example.org/other/async") == nil)
    }

    /// The transport sends the facility's credentials only to the facility's origin, whatever a redirect says.
    @Test func authIsNotSentToAnotherOrigin() async throws {
        try await withStubHTTPServer { server in
            server.route("/x", .text("ok"))
            try await withEgress(.loopback) { egress in
                var http = RemoteHTTP(egress: egress, purpose: .uws, auth: .token("secret"))
                http.authOrigin = Origin("http://127.0.0.2:1/")
                _ = try await http.get(server.url("/x"))
            }
            #expect(server.requests("/x").first?.header("authorization") == nil)
        }
    }

    /// git is judged by the same rule before it runs: internal repositories are not cloned, `git://` only to listed
    /// hosts, and a name is pinned to its judged address (git never resolves it again).
    @Test(arguments: ["http://127.0.0.1:9/x.git", "https://10.0.0.1/x.git", "http://[::1]:9/x.git", "http://2130706433:9/x.git",
                      "git://127.0.0.1:9418/x.git", "http://internal.test/x.git", "http://169.254.169.254/x.git"])
    func anInternalRepositoryIsNotCloned(_ repository: String) async throws {
        let root = FileManager.default.temporaryDirectory.appending(path: "skyport-egress-git-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let resolver = StaticResolver { $0 == "internal.test" ? [IPAddress("192.168.1.20")!] : [] }
        let audit = Audit()
        try await withEgress(EgressPolicy(), resolver: resolver, audit: audit.hook) { egress in
            let staging = root.appending(path: "staging.git")
            let stager = GitStager(remote: StagingRemote(pushURL: staging.path, workDirectory: root.appending(path: "work").path), egress: egress)
            do {
                _ = try await stager.stage(session: UUID(), repository: repository, ref: nil, plan: BasketStaging.plan(session: "s", items: []))
                Issue.record("\(repository) was cloned")
            } catch let refusal as FacilityRefusal {
                #expect(refusal.message.contains("not cloned"), "\(refusal.message)")
            }
            #expect(!FileManager.default.fileExists(atPath: staging.path))
        }
        #expect(audit.seen.withLock { $0.map(\.1) } == [.git])
    }

    /// A clone of a name the operator allows goes to the judged address: `repo.test` resolves only through the gate.
    @Test func aCloneIsPinnedToTheJudgedAddress() async throws {
        let root = FileManager.default.temporaryDirectory.appending(path: "skyport-egress-pin-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try await withStubHTTPServer { server in
            // A dumb-HTTP git server that has no repository: git asks for info/refs at the pinned address.
            let resolver = StaticResolver { $0 == "repo.test" ? [Self.loopbackAddress()] : [] }
            try await withEgress(try EgressPolicy(parsing: "127.0.0.0/8"), resolver: resolver) { egress in
                let stager = GitStager(
                    remote: StagingRemote(pushURL: root.appending(path: "staging.git").path, workDirectory: root.appending(path: "work").path), egress: egress)
                let repository = "http://repo.test:\(server.url("/").port!)/demo.git"
                await #expect(throws: (any Error).self) {
                    _ = try await stager.stage(session: UUID(), repository: repository, ref: nil, plan: BasketStaging.plan(session: "s", items: []))
                }
            }
            #expect(server.requests().contains { $0.path.hasPrefix("/demo.git/info/refs") }, "git reached the stub through the pin")
        }
    }
}

/// What a span records of an outbound URL: never the query, fragment or credentials, and only the origin of a
/// callback (a URL the client wrote, whose path may be its secret).
@Suite struct EgressSpanURLTests {
    @Test func spansRecordNoQueryFragmentOrCallbackPath() {
        #expect(Egress.traced("https://uws.example/tap/async/17?WAIT=20&token=s3cret#frag", purpose: .uws) == "https://uws.example/tap/async/17")
        #expect(Egress.traced("https://user:pw@uws.example:8443/tap/async", purpose: .uws) == "https://uws.example:8443/tap/async")
        #expect(Egress.traced("https://hooks.example/T0123/B456/XXXXsecret?x=1", purpose: .callback) == "https://hooks.example")
    }
}

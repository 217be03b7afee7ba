import Foundation
import SkyportCore
@testable import SkyportRemotes
import SkyportTestSupport
import Testing

/// A VOSI service serving `fixtures/registry/vosi-capabilities-tap.xml`, and failing in the ways a refresh meets.
enum VOSIStandIn {
    static let root = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixture = root.appending(path: "fixtures/registry/vosi-capabilities-tap.xml")

    /// Runs `body` with a stub serving the capabilities at `/tap/capabilities`, a 500, an HTML page and a redirect.
    static func with<T>(_ body: (StubHTTPServer) async throws -> T) async throws -> T {
        let capabilities = try Data(contentsOf: fixture)
        return try await withStubHTTPServer { server in
            server.route("/tap/capabilities", StubResponse(headers: [("Content-Type", "text/xml")], body: capabilities))
            server.route("/broken/capabilities", .text("Internal Server Error: database is down", status: 500))
            server.route("/html/capabilities", .text("<!DOCTYPE html><html><body>Welcome to our portal</body></html>", contentType: "text/html"))
            server.route("/moved/capabilities", StubResponse(status: 302, headers: [("Location", "/tap/capabilities")]))
            return try await body(server)
        }
    }
}

@Suite
struct VOSICapabilitiesClientTests {
    @Test func theFixtureIsAVOSICapabilitiesDocument() throws {
        let capabilities = try VOResourceXML.capabilities(try Data(contentsOf: VOSIStandIn.fixture))
        #expect(capabilities.compactMap(\.standardID) == [
            "ivo://ivoa.net/std/VOSI#availability", "ivo://ivoa.net/std/VOSI#capabilities", "ivo://ivoa.net/std/VOSI#tables-1.1",
            "ivo://ivoa.net/std/TAP", "ivo://ivoa.net/std/DALI#examples",
        ])
        #expect(capabilities[3].executionDuration == RegistryLimit(defaultValue: 3600, hard: 7200))
    }

    @Test func capabilitiesAreReadAndMappedAsARegistryRecordsWouldBe() async throws {
        let (capabilities, source) = try await VOSIStandIn.with { server in
            let url = server.url("/tap/capabilities")
            return (try await withRemoteHTTP { try await VOSICapabilitiesClient(http: $0).capabilities(at: url) }, url.absoluteString)
        }
        #expect(capabilities.count == 5)
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        let facility = Facility.sample("ivo://tap.example.org/tap", name: "T", endpoints: [], accepts: [], owner: "registry", at: t)
        let refreshed = try RegistryMapping.refresh(facility, capabilities: capabilities, from: source, now: t).get()
        // The anonymous interface is preferred over the BasicAA one; the TAP base gets /async.
        #expect(refreshed.endpoints == [Endpoint(kind: .uws, url: "http://tap.example.org/tap/async")])
        #expect(refreshed.accepts == [.tapQuery])
        #expect(refreshed.limits.duration == ISODuration(seconds: 7200))
    }

    @Test func failuresAreStructuredAndNamed() async throws {
        let refused = try await StubHTTPServer.unusedPort()
        try await VOSIStandIn.with { server in try await withRemoteHTTP { http in
            let client = VOSICapabilitiesClient(http: http)
            do {
                _ = try await client.capabilities(at: server.url("/broken/capabilities"))
                Issue.record("a 500 must throw")
            } catch let error as RemoteError {
                #expect(error.kind == .status && error.status == 500)
                #expect(error.snippet?.contains("database is down") == true)
            }
            do {
                _ = try await client.capabilities(at: server.url("/html/capabilities"))
                Issue.record("an HTML page must throw")
            } catch let error as RegistryError {
                #expect(error.kind == .unexpectedDocument && error.message.contains("HTML"))
            }
            do {
                _ = try await client.capabilities(at: server.url("/moved/capabilities"))
                Issue.record("a redirect must throw")
            } catch let error as RemoteError {
                #expect(error.kind == .invalidResponse && error.status == 302)
                #expect(error.message.contains("/tap/capabilities"))
            }
            do {
                _ = try await client.capabilities(at: URL(string: "http://127.0.0.1:\(refused)/tap/capabilities")!)
                Issue.record("a refused connection must throw")
            } catch let error as RemoteError {
                #expect(error.kind == .connect)
            }
        } }
    }

    @Test(.enabled(if: TestPeers.run(Peers.dachs != nil), "DaCHS not started (SKYPORT_TEST_DACHS_URL unset: scripts/peers.sh start dachs)"))
    func theRealDaCHSCapabilitiesRefreshATAPFacility() async throws {
        let jobList = try Peers.requireDaCHS()
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        let facility = Facility.sample(
            "dachs", name: "DaCHS", endpoints: [Endpoint(kind: .uws, url: jobList.absoluteString)], owner: "registry", at: t)
        let url = try #require(RegistryMapping.capabilitiesURL(of: facility))
        #expect(url.hasSuffix("/tap/capabilities"))
        let capabilities = try await withRemoteHTTP { try await VOSICapabilitiesClient(http: $0).capabilities(at: URL(string: url)!) }
        #expect(capabilities.contains { $0.standardBase == "ivo://ivoa.net/std/tap" })
        let refreshed = try RegistryMapping.refresh(facility, capabilities: capabilities, from: url, now: t).get()
        #expect(refreshed.accepts.contains(.tapQuery))
        #expect(refreshed.endpoints.contains { $0.kind == .uws && $0.url.hasSuffix("/tap/async") }, "\(refreshed.endpoints)")
        #expect(refreshed.provenance?.refreshed == t)
    }
}

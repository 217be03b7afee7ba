import Foundation
import SkyportCore
@testable import SkyportRemotes
import Testing

/// The stand-in VOSI service (`Tests/Standins/vosi_standin.py`) serving `fixtures/registry/vosi-capabilities-tap.xml`,
/// one per test, killed (by its pid) when the test ends.
final class VOSIStandIn: Sendable {
    static let root = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let script = root.appending(path: "Tests/Standins/vosi_standin.py")
    static let fixture = root.appending(path: "fixtures/registry/vosi-capabilities-tap.xml")
    static let available = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")

    let base: URL
    private let process: Process

    private init() throws {
        let text = try String(contentsOf: Self.script, encoding: .utf8)
        let (process, base) = try startPythonStandIn(text, name: "vosi_standin", arguments: [Self.fixture.path])
        self.process = process
        self.base = base
    }

    /// Starts one on a thread of its own (reading its port blocks).
    static func start() async throws -> VOSIStandIn {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try VOSIStandIn() }) }
        }
    }

    func url(_ path: String) -> URL { base.appending(path: path) }

    /// Kills the server (SIGKILL: an ignored SIGTERM may be inherited) and reaps it off the caller's thread.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        let reaped = process
        Thread.detachNewThread { reaped.waitUntilExit() }
    }

    deinit { stop() }
}

@Suite(.enabled(if: VOSIStandIn.available, "python3 is needed for the VOSI stand-in"))
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
        let server = try await VOSIStandIn.start()
        defer { server.stop() }
        let capabilities = try await withRemoteHTTP { try await VOSICapabilitiesClient(http: $0).capabilities(at: server.url("tap/capabilities")) }
        #expect(capabilities.count == 5)
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        let facility = Facility(id: FacilityID("ivo://tap.example.org/tap"), name: "T", endpoints: [], accepts: [], owner: "registry", created: t, modified: t)
        let refreshed = try RegistryMapping.refresh(facility, capabilities: capabilities, from: server.url("tap/capabilities").absoluteString, now: t).get()
        // The anonymous interface is preferred over the BasicAA one; the TAP base gets /async.
        #expect(refreshed.endpoints == [Endpoint(kind: .uws, url: "http://tap.example.org/tap/async")])
        #expect(refreshed.accepts == [.tapQuery])
        #expect(refreshed.limits.duration == ISODuration(seconds: 7200))
    }

    @Test func failuresAreStructuredAndNamed() async throws {
        let server = try await VOSIStandIn.start()
        defer { server.stop() }
        try await withRemoteHTTP { http in
            let client = VOSICapabilitiesClient(http: http)
            do {
                _ = try await client.capabilities(at: server.url("broken/capabilities"))
                Issue.record("a 500 must throw")
            } catch let error as RemoteError {
                #expect(error.kind == .status && error.status == 500)
                #expect(error.snippet?.contains("database is down") == true)
            }
            do {
                _ = try await client.capabilities(at: server.url("html/capabilities"))
                Issue.record("an HTML page must throw")
            } catch let error as RegistryError {
                #expect(error.kind == .unexpectedDocument && error.message.contains("HTML"))
            }
            do {
                _ = try await client.capabilities(at: server.url("moved/capabilities"))
                Issue.record("a redirect must throw")
            } catch let error as RemoteError {
                #expect(error.kind == .invalidResponse && error.status == 302)
                #expect(error.message.contains("/tap/capabilities"))
            }
            do {
                _ = try await client.capabilities(at: URL(string: "http://127.0.0.1:1/tap/capabilities")!)
                Issue.record("a refused connection must throw")
            } catch let error as RemoteError {
                #expect(error.kind == .connect)
            }
        }
    }

    @Test(.enabled(if: Peers.dachs != nil, "DaCHS not started (SKYPORT_TEST_DACHS_URL unset: scripts/peers.sh start dachs)"))
    func theRealDaCHSCapabilitiesRefreshATAPFacility() async throws {
        let jobList = try #require(Peers.dachs)
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        let facility = Facility(
            id: FacilityID("dachs"), name: "DaCHS", endpoints: [Endpoint(kind: .uws, url: jobList.absoluteString)], accepts: [.tapQuery],
            owner: "registry", created: t, modified: t)
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

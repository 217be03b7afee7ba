import Foundation
import HTTPTypes
import HummingbirdTesting
import SkyportCore
@testable import SkyportHTTP
import SkyportRemotes
import SkyportTestSupport
import Testing

/// Checks XML documents with xmllint: always well-formedness, and validity against the VOSI, VOResource,
/// VODataService and RegistryInterface XSDs when a folder holds them: ../shared/schemas first, else the copy DaCHS
/// installs (python3-gavo, the UWS peer). The XSDs import each other by http URLs; a driver schema imports every
/// namespace from the local files first and xmllint runs with --nonet.
enum VOSISchema {
    static let sharedSchemas = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/schemas").standardized.path
    static let dachsSchemas = "/usr/lib/python3/dist-packages/gavo/resources/schemata"

    static let required = [
        "http://www.ivoa.net/xml/VOResource/v1.0", "http://www.ivoa.net/xml/VODataService/v1.1",
        "http://www.ivoa.net/xml/VOSICapabilities/v1.0", "http://www.ivoa.net/xml/VOSIAvailability/v1.0",
        "http://www.ivoa.net/xml/RegistryInterface/v1.0",
    ]
    /// What VODataService imports, loaded first when present.
    static let supporting = ["http://www.w3.org/1999/xlink", "http://www.ivoa.net/xml/STC/stc-v1.30.xsd"]

    enum Driver: Sendable {
        case xsd(URL)
        case absent(String)
    }

    /// The driver schema, or why there is none.
    static let driver: Driver = {
        for folder in [sharedSchemas, dachsSchemas] {
            let found = namespaces(in: folder)
            guard required.allSatisfy({ found[$0] != nil }) else { continue }
            let imports = (supporting + required).compactMap { ns in
                found[ns].map { "  <xs:import namespace=\"\(ns)\" schemaLocation=\"\(URL(fileURLWithPath: $0).absoluteString)\"/>\n" }
            }
            let text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" "
                + "targetNamespace=\"urn:skyport:test:vosi-driver\">\n" + imports.joined() + "</xs:schema>\n"
            let which = folder == sharedSchemas ? "shared" : "dachs"
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("skyport-vosi-driver-\(which).xsd")
            do { try Data(text.utf8).write(to: file, options: .atomic) } catch { return .absent("cannot write \(file.path): \(error)") }
            return .xsd(file)
        }
        return .absent("no folder holds the VOSI, VOResource, VODataService and RegistryInterface XSDs (looked in \(sharedSchemas) and \(dachsSchemas))")
    }()

    /// targetNamespace → file, for the .xsd files of a folder (the first file in name order wins).
    static func namespaces(in folder: String) -> [String: String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [:] }
        var map: [String: String] = [:]
        for name in names.sorted() where name.hasSuffix(".xsd") {
            let path = folder + "/" + name
            guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                  let range = text.range(of: #"targetNamespace="[^"]+""#, options: .regularExpression) else { continue }
            let ns = String(text[range].dropFirst("targetNamespace=\"".count).dropLast())
            if map[ns] == nil { map[ns] = path }
        }
        return map
    }

    /// Records an issue unless `document` is well formed and, when the XSDs are here, valid.
    static func check(_ document: String, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vosi-\(UUID().uuidString).xml")
        try Data(document.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let wellFormed = try await xmllint(["--noout", "--nonet", file.path])
        if wellFormed.status == 127 {
            Issue.record("xmllint is missing: install libxml2-utils (apt-get install libxml2-utils)", sourceLocation: sourceLocation)
            return
        }
        #expect(wellFormed.status == 0, "\(label) is not well-formed XML: \(wellFormed.output)\n\(document)", sourceLocation: sourceLocation)
        switch driver {
        case .absent(let why):
            if TestPeers.allowMissing {
                print("NOT RUN: XSD validation of \(label) — \(why); checked for well-formedness only")
            } else {
                Issue.record("\(MissingPeer("the VOSI/VOResource XSDs for \(label): \(why)"))", sourceLocation: sourceLocation)
            }
        case .xsd(let xsd):
            let valid = try await xmllint(["--noout", "--nonet", "--schema", xsd.path, file.path])
            #expect(valid.status == 0, "\(label) does not validate against the VOSI/VOResource XSDs: \(valid.output)\n\(document)",
                    sourceLocation: sourceLocation)
        }
    }

    /// xmllint's exit status and messages, less the warnings about the XSDs' own http imports the driver replaces.
    static func xmllint(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let run = try await vosiRunProcess("/usr/bin/env", ["xmllint"] + arguments)
        let lines = run.output.split(separator: "\n").filter { !$0.contains("Schemas parser warning") && !$0.contains("Skipping import") }
        return (run.status, lines.joined(separator: "\n"))
    }
}

/// Runs a program on a thread of its own (not on the concurrency pool); its exit status and standard error.
func vosiRunProcess(_ executable: String, _ arguments: [String], stdout: URL? = nil) async throws -> (status: Int32, output: String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = arguments
                let errors = Pipe()
                process.standardError = errors
                if let stdout {
                    _ = FileManager.default.createFile(atPath: stdout.path, contents: nil)
                    process.standardOutput = try FileHandle(forWritingTo: stdout)
                } else {
                    process.standardOutput = FileHandle.nullDevice
                }
                try process.run()
                let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                return (process.terminationStatus, output)
            })
        }
    }
}

@Suite struct VOSIAPITests {
    /// A facility with one endpoint of each kind, and a name that needs escaping.
    static let everyEndpoint = """
        {"id": "ivo://example.org/tap", "name": "Example <TAP> & \\"co\\"", "description": "async TAP, a BinderHub and a broker",
         "endpoints": [{"kind": "uws", "url": "http://127.0.0.1:8080/tap/async"},
                       {"kind": "django-uws", "url": "http://127.0.0.1:8081/uws/?a=1&b=2"},
                       {"kind": "binderhub", "url": "https://binder.example.org/"},
                       {"kind": "executionbroker", "url": "https://eb.example.org/api"}],
         "accepts": ["tap-query", "jupyter-notebook"]}
        """

    @Test func capabilitiesListEveryInterfaceWithItsAccessURL() async throws {
        try await TestBroker().run { client in
            let r = try await client.send(.get, "/capabilities")
            #expect(r.status == .ok)
            #expect(r.headers[.contentType]?.hasPrefix("text/xml") == true)
            try await VOSISchema.check(r.text, "the capabilities")
            #expect(r.text.contains("<vosi:capabilities xmlns:vosi=\"http://www.ivoa.net/xml/VOSICapabilities/v1.0\""))

            let capabilities = try VOResourceXML.capabilities(Data(r.text.utf8))
            #expect(capabilities.count == 5)
            var urls: [String?: String] = [:]
            for c in capabilities {
                let interface = try #require(c.interfaces.first)
                #expect(c.interfaces.count == 1 && interface.type?.local == "ParamHTTP")
                urls[c.standardID] = interface.accessURLs.first?.url
            }
            // URLs follow the request's Host (HummingbirdTesting's client sends `localhost`; the pyvo test sends host:port).
            let selfURL = try #require(urls["ivo://ivoa.net/std/VOSI#capabilities"] ?? nil)
            #expect(selfURL.hasPrefix("http://localhost") && selfURL.hasSuffix("/capabilities"))
            let root = String(selfURL.dropLast("/capabilities".count))
            #expect(urls["ivo://ivoa.net/std/VOSI#availability"] == root + "/availability")
            #expect(urls["ivo://ivoa.net/std/UWS#rest-1.1"] == root + "/uws/jobs")
            #expect(urls["ivo://ivoa.net/std/ExecutionBroker"] == root)
            #expect(urls[nil] == root + "/facilities")
            #expect(capabilities.first { $0.standardID == nil }?.description?.contains("operator") == true)
            // The same document the pure writer gives for that base URL.
            #expect(r.text == VOSIDocuments.capabilities(BrokerInterfaces(baseURL: root)))
            // What it advertises answers.
            #expect(try await client.send(.get, "/availability").status == .ok)
            #expect(try await client.send(.get, "/facilities").status == .ok)
            #expect(try await client.send(.get, "/uws/jobs", token: UWSAPITests.carol).status == .ok)
        }
    }

    /// fixtures/registry/skyport-capabilities-example.xml, less its comment, is what Skyport serves at 127.0.0.1:8090.
    @Test func theCapabilitiesFixtureIsWhatSkyportServes() async throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../fixtures/registry/skyport-capabilities-example.xml")
        let fixture = try String(contentsOf: file, encoding: .utf8)
        let uncommented = fixture.replacingOccurrences(of: #"<!--(.|\n)*?-->\n"#, with: "", options: .regularExpression)
        #expect(uncommented == VOSIDocuments.capabilities(BrokerInterfaces(baseURL: "http://127.0.0.1:8090")))
        try await VOSISchema.check(fixture, "the capabilities fixture")
    }

    @Test func availabilityIsTrueSinceTheBrokerStarted() async throws {
        try await TestBroker().run { client in
            let r = try await client.send(.get, "/availability")
            #expect(r.status == .ok)
            #expect(r.headers[.contentType]?.hasPrefix("text/xml") == true)
            try await VOSISchema.check(r.text, "the availability")
            #expect(r.text.contains("<avail:available>true</avail:available>"))
            #expect(r.text.contains("<avail:upSince>\(Timestamp.format(VOSIController.startedAt))</avail:upSince>"))
            #expect(VOSIController.startedAt <= Date())
            #expect(r.text.contains("<avail:note>Skyport and its memory store are answering.</avail:note>"))
        }
    }

    @Test func availabilityIsFalseWithANoteWhenTheStoreDoesNotAnswer() async throws {
        let (available, note) = await VOSIController.availability(store: "sqlite") { throw StoreError.unavailable("disk gone") }
        #expect(!available)
        #expect(note.contains("does not answer") && !note.contains("disk gone"))
        let document = VOSIDocuments.availability(available: available, upSince: Date(timeIntervalSince1970: 1_800_000_000), notes: [note])
        #expect(document.contains("<avail:available>false</avail:available>"))
        #expect(document.contains("<avail:upSince>2027-01-15T08:00:00Z</avail:upSince>"))
        try await VOSISchema.check(document, "an availability saying false")
        let (up, _) = await VOSIController.availability(store: "sqlite") {}
        #expect(up)
    }

    @Test func aFacilityRecordHasOneCapabilityPerEndpointAndHarvestsBack() async throws {
        try await TestBroker().run { client in
            let created = try await client.send(.post, "/facilities", json: Self.everyEndpoint, token: TestBroker.aliceToken)
            #expect(created.status == .created, "\(created.text)")
            let r = try await client.send(.get, "/registry/records/IVO%3A%2F%2FEXAMPLE.ORG%2FTAP")
            #expect(r.status == .ok)
            #expect(r.headers[.contentType]?.hasPrefix("text/xml") == true)
            try await VOSISchema.check(r.text, "the facility's record")
            #expect(r.text.contains(#"<ri:Resource xmlns:ri="http://www.ivoa.net/xml/RegistryInterface/v1.0""#))
            #expect(r.text.contains(#"xsi:type="vr:Service""#) && r.text.contains(#"status="active""#))
            #expect(r.text.contains("<title>Example &lt;TAP&gt; &amp; &quot;co&quot;</title>"))
            #expect(r.text.contains("<publisher>alice</publisher>"))
            #expect(r.text.contains(#"<referenceURL>http://localhost"#)
                    && r.text.contains("/facilities/ivo%3A%2F%2Fexample.org%2Ftap</referenceURL>"))

            guard case .resource(let resource) = try VOResourceXML.document(Data(r.text.utf8)) else {
                Issue.record("not read as a VOResource record: \(r.text)")
                return
            }
            #expect(resource.ivoid.rawValue == "ivo://example.org/tap")
            #expect(resource.title == "Example <TAP> & \"co\"")
            #expect(resource.description == "async TAP, a BinderHub and a broker")
            #expect(resource.status == .active)
            #expect(resource.capabilities.map(\.standardID) == [
                "ivo://ivoa.net/std/UWS#rest-1.1", "ivo://ivoa.net/std/UWS#rest-1.1", nil, "ivo://ivoa.net/std/ExecutionBroker",
            ])
            #expect(resource.capabilities.map { $0.interfaces.first?.type?.local } == ["ParamHTTP", "ParamHTTP", "WebBrowser", "ParamHTTP"])
            #expect(resource.capabilities.map { $0.interfaces.first?.accessURLs.first?.url } == [
                "http://127.0.0.1:8080/tap/async", "http://127.0.0.1:8081/uws/?a=1&b=2", "https://binder.example.org/", "https://eb.example.org/api",
            ])

            // Skyport's own harvester reads it back as the same facility (django-uws comes back as plain UWS).
            let harvested = try RegistryMapping.facility(from: resource, owner: "registry", now: Date()).get()
            #expect(harvested.id == FacilityID("ivo://example.org/tap"))
            #expect(harvested.endpoints.map(\.kind) == [.uws, .uws, .binderhub, .executionbroker])
            #expect(harvested.endpoints.map(\.url) == resource.capabilities.compactMap { $0.interfaces.first?.accessURLs.first?.url })
        }
    }

    @Test func aFacilityWithoutAnIVOIdentifierGetsOneUnderSkyportLocal() async throws {
        try await TestBroker().run { client in
            let yaml = """
                id: Binder-One
                name: A BinderHub
                status: disabled
                endpoints: [{kind: binderhub, url: "https://binder.example.org/"}]
                accepts: [jupyter-notebook]
                """
            #expect(try await client.send(.post, "/facilities", yaml: yaml, token: TestBroker.bobToken).status == .created)
            let r = try await client.send(.get, "/registry/records/binder-one")
            #expect(r.status == .ok)
            try await VOSISchema.check(r.text, "a local facility's record")
            #expect(r.text.contains("<identifier>ivo://skyport.local/facility/Binder-One</identifier>"))
            #expect(!r.text.contains("<altIdentifier>"))
            #expect(r.text.contains(#"status="inactive""#))
            #expect(r.text.contains("<description>A BinderHub: a facility the Skyport ExecutionBroker runs work on.</description>"))
            #expect(r.text.contains("<subject>jupyter-notebook</subject>"))
        }
    }

    @Test func anUnknownFacilityIsAJSON404AndABadSegmentA400() async throws {
        try await TestBroker().run { client in
            let missing = try await client.send(.get, "/registry/records/ivo%3A%2F%2Fnowhere.org%2Fx")
            #expect(missing.status == .notFound)
            #expect(missing.headers[.contentType] == "application/problem+json")
            #expect(try missing.json()["code"] as? String == "not-found")
            #expect(try missing.json()["detail"] as? String == "facility 'ivo://nowhere.org/x' does not exist")
            let bad = try await client.send(.get, "/registry/records/%FF")
            #expect(bad.status == .badRequest)
            #expect(try bad.errorFields() == ["id"])
        }
    }

    /// Identifiers VOResource's IdentifierURI pattern refuses are rewritten under skyport.local, reversibly.
    @Test func identifiersVOResourceCannotHoldAreRewritten() async throws {
        #expect(VOSIDocuments.identifier(for: FacilityID("ivo://example.org/tap")) == "ivo://example.org/tap")
        #expect(VOSIDocuments.identifier(for: FacilityID("IVO://Example.org/TAP")) == "ivo://Example.org/TAP")
        #expect(!VOSIDocuments.record(
            Facility(id: FacilityID("IVO://Example.org/TAP"), name: "T", endpoints: [], accepts: [.tapQuery], owner: "o", created: Date(), modified: Date()),
            baseURL: "").contains("altIdentifier"))
        #expect(VOSIDocuments.identifier(for: FacilityID("tap-a.b_c~d")) == "ivo://skyport.local/facility/tap-a.b_c~d")
        #expect(VOSIDocuments.identifier(for: FacilityID("ivo://example.org/tap?x=1#y"))
                == "ivo://skyport.local/facility/ivo=3A=2F=2Fexample.org=2Ftap=3Fx=3D1=23y")
        #expect(VOSIDocuments.identifier(for: FacilityID("ivo://ex/tap")) == "ivo://skyport.local/facility/ivo=3A=2F=2Fex=2Ftap")
        #expect(VOSIDocuments.identifier(for: FacilityID("ivo://example.org/")) == "ivo://skyport.local/facility/ivo=3A=2F=2Fexample.org=2F")

        // Such a facility keeps its own id as altIdentifier; with no accepted kind and no description it stays valid.
        let facility = Facility(
            id: FacilityID("ivo://example.org/tap?x=1"), name: "Odd", endpoints: [Endpoint(kind: .executionbroker, url: "https://eb.example.org/")],
            accepts: [], owner: "", created: Date(timeIntervalSince1970: 1_800_000_000), modified: Date(timeIntervalSince1970: 1_800_000_060))
        let record = VOSIDocuments.record(facility, baseURL: "")
        try await VOSISchema.check(record, "a record with a rewritten identifier")
        #expect(record.contains("<identifier>ivo://skyport.local/facility/ivo=3A=2F=2Fexample.org=2Ftap=3Fx=3D1</identifier>"))
        #expect(record.contains("<altIdentifier>ivo://example.org/tap?x=1</altIdentifier>"))
        #expect(record.contains(#"created="2027-01-15T08:00:00Z" updated="2027-01-15T08:01:00Z""#))
        #expect(record.contains("<subject>remote-execution</subject>") && record.contains("<publisher>Skyport</publisher>"))
        #expect(record.contains("<referenceURL>/facilities/ivo%3A%2F%2Fexample.org%2Ftap%3Fx%3D1</referenceURL>"))
    }

    /// pyvo's own VOSI parsers (pedantic) read both documents through a live broker: scripts/pyvo_vosi_check.py.
    @Test func pyvoReadsTheCapabilitiesAndTheAvailability() async throws {
        let env = ProcessInfo.processInfo.environment
        let cache = env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")
        let venv = env["SKYPORT_PYVO_VENV"] ?? (cache + "/skyport/pyvo-venv")
        let python = venv + "/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            if TestPeers.allowMissing { print("NOT RUN: the pyvo VOSI test — pyvo venv absent at \(venv)"); return }
            throw MissingPeer("the pyvo venv is absent at \(venv) (scripts/pyvo_check.sh --install-only; the test command does)")
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../scripts/pyvo_vosi_check.py").standardized.path
        try await TestBroker().run { client in
            let base = "http://127.0.0.1:\(try #require(client.port))"
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("pyvo-vosi-\(UUID().uuidString).json")
            defer { try? FileManager.default.removeItem(at: out) }
            let run = try await vosiRunProcess(python, [script, base], stdout: out)
            let text = try String(contentsOf: out, encoding: .utf8)
            #expect(run.status == 0, "pyvo_vosi_check.py failed: \(run.output)\n\(text)")
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
            #expect(summary["error"] == nil)
            #expect((summary["warnings"] as? [String])?.isEmpty == true, "pyvo warned: \(summary["warnings"] ?? "")")
            let capabilities = try #require(summary["capabilities"] as? [[String: Any]])
            func url(_ standardID: String) -> String? {
                let c = capabilities.first { $0["standardID"] as? String == standardID }
                let interface = (c?["interfaces"] as? [[String: Any]])?.first
                #expect(interface?["type"] as? String == "vs:ParamHTTP")
                return ((interface?["accessURLs"] as? [[String: Any]])?.first)?["url"] as? String
            }
            #expect(url("ivo://ivoa.net/std/UWS#rest-1.1") == base + "/uws/jobs")
            #expect(url("ivo://ivoa.net/std/VOSI#capabilities") == base + "/capabilities")
            #expect(url("ivo://ivoa.net/std/VOSI#availability") == base + "/availability")
            #expect(url("ivo://ivoa.net/std/ExecutionBroker") == base)
            #expect(capabilities.count == 5)
            // pyvo's service mixin finds the same capabilities at {base}/capabilities.
            #expect((summary["mixinStandardIDs"] as? [Any])?.count == 5)
            let availability = try #require(summary["availability"] as? [String: Any])
            #expect(availability["available"] as? Bool == true)
            #expect(availability["upSince"] as? String == Timestamp.format(VOSIController.startedAt))
            #expect((availability["notes"] as? [String])?.count == 1)
        }
    }
}

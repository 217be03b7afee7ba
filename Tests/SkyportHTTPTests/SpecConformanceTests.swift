import Foundation
import HTTPTypes
import HummingbirdTesting
import SkyportCore
import SkyportXML
import NIOCore
import SkyportTestSupport
import Testing

/// The ExecutionBroker v1.0 documents Skyport serves, held against the spec's own JSON schemas by a validator from
/// PyPI (jsonschema, in the test venv; `scripts/eb_schema_check.py` adds discriminator dispatch and refuses fields
/// the spec does not have), and a request that sets every field of the spec, carried into the offers field by field.
@Suite struct SpecConformanceTests {
    static let spec = ExecutionAPITests.transcripts.deletingLastPathComponent().appendingPathComponent("spec-v1.0")
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
    static let everyField = root.appendingPathComponent("fixtures/requests/eb-every-field.json")

    static func python() throws -> String {
        let env = ProcessInfo.processInfo.environment
        let venv = env["SKYPORT_PYVO_VENV"] ?? ((env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/skyport/pyvo-venv")
        let python = venv + "/bin/python"
        try TestPeers.requirePresent(
            FileManager.default.isExecutableFile(atPath: python), "the test venv is absent at \(venv) (scripts/pyvo_check.sh --install-only; the test command does)")
        return python
    }

    /// A facility that runs every kind, holds the samples' RSEs and has room for every transcript request.
    static let facility = computeFacility(
        "everything", cores: 64, memory: 64, capacityCores: 4_096, capacityMemory: 4_096,
        accepts: ["jupyter-notebook", "docker-container", "singularity-container", "binder-notebook", "tap-query"], rses: ["SKA_SRC_01"])

    /// Runs the validator over files; returns its exit status and what it printed.
    static func validate(_ schema: String, _ files: [URL]) async throws -> (Int32, String) {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("eb-check-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: out) }
        let script = root.appendingPathComponent("scripts/eb_schema_check.py").path
        let run = try await vosiRunProcess(
            try python(), [script, "--spec", spec.path, "--extension-kind", "urn:skyport:kinds:", schema] + files.map(\.path), stdout: out)
        return (run.status, ((try? String(contentsOf: out, encoding: .utf8)) ?? "") + run.output)
    }

    @Test func everyOfferSetAndSessionServedForTheTranscriptsIsValidAgainstTheSpec() async throws {
        let files = ExecutionAPITests.transcriptRequests.filter { !$0.contains("reject") && !$0.contains("accept") }
        try #require(!files.isEmpty, "the shared samples are absent at \(ExecutionAPITests.transcripts.path)")
        _ = try Self.python()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("eb-conformance-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (setTexts, sessionTexts) = try await TestBroker().run { (client: any TestClientProtocol) async throws -> ([(String, String)], [(String, String)]) in
            var sets: [(String, String)] = [], sessions: [(String, String)] = []
            func keep(_ text: String, _ name: String, into list: inout [(String, String)]) { list.append((name, text)) }
            _ = try await client.send(.post, "/facilities", json: Self.facility, token: TestBroker.aliceToken)
            let documents = try files.map { f in
                (f.replacingOccurrences(of: "/", with: "_"), try String(contentsOf: ExecutionAPITests.transcripts.appendingPathComponent(f), encoding: .utf8), f.hasSuffix(".json"))
            } + [("every-field", try String(contentsOf: Self.everyField, encoding: .utf8), true)]
            for (name, text, isJSON) in documents {
                let asked = try await client.send(.post, "/requests", json: isJSON ? text : nil, yaml: isJSON ? nil : text)
                #expect(asked.status == .seeOther, "\(name): \(asked.text)")
                keep(asked.text, "set-\(name)", into: &sets)
                let made = offers(try asked.json())
                #expect(!made.isEmpty, "\(name)")
                for (k, offer) in made.enumerated() {
                    let read = try await client.send(.get, URL(string: sessionURL(offer))!.path)
                    keep(read.text, "session-\(name)-\(k)", into: &sessions)
                }
                if let first = made.first {
                    let accepted = try await client.setPhase(sessionURL(first), "ACCEPTED")
                    #expect(accepted.status == .ok, "\(name): \(accepted.text)")
                    keep(accepted.text, "accepted-\(name)", into: &sessions)
                }
                let direct = try await client.send(.post, "/direct", json: isJSON ? text : nil, yaml: isJSON ? nil : text)
                #expect(direct.status == .seeOther, "\(name): \(direct.text)")
                #expect(try direct.json()["phase"] as? String == "ACCEPTED", "\(name): \(direct.text)")
                keep(direct.text, "direct-\(name)", into: &sessions)
            }
            // A set with no offers, and the FAILED session /direct makes of the same request.
            let refused = #"{"executable": {"kind": "docker-container", "image": {"locations": ["ghcr.io/a/b:1"]}, "privileged": true}}"#
            keep(try await client.send(.post, "/requests", json: refused).text, "set-refused", into: &sets)
            let failed = try await client.send(.post, "/direct", json: refused)
            #expect(try failed.json()["phase"] as? String == "FAILED", "\(failed.text)")
            keep(failed.text, "direct-failed", into: &sessions)
            return (sets, sessions)
        }
        func write(_ docs: [(String, String)]) throws -> [URL] {
            try docs.map { name, text in
                let url = dir.appendingPathComponent(name + ".json")
                try text.write(to: url, atomically: true, encoding: .utf8)
                return url
            }
        }
        let sets = try write(setTexts), sessions = try write(sessionTexts)
        let (setStatus, setReport) = try await Self.validate("OfferSetResponse", sets)
        #expect(setStatus == 0, "offer sets against OfferSetResponse:\n\(setReport)")
        let (sessionStatus, sessionReport) = try await Self.validate("Session", sessions)
        #expect(sessionStatus == 0, "sessions against AbstractExecutionSession:\n\(sessionReport)")
        #expect(setReport.contains("\(sets.count) passed") && sessionReport.contains("\(sessions.count) passed"))
    }

    /// A component less what the broker owns (meta uuid, url, created; phase; schedule), for comparing with the request's.
    static func own(_ value: Any?) -> NSDictionary? {
        guard var o = value as? [String: Any] else { return nil }
        o["phase"] = nil
        o["schedule"] = nil
        if var meta = o["meta"] as? [String: Any] {
            for key in ["uuid", "url", "created"] { meta[key] = nil }
            o["meta"] = meta.isEmpty ? nil : meta
        }
        return o as NSDictionary
    }

    /// Everything the request says comes back in each offer as the spec shapes it: the components whole (less what
    /// the broker owns: meta uuid/url/created, phase, schedule), cores and memory inside the asked ranges.
    @Test func aRequestWithEveryFieldComesBackFieldByFieldInItsOffers() async throws {
        let text = try String(contentsOf: Self.everyField, encoding: .utf8)
        let (setText, rereadText) = try await TestBroker().run { (client: any TestClientProtocol) async throws -> (String, String) in
            _ = try await client.send(.post, "/facilities", json: Self.facility, token: TestBroker.aliceToken)
            let asked = try await client.send(.post, "/requests", json: text)
            let first = try #require(offers(try asked.json()).first)
            return (asked.text, try await client.send(.get, URL(string: sessionURL(first))!.path).text)
        }
        let request = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let set = try #require(try JSONSerialization.jsonObject(with: Data(setText.utf8)) as? [String: Any])
        #expect(set["result"] as? String == "YES", "\(setText)")
        let messages = ((set["meta"] as? [String: Any])?["messages"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
        #expect(messages.contains { $0.hasPrefix("costs:") && $0.contains("not evaluate") }, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("metrics:") }, "\(messages)")
        let made = offers(set)
        try #require(!made.isEmpty)
        for offer in made {
            // The executable, whole.
            #expect(Self.own(offer["executable"]) == Self.own(request["executable"]), "executable: \(offer["executable"] ?? "")")
            // The compute resource: its kind, name and volumes as asked; cores and memory negotiated inside the ranges.
            let compute = try #require(offer["compute"] as? [String: Any])
            let askedCompute = try #require(request["compute"] as? [String: Any])
            #expect(compute["kind"] as? String == askedCompute["kind"] as? String)
            #expect((compute["meta"] as? [String: Any])?["name"] as? String == "worker")
            let volumes = (compute["volumes"] as? [Any] ?? []).map(Self.own)
            #expect(volumes == (askedCompute["volumes"] as? [Any] ?? []).map(Self.own), "volumes: \(compute["volumes"] ?? "")")
            let cores = try #require((compute["cores"] as? [String: Any])?["min"] as? Int)
            let memory = try #require((compute["memory"] as? [String: Any])?["min"] as? Int)
            #expect((2...4).contains(cores) && (2...8).contains(memory))
            // Storage, data, costs and metrics, whole and in order.
            for key in ["storage", "data"] {
                let got = (offer[key] as? [Any] ?? []).map(Self.own)
                #expect(got == (request[key] as? [Any] ?? []).map(Self.own), "\(key): \(offer[key] ?? "")")
                for item in offer[key] as? [[String: Any]] ?? [] {
                    #expect(item["phase"] as? String == "INITIALIZING")
                    #expect((item["schedule"] as? [String: Any])?["available"] != nil)
                    #expect(((item["meta"] as? [String: Any])?["uuid"] as? String).flatMap(UUID.init(uuidString:)) != nil)
                }
            }
            #expect((offer["costs"] as? [Any] ?? []).map(Self.own) == (request["costs"] as? [Any] ?? []).map(Self.own))
            #expect((offer["metrics"] as? [Any] ?? []).map(Self.own) == (request["metrics"] as? [Any] ?? []).map(Self.own))
            let schedule = try #require(offer["schedule"] as? [String: Any])
            #expect(Set(schedule.keys) == ["preparing", "available", "releasing"])
            // The session names the request.
            #expect((offer["meta"] as? [String: Any])?["name"] as? String == "every-field")
        }
        // Component uuids are stable: the same on every read, different per session and component.
        let first = try #require(made.first)
        let again = try #require(try JSONSerialization.jsonObject(with: Data(rereadText.utf8)) as? [String: Any])
        #expect(((again["executable"] as? [String: Any])?["meta"] as? [String: Any])?["uuid"] as? String
            == ((first["executable"] as? [String: Any])?["meta"] as? [String: Any])?["uuid"] as? String)
        #expect(Self.own(again["executable"]) == Self.own(request["executable"]))
        let uuids = made.flatMap { o in (o["data"] as? [[String: Any]] ?? []).compactMap { ($0["meta"] as? [String: Any])?["uuid"] as? String } }
        #expect(Set(uuids).count == uuids.count)
    }

    @Test func aPathServedWithAnotherMethodIs405NamingTheMethodsItHas() async throws {
        try await TestBroker().run { (client: any TestClientProtocol) async throws in
            let put = try await client.send(.put, "/requests", json: "{}")
            #expect(put.status == .methodNotAllowed)
            #expect(put.headers[.allow] == "POST, OPTIONS")
            let delete = try await client.send(.delete, "/sessions/00000000-0000-0000-0000-000000000000")
            #expect(delete.status == .methodNotAllowed)
            #expect(delete.headers[.allow] == "GET, POST, OPTIONS")
            // An RFC 9457 problem, in JSON whatever the client accepts.
            #expect(delete.headers[.contentType] == "application/problem+json")
            let problem = try delete.json()
            #expect(problem["code"] as? String == "method-not-allowed")
            #expect(problem["type"] as? String == "urn:skyport:problem:method-not-allowed")
            #expect(problem["title"] as? String == "Method Not Allowed" && problem["status"] as? Int == 405)
            #expect(problem["instance"] as? String == "/sessions/00000000-0000-0000-0000-000000000000")
            #expect((problem["detail"] as? String)?.contains("DELETE") == true)
            let yaml = try await client.send(.trace, "/requests", headers: [.accept: "application/yaml"])
            #expect(yaml.status == .methodNotAllowed && yaml.headers[.contentType] == "application/problem+json")
            #expect(try yaml.json()["status"] as? Int == 405)
            let options = try await client.send(.options, "/facilities")
            #expect(options.status == .noContent)
            #expect(options.headers[.allow] == "GET, POST, OPTIONS")
            #expect(try await client.send(.get, "/no-such-path").status == .notFound)
        }
    }
}

/// The spec's XML media type: requests read from it, offer sets and sessions written in it.
@Suite struct ExecutionBrokerXMLTests {
    static func everyField() throws -> JSONValue {
        try JSONValue.parse(Data(contentsOf: SpecConformanceTests.everyField))
    }

    @Test func aRequestWithEveryFieldReadsBackFromXMLAsTheSameDocument() throws {
        let json = try Self.everyField()
        let xml = ExecutionBrokerXML.write(json, root: "offers-request")
        #expect(xml.contains(#"<executable kind="https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/executable/docker-container.yaml">"#))
        #expect(xml.contains(#"<environment><entry key="LOG_LEVEL">debug</entry>"#))
        #expect(xml.contains("<locations>ghcr.io/ivoa/oligia-webtop:ubuntu-2022.01.13</locations><locations>"))
        #expect(try ExecutionBrokerXML.read(Data(xml.utf8)) == json)
    }

    @Test func xmlThatIsNotWellFormedOrDeclaresEntitiesIsRefused() {
        #expect(throws: (any Error).self) { try ExecutionBrokerXML.read(Data("<offers-request><executable>".utf8)) }
        let bomb = #"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><offers-request>&a;</offers-request>"#
        #expect(throws: (any Error).self) { try ExecutionBrokerXML.read(Data(bomb.utf8)) }
    }

    @Test func requestsArePostedAndOfferSetsAndSessionsReadInXML() async throws {
        let json = try Self.everyField()
        let xml = ExecutionBrokerXML.write(json, root: "offers-request")
        let jsonText = try String(contentsOf: SpecConformanceTests.everyField, encoding: .utf8)
        let (fromJSON, fromXML, setXML, sessionXML) = try await TestBroker().run { (client: any TestClientProtocol) async throws -> (String, String, String, String) in
            _ = try await client.send(.post, "/facilities", json: SpecConformanceTests.facility, token: TestBroker.aliceToken)
            let a = try await client.send(.post, "/requests", json: jsonText)
            let b = try await client.execute(
                uri: "/requests", method: .post, headers: [.contentType: "application/xml"], body: ByteBuffer(string: xml))
            #expect(b.status == .seeOther, "\(b.text)")
            let setPath = try #require(b.headers[.location].flatMap { URL(string: $0)?.path })
            let set = try await client.execute(uri: setPath, method: .get, headers: [.accept: "application/xml"], body: nil)
            #expect(set.headers[.contentType] == "application/xml")
            let first = try #require(offers(try b.json()).first)
            let session = try await client.execute(uri: URL(string: sessionURL(first))!.path, method: .get, headers: [.accept: "application/xml"], body: nil)
            return (a.text, b.text, set.text, session.text)
        }
        // The XML request is understood exactly as the JSON one.
        let understoodJSON = try JSONValue.parse(Data(fromJSON.utf8))["request"]
        let understoodXML = try JSONValue.parse(Data(fromXML.utf8))["request"]
        #expect(understoodJSON == understoodXML)
        // The offer set and the session in XML: the spec's roots, kinds as attributes, offers wrapped.
        #expect(setXML.contains("<offers-response kind=") && setXML.contains("<offers><execution kind="))
        #expect(sessionXML.contains("<execution kind="))
        let session = try ExecutionBrokerXML.read(Data(sessionXML.utf8))
        let setObject = try #require(JSONSerialization.jsonObject(with: Data(fromXML.utf8)) as? [String: Any])
        let offered = try #require(offers(setObject).first)
        let executable = try JSONValue.parse(JSONSerialization.data(withJSONObject: offered["executable"] as Any))
        #expect(session["executable"] == executable)
    }
}

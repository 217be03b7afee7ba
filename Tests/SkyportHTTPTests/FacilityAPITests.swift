import Foundation
import HTTPTypes
import HummingbirdTesting
import SkyportCore
import SkyportStore
import Testing

@Suite struct FacilityAPITests {
    @Test func registerThenReadBackUnderAnySpelling() async throws {
        try await TestBroker().run { client in
            // When alice registers a facility
            let created = try await client.send(.post, "/facilities", json: facilityJSON(), token: TestBroker.aliceToken)
            // Then it is created, with a Location and server-set fields
            #expect(created.status == .created)
            #expect(created.headers[.location] == tapPath)
            let body = try created.json()
            #expect(body["owner"] as? String == "alice")
            #expect(body["status"] as? String == "active")
            #expect((body["created"] as? String)?.hasSuffix("Z") == true)
            #expect((body["limits"] as? [String: Any])?["duration"] as? String == "PT2H")

            // And it reads back, its identifier compared case-insensitively
            let read = try await client.send(.get, "/facilities/IVO%3A%2F%2FEXAMPLE.ORG%2FTAP")
            #expect(read.status == .ok)
            #expect(try read.json()["id"] as? String == "ivo://example.org/tap")
        }
    }

    @Test func yamlInAndYamlOut() async throws {
        try await TestBroker().run { client in
            let yaml = """
                id: binder-one
                name: A BinderHub
                endpoints:
                  - kind: binderhub
                    url: https://binder.example.org/
                accepts: [binder-notebook, "https://www.purl.org/ivoa.net/EB/schema/v1.0/types/executable/jupyter-notebook-1.0"]
                limits: {cores: 2, memory: 4, duration: P1D}
                """
            let created = try await client.send(.post, "/facilities", yaml: yaml, token: TestBroker.aliceToken)
            #expect(created.status == .created)
            // The kind URI is understood as the jupyter-notebook alias.
            #expect(try created.json()["accepts"] as? [String] == ["binder-notebook", "jupyter-notebook"])

            let read = try await client.send(.get, "/facilities/binder-one", headers: [.accept: "application/yaml"])
            #expect(read.headers[.contentType] == "application/yaml")
            #expect(read.text.contains("id: binder-one"))
            #expect(read.text.contains("duration: P1D"))
        }
    }

    @Test func listFiltersByAcceptsAndStatus() async throws {
        try await TestBroker().run { client in
            _ = try await client.send(.post, "/facilities", json: facilityJSON(id: "tap-a"), token: TestBroker.aliceToken)
            _ = try await client.send(
                .post, "/facilities", json: facilityJSON(id: "nb-b", accepts: #"["jupyter-notebook"]"#, extra: #", "status": "draining""#),
                token: TestBroker.bobToken)

            let all = try await client.send(.get, "/facilities").json()
            #expect(all["count"] as? Int == 2)
            let taps = try await client.send(.get, "/facilities?accepts=tap-query").json()
            #expect((taps["facilities"] as? [[String: Any]])?.map { $0["id"] as? String } == ["tap-a"])
            let draining = try await client.send(.get, "/facilities?status=draining").json()
            #expect((draining["facilities"] as? [[String: Any]])?.map { $0["id"] as? String } == ["nb-b"])
            let byURI = try await client.send(
                .get, "/facilities?accepts=https%3A%2F%2Fwww.purl.org%2Fivoa.net%2FCalycopis-openapi%2Fschema%2Fv1.0%2Fkinds%2Fexecutable%2Fjupyter-notebook.yaml")
            #expect(try byURI.json()["count"] as? Int == 1)

            // A kind no facility can run lists none (as matching rejects it), rather than refusing the question.
            let noKind = try await client.send(.get, "/facilities?accepts=teleporter")
            #expect(noKind.status == .ok)
            #expect(try noKind.json()["count"] as? Int == 0)
            let badStatus = try await client.send(.get, "/facilities?status=sleeping")
            #expect(badStatus.status == .badRequest)
            #expect(try badStatus.errorFields() == ["status"])
        }
    }

    @Test func replaceKeepsIdentityOwnerAndCreation() async throws {
        try await TestBroker().run { client in
            let created = try await client.send(.post, "/facilities", json: facilityJSON(), token: TestBroker.aliceToken).json()
            try await Task.sleep(for: .milliseconds(1100))
            let replaced = try await client.send(
                .put, "/facilities/IVO%3A%2F%2FExample.org%2Ftap", json: facilityJSON(id: "ivo://EXAMPLE.org/tap", name: "Renamed"),
                token: TestBroker.aliceToken)
            #expect(replaced.status == .ok)
            let body = try replaced.json()
            #expect(body["name"] as? String == "Renamed")
            #expect(body["id"] as? String == "ivo://example.org/tap")
            #expect(body["created"] as? String == created["created"] as? String)
            #expect(body["modified"] as? String != created["modified"] as? String)
            #expect(try await client.send(.get, tapPath).json()["name"] as? String == "Renamed")

            // An id in the body that names another facility is refused.
            let mismatch = try await client.send(.put, tapPath, json: facilityJSON(id: "other"), token: TestBroker.aliceToken)
            #expect(mismatch.status == .unprocessableContent)
            #expect(try mismatch.errorFields() == ["id"])
            // Replacing what does not exist is 404.
            let missing = try await client.send(.put, "/facilities/nothing", json: facilityJSON(id: "nothing"), token: TestBroker.aliceToken)
            #expect(missing.status == .notFound)
        }
    }

    @Test func deleteRemovesOnlyOnce() async throws {
        try await TestBroker().run { client in
            _ = try await client.send(.post, "/facilities", json: facilityJSON(), token: TestBroker.aliceToken)
            #expect(try await client.send(.delete, tapPath, token: TestBroker.aliceToken).status == .noContent)
            #expect(try await client.send(.get, tapPath).status == .notFound)
            #expect(try await client.send(.delete, tapPath, token: TestBroker.aliceToken).status == .notFound)
        }
    }

    @Test func writesNeedAValidTokenAndOnlyTheOwnerMayChange() async throws {
        try await TestBroker().run { client in
            // No token, a malformed header, an unknown token: 401 with a challenge.
            for headers: HTTPFields in [[:], [.authorization: "Basic YWxpY2U6eA=="], [.authorization: "Bearer skp_not-a-token"]] {
                let r = try await client.send(.post, "/facilities", json: facilityJSON(), headers: headers)
                #expect(r.status == .unauthorized)
                #expect(r.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                #expect(try r.json()["code"] as? String == "unauthorized")
            }
            #expect(try await client.send(.get, tapPath).status == .notFound)

            _ = try await client.send(.post, "/facilities", json: facilityJSON(), token: TestBroker.aliceToken)
            // Bob may read alice's facility but not change or remove it.
            #expect(try await client.send(.get, tapPath, token: TestBroker.bobToken).status == .ok)
            let put = try await client.send(.put, tapPath, json: facilityJSON(name: "Bob's now"), token: TestBroker.bobToken)
            #expect(put.status == .forbidden)
            #expect(try await client.send(.delete, tapPath, token: TestBroker.bobToken).status == .forbidden)
            #expect(try await client.send(.put, tapPath, json: facilityJSON(), headers: [:]).status == .unauthorized)
            #expect(try await client.send(.get, tapPath).json()["name"] as? String == "Example TAP")
        }
    }

    /// Each bad document and the field its error must name.
    static let invalidDocuments: [(label: String, document: String, field: String)] = [
        ("unknown endpoint kind", facilityJSON().replacingOccurrences(of: #""kind": "uws""#, with: #""kind": "ftp""#), "endpoints[0].kind"),
        ("non-http URL", facilityJSON().replacingOccurrences(of: "http://127.0.0.1:8080/tap/async", with: "ftp://example.org/x"), "endpoints[0].url"),
        ("relative URL", facilityJSON().replacingOccurrences(of: "http://127.0.0.1:8080/tap/async", with: "/tap/async"), "endpoints[0].url"),
        ("negative cores", facilityJSON().replacingOccurrences(of: #""cores": 4"#, with: #""cores": -4"#), "limits.cores"),
        ("absurd memory", facilityJSON().replacingOccurrences(of: #""memory": 64"#, with: #""memory": 99999999999"#), "capacity.memory"),
        ("bad duration", facilityJSON().replacingOccurrences(of: "PT2H", with: "two hours"), "limits.duration"),
        ("capacity below limit", facilityJSON().replacingOccurrences(of: #""capacity": {"cores": 16"#, with: #""capacity": {"cores": 2"#), "capacity.cores"),
        ("unknown executable kind", facilityJSON(accepts: #"["teleporter"]"#), "accepts[0]"),
        ("no accepts", facilityJSON(accepts: "[]"), "accepts"),
        ("bad id", facilityJSON(id: "has space"), "id"),
        ("bad status", facilityJSON(extra: #", "status": "asleep""#), "status"),
        ("bad RSE", facilityJSON().replacingOccurrences(of: "SKA_SRC_01", with: "SKA SRC/01"), "data.rses[0]"),
        ("misspelt field", facilityJSON(extra: #", "acepts": ["tap-query"]"#), "acepts"),
        ("empty name", facilityJSON(name: " "), "name"),
    ]

    @Test(arguments: invalidDocuments.map(\.label))
    func invalidDocumentNamesTheFieldAndStoresNothing(_ label: String) async throws {
        let (_, document, field) = try #require(Self.invalidDocuments.first { $0.label == label })
        try await TestBroker().run { client in
            let r = try await client.send(.post, "/facilities", json: document, token: TestBroker.aliceToken)
            #expect(r.status == .unprocessableContent, "\(label)")
            #expect(try r.errorFields().contains(field), "\(label): \(r.text)")
            #expect(try await client.send(.get, "/facilities").json()["count"] as? Int == 0)
        }
    }

    @Test func malformedBodiesAre400() async throws {
        try await TestBroker().run { client in
            for (json, yaml) in [(#"{"id": "x", "name": "#, nil), (nil, "id: [unclosed\nname: x"), ("", nil)] as [(String?, String?)] {
                let r = try await client.send(.post, "/facilities", json: json, yaml: yaml, token: TestBroker.aliceToken)
                #expect(r.status == .badRequest, "\(json ?? yaml ?? "")")
                #expect(try r.errorFields() == ["body"], "\(r.text)")
            }
            let xml = try await client.send(
                .post, "/facilities", token: TestBroker.aliceToken, headers: [.contentType: "application/xml"])
            #expect(xml.status == .unsupportedMediaType)
            #expect(try await client.send(.get, "/facilities").json()["count"] as? Int == 0)
        }
    }

    @Test func wronglyTypedFieldsAreAllNamedAtOnce() async throws {
        try await TestBroker().run { client in
            let doc = facilityJSON(accepts: #""tap-query""#)
                .replacingOccurrences(of: #""cores": 4"#, with: #""cores": "four""#)
                .replacingOccurrences(of: #""memory": 64"#, with: #""memory": 6.5"#)
            let r = try await client.send(.post, "/facilities", json: doc, token: TestBroker.aliceToken)
            #expect(r.status == .unprocessableContent)
            #expect(Set(try r.errorFields()) == ["accepts", "limits.cores", "capacity.memory"], "\(r.text)")
            let list = try await client.send(.post, "/facilities", json: "[1, 2]", token: TestBroker.aliceToken)
            #expect(list.status == .unprocessableContent)
            #expect(try list.errorFields() == ["body"])
            #expect(try await client.send(.get, "/facilities").json()["count"] as? Int == 0)
        }
    }

    @Test func yamlAliasBombIsRefused() async throws {
        let bomb = """
            a: &a ["x","x","x","x","x","x","x","x","x"]
            b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
            c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
            d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
            e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
            f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
            g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
            """
        try await TestBroker().run { client in
            let r = try await client.send(.post, "/facilities", yaml: bomb, token: TestBroker.aliceToken)
            #expect(r.status == .badRequest)
        }
    }

    @Test func duplicateIdentifierIs409WhateverItsCase() async throws {
        try await TestBroker().run { client in
            #expect(try await client.send(.post, "/facilities", json: facilityJSON(), token: TestBroker.aliceToken).status == .created)
            let again = try await client.send(.post, "/facilities", json: facilityJSON(id: "IVO://Example.Org/tap"), token: TestBroker.bobToken)
            #expect(again.status == .conflict)
            #expect(try again.json()["code"] as? String == "duplicate")
            #expect(try await client.send(.get, tapPath).json()["owner"] as? String == "alice")
        }
    }

    @Test func oversizedBodyIs413() async throws {
        try await TestBroker(maxBodyBytes: 4_096).run { client in
            let big = facilityJSON(extra: #", "description": ""# + String(repeating: "x", count: 8_000) + "\"")
            let r = try await client.send(.post, "/facilities", json: big, token: TestBroker.aliceToken)
            #expect(r.status == .contentTooLarge)
            #expect(try r.json()["code"] as? String == "body-too-large")
            #expect(try await client.send(.get, "/facilities").json()["count"] as? Int == 0)
        }
    }

    @Test func unknownRouteIsAJSON404AndRequestIDsComeBack() async throws {
        try await TestBroker().run { client in
            let r = try await client.send(.get, "/no/such/thing", headers: [.init("X-Request-Id")!: "trace-me-42"])
            #expect(r.status == .notFound)
            #expect(r.headers[.init("X-Request-Id")!] == "trace-me-42")
            #expect(try r.json()["requestId"] as? String == "trace-me-42")
            let generated = try await client.send(.get, "/health")
            #expect((generated.headers[.init("X-Request-Id")!] ?? "").count >= 8)
        }
    }
}

@Suite struct RestartTests {
    @Test func facilitiesAndOperatorsSurviveARestartOnTheSameFile() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skyport-restart-\(UUID().uuidString).sqlite").path
        try await TestBroker(store: try SQLiteStore(path: path)).run { client in
            let created = try await client.send(.post, "/facilities", json: facilityJSON(), token: TestBroker.aliceToken)
            #expect(created.status == .created)
        }
        // A new process opens the same file.
        try await TestBroker(store: try SQLiteStore(path: path)).run { client in
            let read = try await client.send(.get, tapPath)
            #expect(read.status == .ok)
            #expect(try read.json()["owner"] as? String == "alice")
            #expect(try await client.send(.delete, tapPath, token: TestBroker.aliceToken).status == .noContent)
        }
    }
}

@Suite struct FixtureTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../fixtures/facilities")

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
    }

    @Test func everyFacilityFixtureRegisters() async throws {
        let files = Self.files
        #expect(files.count >= 3)
        try await TestBroker().run { client in
            for file in files {
                let text = try String(contentsOf: Self.directory.appendingPathComponent(file), encoding: .utf8)
                let r = file.hasSuffix(".json")
                    ? try await client.send(.post, "/facilities", json: text, token: TestBroker.aliceToken)
                    : try await client.send(.post, "/facilities", yaml: text, token: TestBroker.aliceToken)
                #expect(r.status == .created, "\(file): \(r.text)")
            }
            #expect(try await client.send(.get, "/facilities").json()["count"] as? Int == files.count)
        }
    }
}

/// A body announced larger than the limit is refused before any of it is read.
@Suite struct DeclaredBodyLengthTests {
    @Test func aDeclaredLengthOverTheLimitIsRefusedAtOnceThoughTheBodyNeverComes() async throws {
        try await TestBroker(maxBodyBytes: 4_096).run { client in
            let port = try #require(client.port)
            // 10 GB announced, 10 bytes sent, the connection kept open: the answer must still come. The blocking reads
            // run on their own thread: on the concurrency pool they could hold the very threads the server answers on.
            let answer = try await offThread {
                try RawConnection.exchange(
                    port: port, "POST /requests HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n{\"a\": 1}  ")
            }
            #expect(answer.hasPrefix("HTTP/1.1 413"))
            #expect(answer.contains("body-too-large"))
            let garbage = try await offThread { try RawConnection.exchange(port: port, "POST /requests HTTP/1.1\r\nHost: localhost\r\nContent-Length: 12abc\r\n\r\n") }
            #expect(garbage.hasPrefix("HTTP/1.1 400"))
        }
    }
}

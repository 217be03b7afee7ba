import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SkyportCore
import Testing

/// Every URL field that Skyport will later call or clone is judged where it enters, by the broker's egress rule:
/// with the default rule (no `SKYPORT_EGRESS_ALLOW`), internal destinations are a 422 naming the field.
@Suite struct EgressAPITests {
    /// A broker without the tests' loopback allowance: the production default.
    static func strictBroker() async throws -> TestBroker {
        var broker = try await TestBroker()
        broker.config.egress = EgressPolicy()
        return broker
    }

    static let internalURLs = [
        "http://127.0.0.1:8080/tap/async", "http://localhost/tap/async", "http://[::1]/tap/async", "http://0.0.0.0:8090/",
        "http://2130706433/tap/async", "http://0x7f.1/tap/async", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/tap/async",
        "http://172.16.5.4/tap/async", "http://192.168.0.10/tap/async", "http://100.64.0.1/tap/async", "http://[fc00::1]/tap/async",
        "http://[fe80::1]/tap/async", "http://[::ffff:127.0.0.1]/tap/async", "http://224.0.0.1/", "http://255.255.255.255/",
    ]

    @Test(arguments: internalURLs)
    func aFacilityEndpointOnAnInternalAddressIsRefusedNamingTheField(_ url: String) async throws {
        try await Self.strictBroker().run { client in
            let document = facilityJSON().replacingOccurrences(of: "http://127.0.0.1:8080/tap/async", with: url)
            let r = try await client.send(.post, "/facilities", json: document, token: TestBroker.aliceToken)
            #expect(r.status == .unprocessableContent, "\(url): \(r.text)")
            let fields = try r.errorFields()
            #expect(fields == ["endpoints[0].url"], "\(url)")
        }
    }

    @Test func aPublicEndpointIsRegistered() async throws {
        try await Self.strictBroker().run { client in
            let document = facilityJSON().replacingOccurrences(of: "http://127.0.0.1:8080/tap/async", with: "https://tap.example.org/tap/async")
            let r = try await client.send(.post, "/facilities", json: document, token: TestBroker.aliceToken)
            #expect(r.status == .created, "\(r.text)")
        }
    }

    @Test(arguments: ["http://127.0.0.1:9/notify", "http://169.254.169.254/", "http://[::1]:8090/health", "http://0177.0.0.1/x"])
    func anInternalCallbackIsRefusedNamingTheField(_ url: String) async throws {
        try await Self.strictBroker().run { client in
            let body = #"{"name": "q", "executable": {"kind": "jupyter-notebook", "location": "https://example.org/nb.ipynb"}, "callback": "\#(url)"}"#
            let r = try await client.send(.post, "/requests", json: body)
            #expect(r.status == .unprocessableContent, "\(r.text)")
            let fields = try r.errorFields()
            #expect(fields.contains("callback"), "\(r.text)")
        }
    }

    /// The ExecutionBroker schemas allow any repository: one the broker will not clone is answered NO, naming it.
    @Test func internalRepositoriesAreRefusedNamingTheField() async throws {
        try await Self.strictBroker().run { client in
            for (body, field) in [
                (#"{"executable": {"kind": "binder-notebook", "repository": "http://10.0.0.1/secret.git"}}"#, "executable.repository"),
                (#"{"executable": {"kind": "binder-notebook"}, "software": {"@type": "SoftwareSourceCode", "codeRepository": "http://[::1]/x.git"}}"#,
                 "software.codeRepository"),
                (#"{"executable": {"kind": "binder-notebook", "repository": "git://github.com/x/y.git"}}"#, "executable.repository"),
            ] {
                let r = try await client.send(.post, "/requests", json: body)
                #expect(r.status == .seeOther, "\(r.text)")
                let set = try r.json()
                #expect(set["result"] as? String == "NO")
                let refused = refusedMessages(set)
                #expect(refused.contains { $0.hasPrefix("\(field): the broker does not clone this repository") }, "\(refused)")
            }
        }
    }

    /// Data the facility downloads for the job (a request's `data`, the basket's URL items) is nobody's data when it
    /// lives at an internal address.
    @Test func internalDataURLsAreRefusedNamingTheItem() async throws {
        try await Self.strictBroker().run { client in
            let body = #"""
                {"executable": {"kind": "jupyter-notebook", "location": "https://example.org/nb.ipynb"},
                 "data": [{"kind": "simple-data-resource", "location": "https://example.org/ok.fits"},
                          {"kind": "simple-data-resource", "location": "http://169.254.169.254/latest/meta-data/iam"}],
                 "basket": [{"archive": "astron_vo", "record": {"url": "http://10.0.0.5/internal.fits"}}]}
                """#
            // The ExecutionBroker schemas allow any location: the answer is NO, naming each refused item; nothing is fetched.
            let r = try await client.send(.post, "/requests", json: body)
            #expect(r.status == .seeOther, "\(r.text)")
            let set = try r.json()
            #expect(set["result"] as? String == "NO")
            let refused = refusedMessages(set)
            #expect(refused.contains { $0.hasPrefix("data[1]:") } && !refused.contains { $0.hasPrefix("data[0]:") }, "\(refused)")
            #expect(refused.contains { $0.hasPrefix("basket[0]") }, "\(refused)")
        }
    }

    @Test func anInternalRegistrySourceIsRefusedNamingTheField() async throws {
        try await Self.strictBroker().run { client in
            let r = try await client.send(.post, "/registry/sources", json: #"{"url": "http://169.254.169.254/oai"}"#, token: TestBroker.aliceToken)
            #expect(r.status == .unprocessableContent, "\(r.text)")
            let fields = try r.errorFields()
            #expect(fields == ["url"])
        }
    }

    @Test func aUWSJobWithAnInternalCallbackIsRefused() async throws {
        try await Self.strictBroker().run { client in
            let request = #"{"executable": {"kind": "jupyter-notebook", "location": "https://example.org/nb.ipynb"}, "callback": "http://127.0.0.1:9/x"}"#
            let r = try await client.uws(.post, "/uws/jobs", form: [("request", request)])
            #expect(r.status.code >= 400 && r.status.code < 500, "\(r.text)")
            #expect(r.text.contains("callback"), "\(r.text)")
        }
    }
}

import Foundation
import HTTPTypes
import SkyportTestSupport
import Testing

/// Facility documents at the spec's every bound are taken (issue 18): schemathesis must allow a 422 on facilities for
/// their cross-field rules, so these hold the single-field bounds the spec states to what the server takes. One past
/// a bound is refused naming the field.
@Suite struct SpecMaximaTests {
    static func document(_ id: String, _ extra: [String: Any]) throws -> String {
        var doc: [String: Any] = [
            "id": id, "name": "Facility \(id)", "endpoints": [["kind": "uws", "url": "https://\(id).example.org/tap/async"]],
            "accepts": ["tap-query"],
        ]
        doc.merge(extra) { _, new in new }
        return String(decoding: try JSONSerialization.data(withJSONObject: doc), as: UTF8.self)
    }

    static var scalars: [String: Any] { [
        "name": String(repeating: "é", count: 256), "description": String(repeating: "ü", count: 16_384),
        "limits": ["cores": 10_000_000, "memory": 1_073_741_824, "gpus": 1_000_000, "scratch": 1_073_741_824, "duration": "P366D"] as [String: Any],
        "capacity": ["cores": 10_000_000, "memory": 1_073_741_824, "gpus": 1_000_000],
        "data": ["bandwidth": 10_000_000], "hardware": ["gpu": ["memory": 1_048_576, "models": ["A100"]] as [String: Any]],
        "endpoints": (0..<32).map { ["kind": "uws", "url": "https://e\($0).example.org/" + String(repeating: "p", count: 2_000)] as [String: Any] },
    ] }

    static var lists: [String: Any] { [
        "accepts": ["jupyter-notebook", "binder-notebook", "docker-container", "singularity-container", "tap-query", "uws-job"]
            + (0..<58).map { "urn:kind:k\($0)" },
        "data": ["rses": (0..<1_024).map { "RSE_\($0)" }],
        "hardware": ["architectures": Array(repeating: "x86_64", count: 256), "gpu": ["models": (0..<256).map { "m\($0)" }]] as [String: Any],
        "software": [
            "environments": (0..<256).map { "env\($0)" }, "registries": (0..<256).map { "r\($0).example.org:5000/ns" },
            "runtimes": (0..<256).map { ["name": "rt\($0)", "versions": ["3.11"]] as [String: Any] },
        ] as [String: Any],
        "capacity": ["cores": 64],
        "access": ["allowGroups": (0..<1_024).map { "/g\($0)" }, "shares": (0..<64).map { ["group": "/g\($0)", "fraction": 1.0 / 64] as [String: Any] }] as [String: Any],
    ] }

    @Test(arguments: ["scalars", "lists"])
    func aFacilityAtEveryBoundIsTaken(_ label: String) async throws {
        let body = try Self.document("max-\(label)", label == "scalars" ? Self.scalars : Self.lists)
        try await TestBroker().run { client in
            let r = try await client.send(.post, "/facilities", json: body, token: TestBroker.aliceToken)
            #expect(r.status == .created, "\(label): \(r.text.prefix(600))")
        }
    }

    static func onePast(_ field: String) -> [String: Any] {
        switch field {
        case "name": ["name": String(repeating: "é", count: 257)]
        case "description": ["description": String(repeating: "ü", count: 16_385)]
        case "limits.cores": ["limits": ["cores": 10_000_001]]
        case "accepts": ["accepts": (0..<65).map { "urn:kind:k\($0)" }]
        case "data.rses": ["data": ["rses": (0..<1_025).map { "RSE_\($0)" }]]
        default: ["software": ["registries": ["ghcr.io/ns:tag"]]]
        }
    }

    @Test(arguments: ["name", "description", "limits.cores", "accepts", "data.rses", "software.registries[0]"])
    func onePastABoundIsRefusedNamingIt(_ field: String) async throws {
        let body = try Self.document("over", Self.onePast(field))
        try await TestBroker().run { client in
            let r = try await client.send(.post, "/facilities", json: body, token: TestBroker.aliceToken)
            #expect(r.status == .unprocessableContent, "\(field): \(r.text.prefix(400))")
            #expect(try r.errorFields().contains(field), "\(field): \(r.text.prefix(400))")
        }
    }
}

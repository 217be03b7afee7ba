import Foundation
import Hummingbird
import SkyportBroker
import SkyportCore

/// The 2022 ExecutionPlanner probe: a stateless "can this run here?" that books nothing.
/// `GET /accepts?tasktype=...&taskinfo.x=...` or `POST /accepts` with `{tasktype, taskinfo, resources}`.
struct AcceptsController: Controller {
    let deps: APIDependencies

    struct Interface: Encodable {
        struct Info: Encodable { var endpoint: String }
        var servicetype: String
        var serviceinfo: Info
        var facility: String
    }
    struct Reason: Encodable {
        var httpcode: Int?
        var text: String
        var facility: String?
        var code: String?
    }
    struct Resources: Encodable {
        var mincores: Int?
        var maxcores: Int?
        var minmemory: String?
        var maxmemory: String?
        var minduration: String?
        var maxduration: String?
    }
    struct Answer: Encodable {
        struct Info: Encodable { var reasons: [Reason] }
        var responseword: String
        /// The note's own spelling, for clients written against it.
        var reponseword: String
        var interfaces: [Interface]
        var resources: Resources
        var reponseinfo: Info?
    }

    func register(on table: inout RouteTable<SkyportRequestContext>) {
        table.add(.get, "/accepts") { request, context in
            var query: [String: String] = [:]
            for (k, v) in request.uri.queryParameters { query[String(k)] = String(v) }
            return try await answer(try AcceptsProbe.parse(query: query), request, audience: context.reasonAudience, requester: context.requester)
        }
        table.add(.post, "/accepts") { request, context in
            let document = try await APIContract.readBody(request, limit: deps.maxBodyBytes, .post, "/accepts")
            return try await answer(try AcceptsProbe.parse(document: document), request, audience: context.reasonAudience, requester: context.requester)
        }
    }

    func answer(_ probe: NormalisedRequest, _ request: Request, audience: ReasonAudience, requester: Requester) async throws -> Response {
        let refusals = probe.refusals ?? []
        let outcome = refusals.isEmpty ? try await deps.broker.negotiation.probe(probe, requester: requester) : nil
        let candidates = outcome?.candidates ?? []
        let word = candidates.isEmpty ? "NO" : "YES"
        let interfaces = candidates.flatMap { c in
            c.facility.endpoints.map {
                Interface(servicetype: Self.serviceType($0.kind), serviceinfo: .init(endpoint: $0.url), facility: c.facility.id.rawValue)
            }
        }
        var reasons = refusals.map { Reason(httpcode: nil, text: "\($0.field): \($0.message)", facility: nil, code: "request-refused") }
        if probe.executable.kind == nil {
            reasons.append(Reason(httpcode: nil, text: "the task type is not understood", facility: nil, code: "kind-unknown"))
        }
        if candidates.isEmpty, let outcome {
            if outcome.rejections.isEmpty { reasons.append(Reason(httpcode: nil, text: "no facility is registered", facility: nil, code: nil)) }
            for r in outcome.rejections {
                for reason in r.reasons {
                    reasons.append(Reason(httpcode: nil, text: reason.message(for: audience), facility: r.facility.rawValue, code: reason.code.rawValue))
                }
            }
        }
        // The resources echoed back, extended with what the best facility allows (as the note's examples do).
        let best = candidates.first?.facility
        let resources = Resources(
            mincores: probe.cores?.min, maxcores: probe.cores?.max ?? best?.limits.cores,
            minmemory: probe.memory?.min.map { "\($0)GiB" }, maxmemory: (probe.memory?.max ?? best?.limits.memory).map { "\($0)GiB" },
            minduration: probe.duration?.description, maxduration: best?.limits.duration?.description)
        let body = Answer(
            responseword: word, reponseword: word, interfaces: interfaces, resources: resources,
            reponseinfo: reasons.isEmpty ? nil : .init(reasons: reasons))
        return try Representation.response(body, for: request)
    }

    /// The 2022 note's service-type URIs for Skyport's endpoint kinds.
    static func serviceType(_ kind: EndpointKind) -> String {
        switch kind {
        case .uws: return "uri://uws"
        case .djangoUWS: return "uri://django-uws"
        case .binderhub: return "uri://binder-hub"
        case .executionbroker: return "uri://execution-broker"
        }
    }
}

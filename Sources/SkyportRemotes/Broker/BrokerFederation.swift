import AsyncHTTPClient
import Foundation
import Logging
import SkyportCore
import Synchronization

/// Asks other ExecutionBrokers for offers, as the ExecutionBroker draft's aggregator does: the normalised request is
/// written out as a request document and POSTed to each broker's `/requests` at once; each call has its own deadline
/// (the endpoint's `offerDeadline`, else the default), after which it is cancelled and the broker is listed as late.
/// The 303's body is read when it is the offer set (Skyport and Calycopis send it); otherwise its `Location` is
/// followed within what is left of the deadline, when it stays on the broker's origins (`BrokerQuestion.origins`);
/// offers whose sessions are elsewhere are dropped. Each refusal is logged and counted by the egress gate.
public struct BrokerFederation: OfferForwarder {
    public let brokerID: String
    let egress: Egress
    let credentials: Credentials
    let logger: Logger
    /// How long each broker (by endpoint URL) took to answer last time: the slowest are asked first, so that the
    /// answer that decides when the offer set is complete is not held up by sending the others' questions.
    let latencies = Latencies()
    /// Told of each broker's answer: in time, late or unreachable, and how long it took.
    public var telemetry = Telemetry.off

    public init(brokerID: String, egress: Egress, credentials: Credentials = .init(), logger: Logger) {
        self.brokerID = brokerID
        self.egress = egress
        self.credentials = credentials
        self.logger = logger
    }

    public func ask(
        _ request: NormalisedRequest, of brokers: [BrokerQuestion], path: FederationPath,
        each: @escaping @Sendable (FacilityID, BrokerAnswer) async -> Void
    ) async -> [FacilityID: BrokerAnswer] {
        guard !brokers.isEmpty else { return [:] }
        let body: Data
        do {
            body = try JSONEncoder().encode(RequestDocument.write(request))
        } catch {
            return Dictionary(brokers.map { ($0.facility, .failed("cannot write the request: \(error)")) }, uniquingKeysWith: { a, _ in a })
        }
        let via = path.adding(brokerID).headerValue
        let ordered = latencies.slowestFirst(brokers)
        return await withTaskGroup(of: (FacilityID, BrokerAnswer).self) { group in
            for question in ordered {
                group.addTask {
                    let started = ContinuousClock.now
                    let answer = await self.ask(question, body: body, via: via)
                    let took = ContinuousClock.now - started
                    self.latencies.record(question.endpoint.url, took)
                    let outcome: FederationOutcome = switch answer {
                    case .offers, .noOffers: .inTime
                    case .late: .late
                    case .loop, .failed: .unreachable
                    }
                    self.telemetry.record(.federationAnswer(broker: question.facility, outcome: outcome, seconds: took.seconds))
                    return (question.facility, answer)
                }
            }
            var answers: [FacilityID: BrokerAnswer] = [:]
            for await (id, answer) in group {
                answers[id] = answer
                await each(id, answer)
            }
            return answers
        }
    }

    /// One broker: its answer, or `late` once its deadline has passed, whatever the HTTP layer is doing then.
    func ask(_ q: BrokerQuestion, body: Data, via: String) async -> BrokerAnswer {
        let deadline = ContinuousClock.now + .milliseconds(Int64((q.deadline * 1000).rounded()))
        return await withTaskGroup(of: BrokerAnswer?.self) { group in
            group.addTask { await self.ask(q, body: body, via: via, deadline: deadline) }
            group.addTask {
                try? await Task.sleep(until: deadline + .milliseconds(25))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .late(deadline: q.deadline)
        }
    }

    func ask(_ q: BrokerQuestion, body: Data, via: String, deadline: ContinuousClock.Instant) async -> BrokerAnswer {
        let clock = ContinuousClock()
        func remaining() -> Duration { max(.milliseconds(1), deadline - clock.now) }
        guard let url = Self.requestsURL(q.endpoint.url) else { return .failed("the endpoint URL '\(q.endpoint.url)' is not an http(s) URL") }
        var http = RemoteHTTP(
            egress: egress, purpose: .federation, auth: credentials.auth(for: q.endpoint.url), maxBodyBytes: 4 << 20,
            retry: RetryPolicy(maxAttempts: 1), logger: logger)
        http.authOrigin = Origin(q.endpoint.url)
        do {
            let headers = [("Content-Type", "application/json"), ("Accept", "application/json"), (FederationPath.header, via)]
            var response = try await http.send(.POST, url, headers: headers, body: body, timeout: remaining())
            var document = Self.json(response)
            if response.status == 303 || response.status == 302 || response.status == 301 {
                guard let location = response.location else { return .failed("answered \(response.status) without a Location") }
                guard let origin = Origin(location.absoluteString), q.origins.contains(origin) else {
                    egress.refused(EgressRefusal(.crossOrigin, host: location.host ?? "?"), purpose: .federation)
                    return .failed("answered \(response.status) with a Location on another origin than its endpoint: refused")
                }
                if document?["result"] == nil || document?["offers"] == nil {
                    response = try await http.get(location, accept: "application/json", timeout: remaining())
                    document = Self.json(response)
                }
                response.url = location
            }
            guard let document else {
                return .failed("answered HTTP \(response.status) with \(response.mediaType ?? "no content type"), not a JSON offer set")
            }
            switch RemoteDocuments.offerSet(document, base: response.url) {
            case .success(let answer):
                let (kept, refused) = RemoteDocuments.keepingOrigins(answer, allowed: q.origins)
                for host in refused { egress.refused(EgressRefusal(.crossOrigin, host: host), purpose: .federation) }
                return kept
            case .failure(let problem): return .failed("its offer set cannot be read: \(problem.message)")
            }
        } catch let error as RemoteError where error.kind == .timeout {
            return .late(deadline: q.deadline)
        } catch let error as RemoteError where error.status == 508 {
            return .loop(Self.errorMessage(error) ?? "the request had already passed through it")
        } catch let error as RemoteError {
            return .failed(error.description)
        } catch is CancellationError {
            return .late(deadline: q.deadline)
        } catch {
            return .failed(String(describing: error))
        }
    }

    /// `{base}/requests` (a URL that already ends in `/requests` is kept).
    static func requestsURL(_ endpoint: String) -> URL? {
        guard let url = URL(string: endpoint), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else { return nil }
        if url.path.hasSuffix("/requests") { return url }
        var text = endpoint
        while text.hasSuffix("/") { text.removeLast() }
        return URL(string: text + "/requests")
    }

    static func json(_ response: RemoteHTTP.Response) -> JSONValue? {
        guard !response.body.isEmpty, response.mediaType.map({ $0.contains("json") }) ?? true else { return nil }
        return try? JSONValue.parse(response.body)
    }

    /// The `detail` of a problem document (RFC 9457; older Skyports wrote `message`) in an error's snippet, if there is one.
    static func errorMessage(_ error: RemoteError) -> String? {
        guard let snippet = error.snippet, let range = snippet.range(of: #""(detail|message)": ?"([^"]*)""#, options: .regularExpression) else {
            return error.snippet
        }
        let match = snippet[range]
        return match.split(separator: "\"", omittingEmptySubsequences: false).dropLast().last.map(String.init)
    }
}

/// The last answer time of each broker, by endpoint URL (a bounded table).
final class Latencies: Sendable {
    private let table = Mutex<[String: Duration]>([:])

    func record(_ url: String, _ took: Duration) {
        table.withLock { t in
            if t.count >= 10_000, t[url] == nil { t.removeAll(keepingCapacity: true) }
            t[url] = took
        }
    }

    /// The questions, brokers never heard from first, then by last answer time, longest first.
    func slowestFirst(_ questions: [BrokerQuestion]) -> [BrokerQuestion] {
        let known = table.withLock { t in questions.map { t[$0.endpoint.url] } }
        return zip(questions, known).sorted { a, b in (a.1 ?? .seconds(3600)) > (b.1 ?? .seconds(3600)) }.map(\.0)
    }
}

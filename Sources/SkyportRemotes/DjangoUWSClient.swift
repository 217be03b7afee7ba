import Foundation
import SkyportCore

/// A client for ASTRON's django-uws (ESAP): JSON job documents, `{key, value}` parameters, trailing slashes,
/// a POST-only `phase/` endpoint, no WAIT (waiting polls), no transition checks and a DELETE that answers 500.
public struct DjangoUWSClient: UWSJobService {
    public var http: RemoteHTTP

    /// A client sending everything through `http` (give it `.basic` or `.token(key, scheme: "Token")` auth).
    public init(http: RemoteHTTP) {
        self.http = http
    }

    /// Creates a job; django-uws requires a runId, so one is made up when none is given. The `type` parameter selects its worker.
    public func create(jobList: URL, runId: String?, parameters: [(String, String)]) async throws -> URL {
        let list = Self.slashed(jobList)
        let body = CreateBody(runId: runId ?? "skyport-\(UUID().lowercasedText)",
                              parameters: parameters.map { .init(key: $0.0, value: $0.1) })
        let response = try await http.send(.POST, list, headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
                                           body: try JSONEncoder().encode(body))
        guard (300..<400).contains(response.status) || response.status == 201, let location = response.location else {
            throw RemoteError(.invalidResponse, url: list, status: response.status, body: response.body,
                              message: "job creation must answer 303 with the job's Location")
        }
        return Self.slashed(location)
    }

    public func job(_ job: URL) async throws -> UWSJob {
        let url = Self.slashed(job)
        let response = try await http.get(url, accept: "application/json")
        guard response.status == 200 else {
            throw RemoteError(.invalidResponse, url: url, status: response.status, body: response.body, message: "expected 200 with a JSON job")
        }
        do {
            return try JSONValue.decode(JobDocument.self, from: response.body).uwsJob
        } catch {
            throw RemoteError(.invalidResponse, url: url, status: response.status, body: response.body,
                              message: "not a django-uws job document: \(Self.describe(error))")
        }
    }

    /// Runs a PENDING or HELD job. django-uws checks no transitions (RUN on a finished job leaves it QUEUED for ever),
    /// so a job that is not waiting to run is refused here, before anything is sent.
    public func run(job: URL, before: UWSJob) async throws -> UWSJob {
        guard before.phase == .pending || before.phase == .held else {
            throw RemoteError(.refusedTransition, url: job, message: "will not send PHASE=RUN to a \(before.phase.rawValue) job")
        }
        try await setPhase(job, "RUN")
        let after = try await self.job(job)
        if after.phase == .pending {
            throw RemoteError(.refusedTransition, url: job, message: "PHASE=RUN was answered but the job stayed PENDING")
        }
        return after
    }

    public func abort(job: URL) async throws -> UWSJob {
        try await setPhase(job, "ABORT")
        return try await self.job(job)
    }

    /// Polls with backoff: django-uws has no WAIT.
    public func wait(job: URL, timeout: Duration, knownPhase: UWSPhase?) async throws -> UWSJob {
        try await waitForChange(timeout: timeout, knownPhase: knownPhase, maxBlock: .zero, clock: http.clock) { _, _ in try await self.job(job) }
    }

    /// Sends DELETE; django-uws 0.2 answers 500 (its `destroy` recurses), which is reported as the facility's error.
    public func delete(job: URL) async throws {
        do {
            _ = try await http.send(.DELETE, Self.slashed(job), headers: [("Accept", "application/json")])
        } catch let error as RemoteError where error.status == 404 {
            return
        }
    }

    /// Looks through the job list (django-uws has no filters; it lists newest first).
    public func find(jobList: URL, runId: String) async throws -> URL? {
        let list = Self.slashed(jobList)
        let response = try await http.get(list, accept: "application/json")
        let jobs: [JobDocument]
        do {
            jobs = try JSONValue.decode([JobDocument].self, from: response.body)
        } catch {
            throw RemoteError(.invalidResponse, url: list, status: response.status, body: response.body,
                              message: "not a django-uws job list: \(Self.describe(error))")
        }
        guard let job = jobs.first(where: { $0.runId == runId }) else { return nil }
        return URL(string: job.url ?? job.jobId.text, relativeTo: list).map { Self.slashed($0.absoluteURL) }
    }

    private func setPhase(_ job: URL, _ phase: String) async throws {
        _ = try await http.postForm(Self.slashed(job).appending(path: "phase/"), [("PHASE", phase)], accept: "application/json")
    }

    /// django-uws routes need the trailing slash (a POST without it is a 500).
    static func slashed(_ url: URL) -> URL {
        guard var parts = URLComponents(url: url, resolvingAgainstBaseURL: true), !parts.path.hasSuffix("/") else { return url }
        parts.path += "/"
        return parts.url ?? url
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(key, _): "missing \(key.stringValue)"
        case let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context):
            "bad \(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        case let DecodingError.dataCorrupted(context): context.debugDescription
        default: "\(error)"
        }
    }

    private struct CreateBody: Encodable {
        struct Parameter: Encodable { var key: String, value: String }
        var runId: String
        var parameters: [Parameter]
    }

    /// The JSON job: results carry `key` and a free `value` (mapped to `id` and `href`); errorSummary is a bare
    /// traceback string (mapped to `errorMessage`, without a type); `jobToken` is never read.
    private struct JobDocument: Decodable {
        struct Parameter: Decodable { var key: Loose, value: Loose?, byReference: Bool? }
        struct Result: Decodable { var key: Loose, value: Loose?, size: Int64?, mimeType: String? }
        var url: String?
        var jobId: Loose
        var runId: String?
        var phase: String
        var creationTime: String?
        var parameters: [Parameter]?
        var results: [Result]?
        var errorSummary: Loose?

        var uwsJob: UWSJob {
            UWSJob(jobId: jobId.text, runId: runId, phase: UWSPhase(rawValue: phase.uppercased()) ?? .unknown,
                   creationTime: creationTime.flatMap(DjangoUWSClient.date),
                   parameters: (parameters ?? []).map { UWSParameter(id: $0.key.text, value: $0.value?.text ?? "", byReference: $0.byReference ?? false) },
                   results: (results ?? []).map { UWSResult(id: $0.key.text, href: $0.value?.text ?? "", mimeType: $0.mimeType, size: $0.size) },
                   errorMessage: errorSummary.map(\.text))
        }
    }

    /// A JSON scalar read as text (django-uws ids are integers, worker values may be anything).
    private struct Loose: Decodable {
        var text: String
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) { text = s }
            else if let i = try? c.decode(Int64.self) { text = String(i) }
            else if let d = try? c.decode(Double.self) { text = String(d) }
            else if let b = try? c.decode(Bool.self) { text = String(b) }
            else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a string or number") }
        }
    }

    /// django-uws times: ISO 8601 with microseconds, `Z` or no zone (then UTC).
    static func date(_ text: String) -> Date? {
        var t = text
        if !(t.hasSuffix("Z") || t.range(of: #"[+-]\d\d:?\d\d$"#, options: .regularExpression) != nil) { t += "Z" }
        return (try? Date(t, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
            ?? (try? Date(t, strategy: Date.ISO8601FormatStyle()))
    }
}

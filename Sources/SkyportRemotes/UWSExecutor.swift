import AsyncHTTPClient
import Foundation
import Logging
import SkyportCore

/// Runs sessions as jobs on a UWS service (standard UWS 1.1 XML, or django-uws JSON): the forwarding
/// service's adapter for `uws` and `django-uws` endpoints. The job's run id is the session's UUID.
public struct UWSExecutor: FacilityExecutor {
    /// The job service for an endpoint (the client for its dialect, with the endpoint's credentials).
    let service: @Sendable (Endpoint) -> any UWSJobService
    /// The job service for an endpoint calling with a user's bearer token (nil: cannot).
    let bearer: (@Sendable (Endpoint, String) -> any UWSJobService)?

    public init(
        service: @escaping @Sendable (Endpoint) -> any UWSJobService, bearer: (@Sendable (Endpoint, String) -> any UWSJobService)? = nil
    ) {
        self.service = service
        self.bearer = bearer
    }

    public func bearing(_ token: String) -> (any FacilityExecutor)? {
        guard let bearer else { return nil }
        return UWSExecutor(service: { bearer($0, token) }, bearer: nil)
    }

    /// The executor for both UWS dialects through the egress gate, with credentials looked up by the endpoint's
    /// registered URL (never by a URL the facility wrote).
    public static func standard(
        egress: Egress, credentials: Credentials = .init(), logger: Logger
    ) -> UWSExecutor {
        @Sendable func client(_ endpoint: Endpoint, _ auth: RemoteAuth?) -> any UWSJobService {
            var http = RemoteHTTP(egress: egress, purpose: .uws, auth: auth, logger: logger)
            http.authOrigin = Origin(endpoint.url)
            return endpoint.kind == .djangoUWS ? DjangoUWSClient(http: http) : UWSClient(http: http)
        }
        return UWSExecutor(
            service: { client($0, credentials.auth(for: $0.url)) }, bearer: { client($0, .token($1, scheme: "Bearer")) })
    }

    /// The job parameters for a session: the executable's own parameters (keys without a dot; dotted keys are
    /// Skyport's notes about the executable), and for a container or notebook where to find it.
    public static func parameters(_ session: SessionRecord) -> [(String, String)] {
        let e = session.executable
        var out = e.parameters.filter { !$0.key.contains(".") }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if let image = e.images.first { out.append(("image", image)) }
        if let location = e.location { out.append(("location", location)) }
        if let repository = e.repository { out.append(("repository", repository)) }
        return out
    }

    func jobList(_ endpoint: Endpoint) throws -> URL {
        guard let url = URL(string: endpoint.url) else {
            throw RemoteError(.invalidResponse, url: URL(fileURLWithPath: "/"), message: "the endpoint URL '\(endpoint.url)' is not a URL")
        }
        return url
    }

    func jobURL(_ text: String) throws -> URL {
        guard let url = URL(string: text) else {
            throw RemoteError(.invalidResponse, url: URL(fileURLWithPath: "/"), message: "the job URL '\(text)' is not a URL")
        }
        return url
    }

    static func status(_ job: UWSJob) -> RemoteStatus {
        RemoteStatus(
            phase: RemoteStatus.sessionPhase(for: job.phase), remotePhase: .uws(job.phase), results: job.results,
            error: job.phase == .error ? (job.errorMessage ?? "the facility reported ERROR without a message") : nil)
    }

    public func submit(_ session: SessionRecord, to endpoint: Endpoint) async throws -> String {
        try await service(endpoint).create(
            jobList: jobList(endpoint), runId: session.id.lowercasedText, parameters: Self.parameters(session)
        ).absoluteString
    }

    public func find(_ session: SessionRecord, at endpoint: Endpoint) async throws -> String? {
        try await service(endpoint).find(jobList: jobList(endpoint), runId: session.id.lowercasedText)?.absoluteString
    }

    /// Runs a job that is still waiting to be run; a job that already moved on (adopted after a crash) is only read.
    public func start(_ remote: RemoteJob, for session: SessionRecord) async throws -> RemoteStatus {
        let jobs = service(remote.endpoint)
        let url = try jobURL(remote.url ?? "")
        let job = try await jobs.job(url)
        guard job.phase == .pending || job.phase == .held else { return Self.status(job) }
        return Self.status(try await jobs.run(job: url, before: job))
    }

    public func status(_ remote: RemoteJob, for session: SessionRecord, wait: Int) async throws -> RemoteStatus {
        Self.status(try await service(remote.endpoint).wait(
            job: jobURL(remote.url ?? ""), timeout: .seconds(wait), knownPhase: Self.uwsPhase(remote.phase)))
    }

    public func abort(_ remote: RemoteJob, for session: SessionRecord) async throws -> RemoteStatus {
        let job = try await service(remote.endpoint).abort(job: jobURL(remote.url ?? ""))
        return RemoteStatus(
            phase: RemoteStatus.sessionPhase(for: job.phase, cancelRequested: true), remotePhase: .uws(job.phase), results: job.results)
    }

    /// Reads one job as it stands (the job-list tracker reads a job its list shows to have moved).
    public func read(_ remote: RemoteJob) async throws -> RemoteStatus {
        Self.status(try await service(remote.endpoint).job(jobURL(remote.url ?? "")))
    }

    /// The UWS phase last recorded for a job (nil before the first, or for a word from another vocabulary).
    static func uwsPhase(_ phase: RemotePhase?) -> UWSPhase? {
        if case .uws(let p)? = phase { return p }
        return nil
    }
}

/// Standard UWS 1.1 job lists take `PHASE` filters (DaCHS honours them); django-uws has none, so its jobs are
/// followed one by one.
extension UWSExecutor: JobListing {
    public func listsJobs(at endpoint: Endpoint) -> Bool { endpoint.kind == .uws }

    public func jobs(at endpoint: Endpoint, in phases: [UWSPhase]) async throws -> [UWSJobRef] {
        guard let client = service(endpoint) as? UWSClient else {
            throw RemoteError(.invalidResponse, url: try jobList(endpoint), message: "this job list cannot be read by phase")
        }
        return try await client.jobs(in: jobList(endpoint), phases: phases)
    }
}

/// Credentials for facility endpoints, kept out of the (publicly readable) facility documents: a JSON file
/// mapping URL prefixes to `{"user": ..., "password": ...}` or `{"token": ..., "scheme": "Token"}`.
public struct Credentials: Sendable {
    var entries: [(prefix: String, auth: RemoteAuth)]

    public init(_ entries: [(prefix: String, auth: RemoteAuth)] = []) { self.entries = entries }

    /// Reads a credentials file; a malformed one is an error naming the entry.
    public init(file: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        let document = try JSONDecoder().decode([String: [String: String]].self, from: data)
        var entries: [(String, RemoteAuth)] = []
        for (prefix, fields) in document {
            if let user = fields["user"], let password = fields["password"] {
                entries.append((prefix, .basic(username: user, password: password)))
            } else if let token = fields["token"] {
                entries.append((prefix, .token(token, scheme: fields["scheme"] ?? "Bearer")))
            } else {
                throw FieldError("\(file): \(prefix)", "needs user and password, or token")
            }
        }
        self.entries = entries
    }

    /// The credentials whose prefix is the longest match for `url`: same origin (scheme, host, port — so that
    /// `https://hub.example` never matches `https://hub.example.evil.org`), and a path under the prefix's. Callers pass
    /// the facility's registered endpoint URL, never a URL another party wrote.
    public func auth(for url: String) -> RemoteAuth? {
        guard !entries.isEmpty, let origin = Origin(url) else { return nil }
        let path = URLComponents(string: url)?.path ?? ""
        return entries.filter { entry in
            guard Origin(entry.prefix) == origin else { return false }
            let prefixPath = URLComponents(string: entry.prefix)?.path ?? ""
            return prefixPath.isEmpty || path.hasPrefix(prefixPath)
        }.max { $0.prefix.count < $1.prefix.count }?.auth
    }
}

import Foundation
import SkyportCore
import SkyportXML

/// What the forwarding worker needs from a remote UWS-like job service, whatever its dialect.
public protocol UWSJobService: Sendable {
    /// Creates a job in `jobList` and returns its URL (the job is left PENDING).
    func create(jobList: URL, runId: String?, parameters: [(String, String)]) async throws -> URL
    /// Asks the job, as it was just read (`before`), to run, and returns it as re-read afterwards; throws
    /// `.refusedTransition` if it did not move.
    func run(job: URL, before: UWSJob) async throws -> UWSJob
    /// Reads the job.
    func job(_ job: URL) async throws -> UWSJob
    /// Returns as soon as the phase differs from `knownPhase` (or the job is not active), or at `timeout` with the job as it is.
    func wait(job: URL, timeout: Duration, knownPhase: UWSPhase?) async throws -> UWSJob
    /// Asks the job to abort and returns it as re-read afterwards.
    func abort(job: URL) async throws -> UWSJob
    /// Deletes the job (a job that is already gone counts as deleted).
    func delete(job: URL) async throws
    /// The URL of a recent job in `jobList` created with `runId`, if the service lists one (crash recovery).
    func find(jobList: URL, runId: String) async throws -> URL?
}

extension UWSJobService {
    /// Reads the job, asks it to run, and returns it as re-read afterwards.
    public func run(job: URL) async throws -> UWSJob {
        try await run(job: job, before: try await self.job(job))
    }

    /// Creates a job without a runId.
    public func create(jobList: URL, parameters: [(String, String)]) async throws -> URL {
        try await create(jobList: jobList, runId: nil, parameters: parameters)
    }
}

/// A client for standard UWS 1.1 services (XML documents, form-encoded POSTs, 303 redirects), e.g. DaCHS TAP async.
public struct UWSClient: UWSJobService {
    public var http: RemoteHTTP
    /// The longest single `WAIT=` asked of the server; a blocking GET gets this plus `http.timeout`.
    public var maxBlock: Duration

    static let accept = "application/xml, text/xml;q=0.9, text/plain;q=0.5"

    /// A client sending everything through `http`.
    public init(http: RemoteHTTP, maxBlock: Duration = .seconds(60)) {
        self.http = http
        self.maxBlock = maxBlock
    }

    public func create(jobList: URL, runId: String?, parameters: [(String, String)]) async throws -> URL {
        let fields = parameters + (runId.map { [("RUNID", $0)] } ?? [])
        let response = try await http.postForm(jobList, fields, accept: Self.accept)
        guard (300..<400).contains(response.status) || response.status == 201, let location = response.location,
              ["http", "https"].contains(location.scheme?.lowercased() ?? "")
        else {
            throw RemoteError(.invalidResponse, url: jobList, status: response.status, body: response.body,
                              message: "job creation must answer 303 with the job's Location")
        }
        return location
    }

    public func job(_ job: URL) async throws -> UWSJob {
        try await read(job, timeout: nil)
    }

    public func run(job: URL, before: UWSJob) async throws -> UWSJob {
        try await post(job.appending(path: "phase"), [("PHASE", "RUN")])
        let after = try await read(job, timeout: nil)
        // DaCHS answers 303 to illegal transitions too: only the re-read phase says whether RUN was taken.
        if after.phase == .pending || (before.phase.isFinal && after.phase == before.phase) {
            throw RemoteError(.refusedTransition, url: job,
                              message: "PHASE=RUN was answered but the job stayed \(after.phase.rawValue)")
        }
        return after
    }

    public func abort(job: URL) async throws -> UWSJob {
        try await post(job.appending(path: "phase"), [("PHASE", "ABORT")])
        return try await read(job, timeout: nil)
    }

    public func wait(job: URL, timeout: Duration, knownPhase: UWSPhase?) async throws -> UWSJob {
        try await waitForChange(timeout: timeout, knownPhase: knownPhase, maxBlock: maxBlock, clock: http.clock) { phase, block in
            guard let phase, let block else { return try await read(job, timeout: nil) }
            let seconds = max(1, Int(block.components.seconds))
            let url = job.appending(queryItems: [URLQueryItem(name: "WAIT", value: "\(seconds)"), URLQueryItem(name: "PHASE", value: phase.rawValue)])
            return try await read(url, timeout: .seconds(seconds) + http.timeout)
        }
    }

    /// Sets the execution duration (seconds, 0 = unlimited) and returns the job re-read: the server may substitute its own value.
    public func setExecutionDuration(job: URL, seconds: Int) async throws -> UWSJob {
        try await post(job.appending(path: "executionduration"), [("EXECUTIONDURATION", String(seconds))])
        return try await read(job, timeout: nil)
    }

    /// Sets the destruction time and returns the job re-read: the server may override it.
    public func setDestruction(job: URL, at date: Date) async throws -> UWSJob {
        let formatter = ISO8601DateFormatter()
        try await post(job.appending(path: "destruction"), [("DESTRUCTION", formatter.string(from: date))])
        return try await read(job, timeout: nil)
    }

    /// Lists the jobs of `jobList`, optionally filtered by phases (union) and limited to the `last` most recent.
    public func jobs(in jobList: URL, phases: [UWSPhase] = [], last: Int? = nil) async throws -> [UWSJobRef] {
        let items = phases.map { URLQueryItem(name: "PHASE", value: $0.rawValue) } + (last.map { [URLQueryItem(name: "LAST", value: "\($0)")] } ?? [])
        let url = items.isEmpty ? jobList : jobList.appending(queryItems: items)
        return try decodeXML(try await http.get(url, accept: Self.accept), url: url, UWSXML.jobList(from:))
    }

    /// Looks among the 200 most recent jobs; a service that drops RUNID (DaCHS does) never finds anything.
    public func find(jobList: URL, runId: String) async throws -> URL? {
        guard let ref = try await jobs(in: jobList, last: 200).first(where: { $0.runId == runId }) else { return nil }
        return ref.href.flatMap { URL(string: $0, relativeTo: jobList)?.absoluteURL } ?? jobList.appending(path: ref.id)
    }

    public func delete(job: URL) async throws {
        do {
            _ = try await http.send(.DELETE, job, headers: [("Accept", Self.accept)])
        } catch let error as RemoteError where error.status == 404 {
            return
        } catch let error as RemoteError where [405, 501].contains(error.status) {
            _ = try await http.postForm(job, [("ACTION", "DELETE")], accept: Self.accept, idempotent: true)
        }
    }

    /// POSTs a form that is harmless to repeat (phase and time changes); any 2xx or 3xx is accepted, the caller re-reads.
    private func post(_ url: URL, _ fields: [(String, String)]) async throws {
        _ = try await http.postForm(url, fields, accept: Self.accept, idempotent: true)
    }

    private func read(_ url: URL, timeout: Duration?) async throws -> UWSJob {
        let response = try await http.send(.GET, url, headers: [("Accept", Self.accept)], timeout: timeout)
        guard response.status == 200 else {
            throw RemoteError(.invalidResponse, url: url, status: response.status, body: response.body,
                              message: "expected 200 with a uws:job document")
        }
        return try decodeXML(response, url: url, UWSXML.job(from:))
    }

    private func decodeXML<T>(_ response: RemoteHTTP.Response, url: URL, _ decode: (Data) throws -> T) throws -> T {
        if let type = response.mediaType, type.contains("html") {
            throw RemoteError(.invalidResponse, url: url, status: response.status, body: response.body,
                              message: "expected a UWS XML document, got \(type)")
        }
        do {
            return try decode(response.body)
        } catch {
            throw RemoteError(.invalidResponse, url: url, status: response.status, body: response.body, message: "\(error)")
        }
    }
}

/// The wait loop shared by the dialects: `read(phase, block)` reads the job, blocking up to `block` while it is in
/// `phase` if the dialect can (a nil `block` means a plain read). A read that comes back early without a change (a
/// server that ignores WAIT, or has none) is followed by a pause that grows from 0.25 s to 5 s: polling with backoff.
/// Time is read from and slept on `clock`.
func waitForChange<C: Clock>(
    timeout: Duration, knownPhase: UWSPhase?, maxBlock: Duration, clock: C,
    read: (UWSPhase?, Duration?) async throws -> UWSJob
) async throws -> UWSJob where C.Instant.Duration == Swift.Duration {
    let deadline = clock.now.advanced(by: timeout)
    var phase = knownPhase
    if phase == nil {
        let job = try await read(nil, nil)
        if !job.phase.isActive || timeout <= .zero { return job }
        phase = job.phase
    }
    var pause = Duration.milliseconds(250)
    while true {
        let remaining = clock.now.duration(to: deadline)
        let started = clock.now
        let job = try await read(phase, remaining >= .seconds(1) ? min(remaining, maxBlock) : nil)
        if job.phase != phase || !job.phase.isActive { return job }
        let left = clock.now.duration(to: deadline)
        if left <= .zero { return job }
        if started.duration(to: clock.now) < .milliseconds(500) {
            try await clock.sleep(until: clock.now.advanced(by: min(pause, left)), tolerance: nil)
            pause = min(pause * 2, .seconds(5))
        }
    }
}

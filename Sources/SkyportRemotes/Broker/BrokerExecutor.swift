import AsyncHTTPClient
import Foundation
import Logging
import SkyportCore

/// Runs sessions that stand for another ExecutionBroker's offers: the forwarding service's adapter for
/// `executionbroker` endpoints. "Submitting" accepts the remote offer (`POST /sessions/{uuid}` with an
/// `uri:enum-value-update` of `phase` to `ACCEPTED`); the remote session is then followed like any job, and
/// aborting cancels it there (or, for an offer never accepted, rejects it there).
///
/// Following: another Skyport holds `GET /sessions/{uuid}?wait=N&phase=P` until the phase moves (a Skyport
/// extension); a broker that ignores it answers at once, and is asked again every `poll` until `wait` runs out.
public struct BrokerExecutor: FacilityExecutor {
    public struct Settings: Sendable {
        /// Pause between two looks at a broker that does not hold a `wait`.
        public var poll: Duration = .seconds(2)
        public init() {}
    }

    let egress: Egress
    let credentials: Credentials
    let sealer: (any SecretSealer)?
    let settings: Settings
    let logger: Logger
    /// A user's token to send instead of Skyport's credential (`bearing`).
    var userToken: String?

    public init(egress: Egress, credentials: Credentials = .init(), sealer: (any SecretSealer)? = nil, settings: Settings = .init(), logger: Logger) {
        self.egress = egress
        self.credentials = credentials
        self.sealer = sealer
        self.settings = settings
        self.logger = logger
    }

    /// The transport for one broker: the credentials of its registered endpoint (never chosen by a URL the broker
    /// wrote), sent only to that endpoint's origin.
    func http(_ endpoint: Endpoint) -> RemoteHTTP {
        let auth = userToken.map { RemoteAuth.token($0, scheme: "Bearer") } ?? credentials.auth(for: endpoint.url)
        var http = RemoteHTTP(egress: egress, purpose: .federation, auth: auth, timeout: .seconds(90), maxBodyBytes: 4 << 20, logger: logger)
        http.authOrigin = Origin(endpoint.url)
        return http
    }

    /// The same executor sending the user's token to the other broker.
    public func bearing(_ token: String) -> (any FacilityExecutor)? {
        var copy = self
        copy.userToken = token
        return copy
    }

    static func url(_ text: String?) throws -> URL {
        guard let text, let url = URL(string: text) else {
            throw FacilityRefusal("the remote session URL '\(text ?? "")' is not a URL")
        }
        return url
    }

    public func submit(_ session: SessionRecord, to endpoint: Endpoint) async throws -> String {
        let offer = try Self.url(session.remote?.offer)
        do {
            _ = try await setPhase(offer, .accepted, endpoint)
            return offer.absoluteString
        } catch let error as RemoteError where error.status == 409 || error.status == 422 {
            // Accepted already (an answer lost on the way back), or refused: the remote session says which.
            if let found = try await find(session, at: endpoint) { return found }
            throw FacilityRefusal("the remote broker refused the acceptance: \(BrokerFederation.errorMessage(error) ?? error.description)")
        } catch let error as RemoteError where error.status == 404 || error.status == 410 {
            throw FacilityRefusal("the remote broker no longer has the offer (\(error.description))")
        }
    }

    /// The remote session, when this session's acceptance reached it (its phase is past `OFFERED` and was not
    /// turned down): after a crash between sending the acceptance and recording it.
    public func find(_ session: SessionRecord, at endpoint: Endpoint) async throws -> String? {
        let offer = try Self.url(session.remote?.offer)
        let (status, _) = try await read(offer, endpoint, wait: nil, cancelRequested: false)
        switch status.remotePhase {
        case .broker(.offered): return nil
        case .broker(.rejected), .broker(.expired):
            throw FacilityRefusal("the remote offer is \(status.remotePhase.word): it can no longer be accepted")
        default: return offer.absoluteString
        }
    }

    public func start(_ job: RemoteJob, for session: SessionRecord) async throws -> RemoteStatus {
        try await status(job, for: session, wait: 0)
    }

    public func status(_ job: RemoteJob, for session: SessionRecord, wait: Int) async throws -> RemoteStatus {
        let url = try Self.url(job.url)
        let clock = ContinuousClock()
        let end = clock.now + .seconds(wait)
        let cancelRequested = session.phase == .cancelled
        while true {
            let left = end - clock.now
            let asked = clock.now
            let seconds = Int(left.components.seconds)
            let (status, token) = try await read(url, job.endpoint, wait: seconds > 0 ? (seconds, job.phase?.word) : nil, cancelRequested: cancelRequested)
            if status.remotePhase != job.phase || status.progress != job.progress || status.results != job.results || left <= .zero {
                return sealed(status, token)
            }
            // An answer that came back at once: the broker does not hold a wait; look again later.
            if clock.now - asked < .seconds(1) {
                try await Task.sleep(for: min(settings.poll, max(.zero, end - clock.now)))
            }
            if clock.now >= end { return sealed(status, token) }
        }
    }

    public func abort(_ job: RemoteJob, for session: SessionRecord) async throws -> RemoteStatus {
        if job.url == nil, let offer = job.offer {
            // An offer turned down here: turn it down there, so the remote broker frees what it holds for it.
            let url = try Self.url(offer)
            do {
                _ = try await setPhase(url, .rejected, job.endpoint)
            } catch let error as RemoteError where [404, 409, 410, 422].contains(error.status ?? 0) {
                logger.debug("remote offer already closed", metadata: ["offer": .string(offer), "error": .string(error.description)])
            }
            return RemoteStatus(phase: session.phase, remotePhase: .broker(.rejected))
        }
        let url = try Self.url(job.url)
        do {
            _ = try await setPhase(url, .cancelled, job.endpoint)
        } catch let error as RemoteError where error.status == 409 || error.status == 422 {
            // Ended there already: report how.
            logger.debug("remote session already ended", metadata: ["session": .string(url.absoluteString)])
        }
        // A remote session still ending keeps this one in the forwarding service's work until it has ended.
        let (status, token) = try await read(url, job.endpoint, wait: nil, cancelRequested: true)
        return sealed(status, token)
    }

    /// `POST url` with `{"kind": "uri:enum-value-update", "path": "phase", "value": phase}`.
    func setPhase(_ url: URL, _ phase: SessionPhase, _ endpoint: Endpoint) async throws -> RemoteHTTP.Response {
        let body = Data(#"{"kind": "uri:enum-value-update", "path": "phase", "value": "\#(phase.rawValue)"}"#.utf8)
        return try await http(endpoint).send(
            .POST, url, headers: [("Content-Type", "application/json"), ("Accept", "application/json")], body: body,
            idempotent: true)
    }

    /// Reads the remote session (holding up to `wait` seconds for a change from the given phase, where the broker can).
    func read(_ url: URL, _ endpoint: Endpoint, wait: (seconds: Int, phase: String?)?, cancelRequested: Bool) async throws -> (RemoteStatus, String?) {
        var target = url
        if let wait, var parts = URLComponents(url: url, resolvingAgainstBaseURL: true) {
            var items = parts.queryItems ?? []
            items.append(URLQueryItem(name: "wait", value: String(wait.seconds)))
            if let phase = wait.phase { items.append(URLQueryItem(name: "phase", value: phase)) }
            parts.queryItems = items
            target = parts.url ?? url
        }
        let timeout: Duration = .seconds(30 + (wait?.seconds ?? 0))
        let response = try await http(endpoint).get(target, accept: "application/json", timeout: timeout)
        guard let doc = BrokerFederation.json(response) else {
            throw RemoteError(.invalidResponse, url: url, status: response.status, body: response.body, message: "not a JSON session document")
        }
        switch RemoteDocuments.session(doc, cancelRequested: cancelRequested) {
        case .success(let read): return read
        case .failure(let problem):
            throw RemoteError(.invalidResponse, url: url, status: response.status, body: response.body, message: problem.message)
        }
    }

    /// The status with the notebook token sealed (never kept in clear).
    func sealed(_ status: RemoteStatus, _ token: String?) -> RemoteStatus {
        var s = status
        if let token { s.sealedToken = try? sealer?.seal(token) }
        return s
    }
}

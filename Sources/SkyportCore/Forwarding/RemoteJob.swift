import Foundation

/// How far the creation of a forwarded job has gone.
public enum RemoteStage: Sendable, Hashable {
    /// Nothing was sent to the facility yet (for another broker's offer: it was not accepted there yet).
    case notSubmitted
    /// The creation (the acceptance of another broker's offer) was sent and its answer not recorded: after a crash
    /// the job is looked up at the facility (by run id) before anything is created again.
    case submitting
    /// The facility created the job (accepted the offer); its URL, recorded the moment it answered.
    case created(url: String)
}

/// A job Skyport forwarded to a facility, as it tracks it on the session.
///
/// Stored in the session's JSON document with the keys written since forwarding began (`url`, `submitting`,
/// `remotePhase` as the facility's word, ...): see `init(from:)`.
public struct RemoteJob: Sendable, Hashable {
    /// The endpoint the job was sent to.
    public var endpoint: Endpoint
    public var stage: RemoteStage
    /// The facility's phase, as last reported.
    public var phase: RemotePhase?
    public var results: [UWSResult]
    /// The facility's error message, or why forwarding failed.
    public var error: String?
    /// Failed attempts to reach the facility in a row (reset by every answer).
    public var failures: Int
    public var updated: Date?
    /// What the facility is doing right now, in its words (a BinderHub build's last message), while it prepares.
    public var progress: String?
    /// Where the user goes in, once the facility has made it (a notebook server's URL), without any credential.
    public var access: String?
    /// The credential for `access` (a notebook server's token), sealed by the broker's `SecretSealer`; never stored in clear.
    public var sealedToken: String?
    /// For an offer another broker made: its session's URL. Accepting this session accepts it there (and the job's
    /// URL becomes this); an offer this broker's client turned down is rejected there.
    public var offer: String?

    public init(endpoint: Endpoint, stage: RemoteStage = .notSubmitted, phase: RemotePhase? = nil) {
        self.endpoint = endpoint
        self.stage = stage
        self.phase = phase
        self.results = []
        self.error = nil
        self.failures = 0
        self.updated = nil
    }

    /// The remote job's URL, once created.
    public var url: String? {
        if case .created(let url) = stage { return url }
        return nil
    }

    /// The facility's phase word, as stored and shown (`Progress.phase`); setting it reads the word for this
    /// job's endpoint kind.
    public var remotePhase: String? {
        get { phase?.word }
        set { phase = newValue.map { RemotePhase(word: $0, kind: endpoint.kind) } }
    }

    /// Another broker's offer not accepted there (yet).
    public var isOpenOffer: Bool { offer != nil && stage == .notSubmitted }
}

extension RemoteJob: Codable {
    enum CodingKeys: String, CodingKey {
        case endpoint, url, submitting, remotePhase, results, error, failures, updated, progress, access, sealedToken, offer
    }

    /// Reads what every version wrote: `url` set means created (whatever `submitting` says: it stayed true after the
    /// creation), else `submitting` means the creation was sent; the phase word is read for the endpoint's kind.
    /// Missing counters and lists are empty.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let endpoint = try c.decode(Endpoint.self, forKey: .endpoint)
        self.endpoint = endpoint
        if let url = try c.decodeIfPresent(String.self, forKey: .url) {
            stage = .created(url: url)
        } else {
            stage = try c.decodeIfPresent(Bool.self, forKey: .submitting) == true ? .submitting : .notSubmitted
        }
        phase = try c.decodeIfPresent(String.self, forKey: .remotePhase).map { RemotePhase(word: $0, kind: endpoint.kind) }
        results = try c.decodeIfPresent([UWSResult].self, forKey: .results) ?? []
        error = try c.decodeIfPresent(String.self, forKey: .error)
        failures = try c.decodeIfPresent(Int.self, forKey: .failures) ?? 0
        updated = try c.decodeIfPresent(Date.self, forKey: .updated)
        progress = try c.decodeIfPresent(String.self, forKey: .progress)
        access = try c.decodeIfPresent(String.self, forKey: .access)
        sealedToken = try c.decodeIfPresent(String.self, forKey: .sealedToken)
        offer = try c.decodeIfPresent(String.self, forKey: .offer)
    }

    /// Writes the same keys as before the stage was typed (`submitting` stays true once created), so that a store
    /// written by this version is read by the previous one too.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(endpoint, forKey: .endpoint)
        try c.encodeIfPresent(url, forKey: .url)
        try c.encode(stage != .notSubmitted, forKey: .submitting)
        try c.encodeIfPresent(remotePhase, forKey: .remotePhase)
        try c.encode(results, forKey: .results)
        try c.encodeIfPresent(error, forKey: .error)
        try c.encode(failures, forKey: .failures)
        try c.encodeIfPresent(updated, forKey: .updated)
        try c.encodeIfPresent(progress, forKey: .progress)
        try c.encodeIfPresent(access, forKey: .access)
        try c.encodeIfPresent(sealedToken, forKey: .sealedToken)
        try c.encodeIfPresent(offer, forKey: .offer)
    }
}

/// What a facility said about a forwarded job, mapped onto the session's lifecycle.
public struct RemoteStatus: Sendable, Hashable {
    public var phase: SessionPhase
    /// The facility's own phase.
    public var remotePhase: RemotePhase
    public var results: [UWSResult]
    public var error: String?
    /// The facility's latest progress message, while the job is prepared.
    public var progress: String?
    /// Where the user goes in (set once, when the facility has made it).
    public var access: String?
    /// The sealed credential for `access`.
    public var sealedToken: String?

    public init(
        phase: SessionPhase, remotePhase: RemotePhase, results: [UWSResult] = [], error: String? = nil,
        progress: String? = nil, access: String? = nil, sealedToken: String? = nil
    ) {
        self.phase = phase
        self.remotePhase = remotePhase
        self.results = results
        self.error = error
        self.progress = progress
        self.access = access
        self.sealedToken = sealedToken
    }

    /// The session phase a UWS phase means. An `ABORTED` job the client cancelled is `CANCELLED`;
    /// one the facility aborted by itself is `FAILED`.
    public static func sessionPhase(for uws: UWSPhase, cancelRequested: Bool = false) -> SessionPhase {
        switch uws {
        case .pending, .queued, .held, .unknown: return .preparing
        case .executing, .suspended: return .running
        case .completed, .archived: return .completed
        case .error: return .failed
        case .aborted: return cancelRequested ? .cancelled : .failed
        }
    }
}

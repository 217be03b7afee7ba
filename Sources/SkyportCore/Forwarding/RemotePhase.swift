import Foundation

/// Where a forwarded job stands at its facility, in the facility's own vocabulary: a UWS phase, a BinderHub
/// launch phase, or another broker's session phase.
///
/// Stored (and shown to users, as a session's progress phase) as the facility's word: `EXECUTING`, `building`,
/// `RUNNING`. The word alone is ambiguous (`FAILED` is a session phase, `failed` a BinderHub one), so it is read
/// back with the endpoint kind of the job it belongs to (`init(word:kind:)`).
public enum RemotePhase: Sendable, Hashable {
    /// A UWS job's phase (`uws` and `django-uws` endpoints).
    case uws(UWSPhase)
    /// A BinderHub launch's phase, then its notebook server's (`binderhub` endpoints).
    case binder(BinderPhase)
    /// Another broker's session phase (`executionbroker` endpoints).
    case broker(SessionPhase)
    /// Ended by Skyport's abort, at a facility whose own words have none for it (stored as `ABORTED`): a BinderHub
    /// launch or server stopped, a job given up on. For UWS endpoints the UWS phase `ABORTED` is used instead.
    case aborted
    /// A word Skyport does not know for the endpoint's kind, kept as it came.
    case unrecognised(String)

    /// The word stored and shown.
    public var word: String {
        switch self {
        case .uws(let p): return p.rawValue
        case .binder(let p): return p.word
        case .broker(let p): return p.rawValue
        case .aborted: return UWSPhase.aborted.rawValue
        case .unrecognised(let w): return w
        }
    }

    /// Reads a stored word for a job at an endpoint of `kind`.
    public init(word: String, kind: EndpointKind) {
        switch kind {
        case .uws, .djangoUWS:
            self = UWSPhase(rawValue: word).map(RemotePhase.uws) ?? .unrecognised(word)
        case .binderhub:
            self = word == UWSPhase.aborted.rawValue ? .aborted : .binder(BinderPhase(word: word))
        case .executionbroker:
            if word == UWSPhase.aborted.rawValue { self = .aborted; return }
            self = SessionPhase(rawValue: word).map(RemotePhase.broker) ?? .unrecognised(word)
        }
    }

    /// "Aborted by Skyport" for a job at an endpoint of `kind`, in the words that read back the same.
    public static func abortedHere(_ kind: EndpointKind) -> RemotePhase {
        switch kind {
        case .uws, .djangoUWS: return .uws(.aborted)
        case .binderhub, .executionbroker: return .aborted
        }
    }

    /// Whether the remote job has ended: nothing runs there any more, so there is nothing to abort.
    public var isFinal: Bool {
        switch self {
        case .uws(let p): return p.isFinal
        case .binder(let p): return p.isFinal
        case .broker(let p): return p.isFinal
        case .aborted: return true
        case .unrecognised: return false
        }
    }
}

/// The phases a BinderHub launch goes through as `BinderExecutor` reports them: the build stream's own phase words
/// (lower-cased), then `ready` while its notebook server is up, `stopped` once that has ended, or `failed`.
public enum BinderPhase: Sendable, Hashable {
    /// Before the build stream has said anything, or while a busy or unreachable BinderHub is asked again.
    case waiting
    case fetching
    case building
    case pushing
    case built
    case launching
    /// The notebook server is up.
    case ready
    /// The launch failed.
    case failed
    /// The notebook server has ended (culled, stopped at the facility, or at the session's end).
    case stopped
    /// A log line without a phase.
    case unknown
    /// Any other word a BinderHub sends.
    case other(String)

    static let known: [BinderPhase] = [.waiting, .fetching, .building, .pushing, .built, .launching, .ready, .failed, .stopped, .unknown]

    public init(word: String) {
        self = Self.known.first { $0.word == word } ?? .other(word)
    }

    public var word: String {
        switch self {
        case .waiting: return "waiting"
        case .fetching: return "fetching"
        case .building: return "building"
        case .pushing: return "pushing"
        case .built: return "built"
        case .launching: return "launching"
        case .ready: return "ready"
        case .failed: return "failed"
        case .stopped: return "stopped"
        case .unknown: return "unknown"
        case .other(let w): return w
        }
    }

    /// The launch (or its server) has ended.
    public var isFinal: Bool { self == .failed || self == .stopped }
}

import Foundation

/// The phase of an execution session (ExecutionBroker `SimpleExecutionSessionPhase`).
public enum SessionPhase: String, Sendable, Hashable, Codable, CaseIterable {
    case initial = "INITIAL"
    case offered = "OFFERED"
    case accepted = "ACCEPTED"
    case rejected = "REJECTED"
    case expired = "EXPIRED"
    case waiting = "WAITING"
    case preparing = "PREPARING"
    case available = "AVAILABLE"
    case running = "RUNNING"
    case releasing = "RELEASING"
    case completed = "COMPLETED"
    case failed = "FAILED"
    case cancelled = "CANCELLED"

    /// Phases in which a session holds capacity on its facility (an `OFFERED` one only until it expires).
    public static let booking: Set<SessionPhase> = [.offered, .accepted, .waiting, .preparing, .available, .running, .releasing]

    /// Phases of a job that has been accepted and has not ended: what keeps a facility from being deleted.
    public static let live: Set<SessionPhase> = [.accepted, .waiting, .preparing, .available, .running, .releasing]

    /// Phases from which nothing moves on.
    public var isFinal: Bool { [.rejected, .expired, .completed, .failed, .cancelled].contains(self) }
}

/// The session lifecycle's rules, as a pure function: which client-requested changes are allowed.
/// Unlike the reference broker, a refused change is an error the client sees, never silently ignored.
public enum SessionLifecycle {
    /// Why a requested phase change is refused.
    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        /// The change is not a legal transition from the current phase.
        case illegal(from: SessionPhase, to: SessionPhase)
        /// The offer passed its expiry time before it was accepted.
        case expired
        /// Another offer of the same set was accepted first.
        case siblingAccepted
        /// A client may not ask for this phase at all.
        case notClientSettable(SessionPhase)

        public var description: String {
            switch self {
            case .illegal(let from, let to): return "a session cannot go from \(from.rawValue) to \(to.rawValue)"
            case .expired: return "the offer has expired"
            case .siblingAccepted: return "another offer of the same offer set was already accepted"
            case .notClientSettable(let p): return "a client cannot set the phase \(p.rawValue): use ACCEPTED, REJECTED or CANCELLED"
            }
        }
    }

    /// Phases a client may ask for through `POST /sessions/{uuid}`.
    public static let clientSettable: [SessionPhase] = [.accepted, .rejected, .cancelled]

    /// The phase a session is really in at `now`: an `OFFERED` session past its expiry is `EXPIRED`,
    /// whether or not the sweeper has written that down yet.
    public static func effectivePhase(_ phase: SessionPhase, expires: Date?, now: Date) -> SessionPhase {
        if phase == .offered, let expires, expires <= now { return .expired }
        return phase
    }

    /// Checks a client's requested change; returns the phase to store.
    public static func clientTransition(from current: SessionPhase, to target: SessionPhase) throws(Refusal) -> SessionPhase {
        guard clientSettable.contains(target) else { throw .notClientSettable(target) }
        switch (current, target) {
        case (.offered, .accepted), (.offered, .rejected): return target
        case (.expired, .accepted): throw .expired
        case (.offered, .cancelled), (.accepted, .cancelled), (.waiting, .cancelled), (.preparing, .cancelled),
             (.available, .cancelled), (.running, .cancelled):
            return .cancelled
        default: throw .illegal(from: current, to: target)
        }
    }
}

import Foundation

/// One offer to make: negotiated amounts (min = max), when, and until when the user may accept it.
public struct OfferDraft: Sendable, Hashable, Codable {
    public var facility: FacilityID
    public var cores: Int
    /// Memory in GiB.
    public var memory: Int
    public var start: Date
    public var duration: ISODuration
    /// When the offer lapses unless accepted.
    public var expires: Date
    /// The facility's position among the match candidates (0 is best).
    public var rank: Int
    public var score: MatchScore
    /// The facility share it is charged to (nil on a facility without shares, or for a requester in none).
    public var share: String?
    /// GPUs offered (nil when the request asks for none).
    public var gpus: Int?

    public init(facility: FacilityID, cores: Int, memory: Int, start: Date, duration: ISODuration, expires: Date, rank: Int, score: MatchScore) {
        self.facility = facility
        self.cores = cores
        self.memory = memory
        self.start = start
        self.duration = duration
        self.expires = expires
        self.rank = rank
        self.score = score
    }

    /// When the session would end.
    public var end: Date { start.addingTimeInterval(TimeInterval(duration.seconds)) }
    /// The capacity this offer holds while it is open.
    public var booking: Booking { Booking(facility: facility, cores: cores, memory: memory, start: start, end: end) }
}

/// Why a plan has no offer from a facility (or none at all, when `facility` is nil).
public enum PlanNoteCode: String, Sendable, Hashable, Codable, CaseIterable {
    /// No start inside the window has room for the request's minimum for its whole duration.
    case noCapacityInWindow = "no-capacity-in-window"
    /// The request's minimum or duration is beyond the facility's per-job limit, or its minimum exceeds its maximum.
    case exceedsLimit = "exceeds-limit"
    /// The start window ends before now (or before it begins).
    case startWindowClosed = "start-window-closed"
    /// The start window opens beyond the planner's horizon.
    case beyondHorizon = "start-beyond-horizon"
    /// A quota of the caller or of one of its groups allows no (more) offer; the note gives the limit and the usage.
    case quotaExceeded = "quota-exceeded"
    /// The caller's share of the facility (or the part no group has a share of) is used up, and the rest is kept
    /// for the groups using their shares.
    case shareExhausted = "share-exhausted"

    /// Whether the caller should act on it (a warning), rather than read it.
    public var isWarning: Bool { self == .quotaExceeded || self == .shareExhausted }
}

/// A note on a plan: a facility that gave no offer, and why.
public struct PlanNote: Sendable, Hashable, Codable {
    public var facility: FacilityID?
    public var code: PlanNoteCode
    public var message: String

    public init(facility: FacilityID?, code: PlanNoteCode, message: String) {
        self.facility = facility
        self.code = code
        self.message = message
    }
}

/// The offers for one request, best first, with notes on facilities that gave none.
public struct OfferPlan: Sendable, Hashable, Codable {
    public var offers: [OfferDraft] = []
    public var notes: [PlanNote] = []
    /// Facilities whose calendars were searched for room, and how many of them had some (the funnel's capacity step).
    public var tried = 0
    public var withRoom = 0

    public init(offers: [OfferDraft] = [], notes: [PlanNote] = []) {
        self.offers = offers
        self.notes = notes
    }

    /// `YES` when there is at least one offer, else `NO`.
    public var result: String { offers.isEmpty ? "NO" : "YES" }
    /// The capacity the offers hold, to store with them.
    public var bookings: [Booking] { offers.map(\.booking) }
}

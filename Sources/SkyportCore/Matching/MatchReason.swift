/// Why a facility cannot take a request: one code per hard filter the facility fails.
public enum MatchReasonCode: String, Sendable, Hashable, Codable, CaseIterable {
    /// The facility is draining or disabled.
    case facilityNotActive = "facility-not-active"
    /// The facility does not run this kind of executable (or runs no kind at all).
    case kindNotAccepted = "kind-not-accepted"
    /// The request's minimum cores exceed the facility's per-job limit.
    case coresExceedLimit = "cores-exceed-limit"
    /// The request's minimum memory exceeds the facility's per-job limit.
    case memoryExceedLimit = "memory-exceed-limit"
    /// The request's duration exceeds the facility's per-job limit.
    case durationExceedLimit = "duration-exceed-limit"
    /// The request's minimum cores exceed everything the facility has.
    case coresExceedCapacity = "cores-exceed-capacity"
    /// The request's minimum memory exceeds everything the facility has.
    case memoryExceedCapacity = "memory-exceed-capacity"
    /// The facility declares RSEs but holds none of the request's locatable Rucio items (one reason per item).
    case dataNotColocated = "data-not-colocated"
    /// The facility failed its last health check (VOSI availability, BinderHub `/health`, or not reachable).
    case facilityUnavailable = "facility-unavailable"
    /// Another broker (a federated facility) answered without offers.
    case brokerNoOffers = "broker-no-offers"
    /// Another broker did not answer within its deadline: its answer, if any came later, was dropped.
    case brokerLate = "broker-late"
    /// Another broker could not be reached, answered with an error, or sent something that is no offer set.
    case brokerUnreachable = "broker-unreachable"
    /// Another broker refused because the request had already passed through it (A asks B asks A).
    case federationLoop = "federation-loop"
}

/// One machine-readable reason a facility was rejected, with what was asked and what the facility offers.
public struct MatchReason: Sendable, Hashable, Codable {
    public var code: MatchReasonCode
    /// The request field the reason is about (`cores`, `executable.kind`, `data`).
    public var field: String
    /// What the request asked for, as text (`32`, `PT4H`, `DESY-DCACHE|PIC-DCACHE`).
    public var requested: String
    /// What the facility offers, as text (`16`, `draining`, `jupyter-notebook,docker-container`).
    public var offered: String
    /// A sentence for people.
    public var message: String

    public init(code: MatchReasonCode, field: String, requested: String, offered: String, message: String) {
        self.code = code
        self.field = field
        self.requested = requested
        self.offered = offered
        self.message = message
    }
}

/// Something unknown about an accepted match: it never rejects, but the user should see it.
public enum MatchFlagCode: String, Sendable, Hashable, Codable, CaseIterable {
    /// The request did not say what kind of executable it is.
    case kindUnknown = "kind-unknown"
    /// The facility publishes no per-job limit for a field the request constrains.
    case limitUnknown = "limit-unknown"
    /// The facility publishes no total capacity for a field the request constrains.
    case capacityUnknown = "capacity-unknown"
    /// A Rucio item's replica locations are unknown, so co-location cannot be judged.
    case dataLocationUnknown = "data-location-unknown"
    /// The facility declares no RSEs, so whether it holds the request's data is unknown.
    case facilityDataUnknown = "facility-data-unknown"
    /// The facility holds some of the request's locatable Rucio items but not all (one flag per item it lacks).
    case dataPartlyColocated = "data-partly-colocated"
    /// The facility's last health check passed, but it is older than the stale limit.
    case healthStale = "health-check-stale"
}

/// One flag on an accepted match.
public struct MatchFlag: Sendable, Hashable, Codable {
    public var code: MatchFlagCode
    /// The request field the flag is about.
    public var field: String
    /// A sentence for people.
    public var message: String

    public init(code: MatchFlagCode, field: String, message: String) {
        self.code = code
        self.field = field
        self.message = message
    }
}

/// How good an accepted facility is: data co-location first, then headroom. Higher is better in both.
public struct MatchScore: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// The fraction (0...1) of the request's locatable Rucio items that the facility holds on its RSEs; 0 when none are locatable.
    public var colocation: Double
    /// The mean (0...1) of how far below each known limit and capacity the request sits; unknown values count 0.
    public var headroom: Double

    public init(colocation: Double, headroom: Double) {
        self.colocation = colocation
        self.headroom = headroom
    }

    /// Orders by co-location, then headroom.
    public static func < (a: MatchScore, b: MatchScore) -> Bool {
        a.colocation != b.colocation ? a.colocation < b.colocation : a.headroom < b.headroom
    }

    public var description: String {
        "data \(Self.fixed(colocation)) headroom \(Self.fixed(headroom))"
    }

    /// Two decimals, without a formatter.
    static func fixed(_ x: Double) -> String {
        let hundredths = Int((x * 100).rounded())
        let frac = hundredths % 100
        return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
    }
}

/// An accepted facility, with its score and flags.
public struct MatchCandidate: Sendable, Hashable, Codable {
    public var facility: Facility
    public var score: MatchScore
    public var flags: [MatchFlag]

    public init(facility: Facility, score: MatchScore, flags: [MatchFlag] = []) {
        self.facility = facility
        self.score = score
        self.flags = flags
    }
}

/// A rejected facility, with every reason it fails.
public struct MatchRejection: Sendable, Hashable, Codable {
    public var facility: FacilityID
    public var reasons: [MatchReason]

    public init(facility: FacilityID, reasons: [MatchReason]) {
        self.facility = facility
        self.reasons = reasons
    }
}

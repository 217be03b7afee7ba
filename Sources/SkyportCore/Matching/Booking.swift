import Foundation

/// Capacity held on a facility over a time span: a live offer, or an accepted or running session.
public struct Booking: Sendable, Hashable, Codable {
    /// The facility (compared by identifier key).
    public var facility: FacilityID
    public var cores: Int
    /// Memory in GiB.
    public var memory: Int
    /// The span held is `[start, end)`.
    public var start: Date
    public var end: Date

    public init(facility: FacilityID, cores: Int, memory: Int, start: Date, end: Date) {
        self.facility = facility
        self.cores = cores
        self.memory = memory
        self.start = start
        self.end = end
    }
}

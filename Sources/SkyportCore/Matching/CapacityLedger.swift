import Foundation

/// Every booking that holds capacity, by session, with one calendar per facility kept current on every change, so
/// that planning reads calendars instead of scanning bookings: booking, accepting and releasing cost O(log n), and
/// offers stop holding at their expiry (a min-heap on expiry) without any write. A value: a store keeps one current
/// on every write of a session, and rebuilds it from its rows when it opens.
public struct CapacityLedger: Sendable {
    /// What one session holds: its booking, and while it is an offer, until when.
    public struct Hold: Sendable, Hashable {
        public var booking: Booking
        /// When an offer stops holding; nil for an accepted session (it holds until its booking ends).
        public var expires: Date?

        public init(booking: Booking, expires: Date?) {
            self.booking = booking
            self.expires = expires
        }

        /// What a session in `phase` holds: nothing outside the booking phases; an expiry only while `OFFERED`.
        public init?(phase: SessionPhase, booking: Booking, expires: Date) {
            guard SessionPhase.booking.contains(phase) else { return nil }
            self.init(booking: booking, expires: phase == .offered ? expires : nil)
        }

        public init?(_ s: SessionRecord) { self.init(phase: s.phase, booking: s.booking, expires: s.expires) }
    }

    /// A change to the ledger.
    public enum Change: Sendable, Hashable {
        /// The session holds this (booked anew, or its hold replaced: an accepted offer loses its expiry).
        case hold(UUID, Hold)
        /// The session holds nothing any more.
        case release(UUID)

        /// Whether it frees capacity: a store applies such a change only once its write has committed (and a hold
        /// before), so that the ledger may count more than the database for an instant, never less.
        public var frees: Bool {
            if case .release = self { return true }
            return false
        }
    }

    /// The one rule mapping a session's write (`nil`: not stored before / deleted) to the ledger's change, or nil
    /// when the hold is unchanged. Both stores call it, so they cannot disagree about what holds capacity.
    public static func change(from old: SessionRecord?, to new: SessionRecord?) -> Change? {
        guard let id = new?.id ?? old?.id else { return nil }
        return change(id, from: old.flatMap(Hold.init), to: new.flatMap(Hold.init))
    }

    public static func change(_ id: UUID, from old: Hold?, to new: Hold?) -> Change? {
        if old == new { return nil }
        return new.map { .hold(id, $0) } ?? .release(id)
    }

    /// The holds, by session.
    public private(set) var holds: [UUID: Hold] = [:]
    /// Bookings by facility key; calendars carry no capacity (the planner sets the facility's current one).
    private var booked: [String: CapacityCalendar] = [:]
    /// Offers by expiry, and accepted bookings by end; entries that no longer match their hold are skipped.
    private var expiries = DueHeap()
    private var ends = DueHeap()

    public init() {}

    /// The ledger of these sessions (a store's rows when it opens): the same as replaying their writes.
    public init(holds: some Sequence<(UUID, Hold)>) {
        for (id, hold) in holds { book(id, hold.booking, expires: hold.expires) }
    }

    public mutating func apply(_ change: Change?) {
        switch change {
        case .hold(let id, let h)?: book(id, h.booking, expires: h.expires)
        case .release(let id)?: release(id)
        case nil: break
        }
    }

    /// Books (or rebooks) a session's capacity; with `expires` it stops holding then unless accepted.
    public mutating func book(_ id: UUID, _ booking: Booking, expires: Date?) {
        if let old = holds[id] {
            if old == Hold(booking: booking, expires: expires) { return }
            if old.booking == booking {
                holds[id]?.expires = expires
            } else {
                release(id)
                booked[booking.facility.key, default: CapacityCalendar(capacity: FacilityCapacity())].add(booking)
                holds[id] = Hold(booking: booking, expires: expires)
            }
        } else {
            booked[booking.facility.key, default: CapacityCalendar(capacity: FacilityCapacity())].add(booking)
            holds[id] = Hold(booking: booking, expires: expires)
        }
        if let expires {
            expiries.push(expires.timeIntervalSince1970, id)
        } else {
            ends.push(booking.end.timeIntervalSince1970, id)
        }
    }

    /// An offer accepted: it holds until its booking ends.
    public mutating func accept(_ id: UUID) {
        guard let h = holds[id], h.expires != nil else { return }
        book(id, h.booking, expires: nil)
    }

    /// The session holds nothing any more (rejected, cancelled, expired, ended, failed, deleted).
    public mutating func release(_ id: UUID) {
        guard let h = holds.removeValue(forKey: id) else { return }
        let key = h.booking.facility.key
        booked[key]?.remove(h.booking)
        if booked[key]?.count == 0 { booked[key] = nil }
    }

    /// Offers whose expiry is at or before `now` stop holding, and accepted bookings that have ended are dropped
    /// (they hold nothing at or after `now`). O(log n) per entry due. Callers' clocks move forward (a request's `now`
    /// is read just before its write), so what is gone at one `now` is gone for the next, as in the stores' SQL.
    public mutating func expire(now: Date) {
        let t = now.timeIntervalSince1970
        while let (due, id) = expiries.popDue(t) {
            if let e = holds[id]?.expires, e.timeIntervalSince1970 == due { release(id) }
        }
        while let (due, id) = ends.popDue(t) {
            if let h = holds[id], h.expires == nil, h.booking.end.timeIntervalSince1970 == due { release(id) }
        }
    }

    /// The calendars to plan against at `now` on these facilities (after expiring what is due): O(facilities).
    public mutating func calendars(for facilities: [FacilityID], now: Date) -> FacilityCalendars {
        expire(now: now)
        var out = FacilityCalendars()
        for f in facilities { if let c = booked[f.key] { out.byKey[f.key] = c } }
        return out
    }

    /// One facility's calendar as it stands (expiring nothing).
    public func calendar(_ facility: FacilityID) -> CapacityCalendar? { booked[facility.key] }
}

/// The calendars a plan is made against, by facility (without capacity: the planner sets each facility's own).
public struct FacilityCalendars: Sendable, ExpressibleByArrayLiteral {
    var byKey: [String: CapacityCalendar] = [:]

    public init() {}

    /// Calendars of these bookings, by facility.
    public init(_ bookings: [Booking]) {
        for b in bookings { byKey[b.facility.key, default: CapacityCalendar(capacity: FacilityCapacity())].add(b) }
    }

    public init(arrayLiteral bookings: Booking...) { self.init(bookings) }

    public subscript(_ facility: FacilityID) -> CapacityCalendar? { byKey[facility.key] }

    /// How many bookings they count in all.
    public var count: Int { byKey.values.reduce(0) { $0 + $1.count } }
}

/// A binary min-heap of (time, session) entries.
struct DueHeap: Sendable {
    private var items: [(time: Double, id: UUID)] = []

    mutating func push(_ time: Double, _ id: UUID) {
        items.append((time, id))
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard items[i].time < items[p].time else { break }
            items.swapAt(i, p)
            i = p
        }
    }

    /// The earliest entry when it is at or before `t`, taken off the heap.
    mutating func popDue(_ t: Double) -> (Double, UUID)? {
        guard let top = items.first, top.time <= t else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count, items[l].time < items[m].time { m = l }
                if r < items.count, items[r].time < items[m].time { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return (top.time, top.id)
    }
}

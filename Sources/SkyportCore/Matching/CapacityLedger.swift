import Foundation
import HashTreeCollections

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
        /// The accounts (`Account.description`) its quotas count it for, and the facility share it is charged to.
        public var accounts: [String]
        public var share: String?

        public init(booking: Booking, expires: Date?, accounts: [String] = [], share: String? = nil) {
            self.booking = booking
            self.expires = expires
            self.accounts = accounts
            self.share = share
        }

        /// What a session in `phase` holds: nothing outside the booking phases; an expiry only while `OFFERED`.
        public init?(phase: SessionPhase, booking: Booking, expires: Date, accounts: [String] = [], share: String? = nil) {
            guard SessionPhase.booking.contains(phase) else { return nil }
            self.init(booking: booking, expires: phase == .offered ? expires : nil, accounts: accounts, share: share)
        }

        public init?(_ s: SessionRecord) {
            self.init(phase: s.phase, booking: s.booking, expires: s.expires, accounts: s.accounts ?? [], share: s.share)
        }
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

    /// The holds, by session. A hash trie, not a `Dictionary`: a dictionary doubles its table when it fills, and
    /// moving every hold then took one offer request 170 ms at 390,000 holds (`bench-load.sh accept10` at 700/s,
    /// 155 s in) and 0.9 s at a million (`skyport bench ledger`). A trie grows a node at a time, and a copy of it
    /// (`capacityLedger()`) shares its nodes.
    public private(set) var holds = TreeDictionary<UUID, Hold>()
    /// Bookings by facility key; calendars carry no capacity (the planner sets the facility's current one).
    private var booked: [String: CapacityCalendar] = [:]
    /// The sessions holding each facility (by key): what a facility's page lists, without walking every hold.
    private var holders: [String: TreeSet<UUID>] = [:]
    /// Offers by expiry, and accepted bookings by end; entries that no longer match their hold are skipped.
    private var expiries = DueHeap()
    private var ends = DueHeap()
    /// What the holds add up to, for quotas and shares.
    private var tally = LedgerTally()

    public init() {}

    /// The ledger of these sessions (a store's rows when it opens): the same as replaying their writes.
    public init(holds: some Sequence<(UUID, Hold)>) {
        for (id, hold) in holds { book(id, hold.booking, expires: hold.expires, accounts: hold.accounts, share: hold.share) }
    }

    public mutating func apply(_ change: Change?) {
        switch change {
        case .hold(let id, let h)?: book(id, h.booking, expires: h.expires, accounts: h.accounts, share: h.share)
        case .release(let id)?: release(id)
        case nil: break
        }
    }

    /// Books (or rebooks) a session's capacity; with `expires` it stops holding then unless accepted.
    public mutating func book(_ id: UUID, _ booking: Booking, expires: Date?, accounts: [String] = [], share: String? = nil) {
        let hold = Hold(booking: booking, expires: expires, accounts: accounts, share: share)
        if let old = holds[id] {
            if old == hold { return }
            if old.booking == booking {
                tally.count(id, old, -1)
                holds[id] = hold
            } else {
                release(id)
                add(id, hold)
            }
        } else {
            add(id, hold)
        }
        tally.count(id, hold, +1)
        if let expires {
            expiries.push(expires.timeIntervalSince1970, id)
        } else {
            ends.push(booking.end.timeIntervalSince1970, id)
        }
    }

    private mutating func add(_ id: UUID, _ hold: Hold) {
        let key = hold.booking.facility.key
        booked[key, default: CapacityCalendar(capacity: FacilityCapacity())].add(hold.booking)
        holders[key, default: []].insert(id)
        holds[id] = hold
    }

    /// An offer accepted: it holds until its booking ends.
    public mutating func accept(_ id: UUID) {
        guard let h = holds[id], h.expires != nil else { return }
        book(id, h.booking, expires: nil, accounts: h.accounts, share: h.share)
    }

    /// The session holds nothing any more (rejected, cancelled, expired, ended, failed, deleted).
    public mutating func release(_ id: UUID) {
        guard let h = holds.removeValue(forKey: id) else { return }
        tally.count(id, h, -1)
        let key = h.booking.facility.key
        booked[key]?.remove(h.booking)
        if booked[key]?.count == 0 { booked[key] = nil }
        holders[key]?.remove(id)
        if holders[key]?.isEmpty == true { holders[key] = nil }
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
    /// With `accounts`, what those accounts hold (their quotas' usage), and for each facility what its shares hold.
    public mutating func calendars(for facilities: [FacilityID], now: Date, accounts: [String] = []) -> FacilityCalendars {
        expire(now: now)
        var out = FacilityCalendars()
        out.byKey.reserveCapacity(min(facilities.count, booked.count))
        for f in facilities { if let c = booked[f.key] { out.byKey[f.key] = c } }
        out.tally = tally.slice(accounts: accounts, facilities: facilities)
        return out
    }

    /// What these accounts hold now (after expiring what is due at `now`).
    public mutating func usage(of accounts: [String], now: Date) -> LedgerTally {
        expire(now: now)
        return tally.slice(accounts: accounts, facilities: [])
    }

    /// One facility's calendar as it stands (expiring nothing).
    public func calendar(_ facility: FacilityID) -> CapacityCalendar? { booked[facility.key] }

    /// The sessions holding one facility as it stands (expiring nothing; an offer past its expiry may still be
    /// among them until the next `expire`). A trie: the copy shares its nodes, so a caller may take it under a lock
    /// and walk it after.
    public func holders(of facility: FacilityID) -> TreeSet<UUID> { holders[facility.key] ?? [] }
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

    /// What the requester's accounts hold, and what the facilities' shares hold (when the ledger was asked).
    public var tally = LedgerTally()

    public subscript(_ facility: FacilityID) -> CapacityCalendar? { byKey[facility.key] }

    /// How many bookings they count in all.
    public var count: Int { byKey.values.reduce(0) { $0 + $1.count } }
}

/// Sums over the ledger's holds: for each account, the cores its offers hold and its accepted sessions; for each
/// facility, the cores held in all and by each share.
public struct LedgerTally: Sendable, Hashable {
    public var offeredCores: [String: Int] = [:]
    public var sessions: [String: Int] = [:]
    /// By facility key: cores held in all, and by share group.
    public var facilityCores: [String: Int] = [:]
    public var shareCores: [String: [String: Int]] = [:]
    /// Each account's accepted bookings (what its sessions will still use, `bookedAhead`). Tries, as the ledger's
    /// holds: an account may have many, and a slice given to a plan shares them instead of being copied at the next
    /// change.
    public var accepted: [String: TreeDictionary<UUID, Booking>] = [:]

    public init() {}

    mutating func count(_ id: UUID, _ h: CapacityLedger.Hold, _ sign: Int) {
        let key = h.booking.facility.key
        facilityCores[key, default: 0] += sign * h.booking.cores
        if facilityCores[key] == 0 { facilityCores[key] = nil }
        if let share = h.share {
            shareCores[key, default: [:]][share, default: 0] += sign * h.booking.cores
            if shareCores[key]?[share] == 0 { shareCores[key]?[share] = nil }
            if shareCores[key]?.isEmpty == true { shareCores[key] = nil }
        }
        for a in h.accounts {
            if h.expires != nil {
                offeredCores[a, default: 0] += sign * h.booking.cores
                if offeredCores[a] == 0 { offeredCores[a] = nil }
            } else {
                sessions[a, default: 0] += sign
                if sessions[a] == 0 { sessions[a] = nil }
                if sign > 0 { accepted[a, default: [:]][id] = h.booking } else {
                    accepted[a]?[id] = nil
                    if accepted[a]?.isEmpty == true { accepted[a] = nil }
                }
            }
        }
    }

    /// Only these accounts and facilities.
    func slice(accounts: [String], facilities: [FacilityID]) -> LedgerTally {
        var out = LedgerTally()
        for a in accounts {
            out.offeredCores[a] = offeredCores[a]
            out.sessions[a] = sessions[a]
            out.accepted[a] = accepted[a]
        }
        // Sized once for what it will hold (a dictionary grown key by key was most of building a plan's calendars).
        if !facilityCores.isEmpty {
            out.facilityCores.reserveCapacity(min(facilities.count, facilityCores.count))
            for f in facilities { if let n = facilityCores[f.key] { out.facilityCores[f.key] = n } }
        }
        if !shareCores.isEmpty {
            for f in facilities { if let held = shareCores[f.key] { out.shareCores[f.key] = held } }
        }
        return out
    }

    /// What the account holds now, as its quotas count it.
    public func usage(_ account: Account, now: Date? = nil) -> AccountUsage {
        var u = AccountUsage(offeredCores: offeredCores[account.description] ?? 0, sessions: sessions[account.description] ?? 0)
        if let now { u.bookedCoreSeconds = bookedAhead(account.description, now: now) }
        return u
    }

    /// Core-seconds the account's accepted sessions are still booked for after `now`.
    public func bookedAhead(_ account: String, now: Date) -> Double {
        (accepted[account] ?? [:]).values.reduce(0) { sum, b in
            let from = max(b.start, now)
            return b.end > from ? sum + Double(b.cores) * b.end.timeIntervalSince(from) : sum
        }
    }
}

/// A binary min-heap of (time, session) entries, kept in chunks of a fixed size: an array that doubles when it fills
/// copies every entry as it does (21 ms at a million), a new chunk copies none. Chunks emptied stay for the entries
/// that come next, as an array keeps its capacity.
struct DueHeap: Sendable {
    private typealias Entry = (time: Double, id: UUID)
    private static let chunk = 4096
    /// Entry `i` is `chunks[i / chunk][i % chunk]`: the chunks before the last one in use are full.
    private var chunks: [[Entry]] = []
    private var count = 0

    private subscript(_ i: Int) -> Entry {
        get { chunks[i / Self.chunk][i % Self.chunk] }
        set { chunks[i / Self.chunk][i % Self.chunk] = newValue }
    }

    private mutating func swapAt(_ i: Int, _ j: Int) {
        let t = self[i]
        self[i] = self[j]
        self[j] = t
    }

    mutating func push(_ time: Double, _ id: UUID) {
        let c = count / Self.chunk
        if c == chunks.count {
            chunks.append([])
            chunks[c].reserveCapacity(Self.chunk)
        }
        chunks[c].append((time, id))
        count += 1
        var i = count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard self[i].time < self[p].time else { break }
            swapAt(i, p)
            i = p
        }
    }

    /// The earliest entry when it is at or before `t`, taken off the heap.
    mutating func popDue(_ t: Double) -> (Double, UUID)? {
        guard count > 0, self[0].time <= t else { return nil }
        let top = self[0]
        let last = chunks[(count - 1) / Self.chunk].removeLast()
        count -= 1
        if count > 0 {
            self[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < count, self[l].time < self[m].time { m = l }
                if r < count, self[r].time < self[m].time { m = r }
                if m == i { break }
                swapAt(i, m)
                i = m
            }
        }
        return (top.time, top.id)
    }
}

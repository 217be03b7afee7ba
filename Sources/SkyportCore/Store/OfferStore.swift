import Foundation

/// A session holding capacity on a facility: what its page draws and lists (no document is read for it).
public struct Holding: Sendable, Hashable {
    public var session: UUID
    /// As stored (an offer is listed only until its expiry).
    public var phase: SessionPhase
    public var booking: Booking

    public init(session: UUID, phase: SessionPhase, booking: Booking) {
        self.session = session
        self.phase = phase
        self.booking = booking
    }

    public init(_ s: SessionRecord) { self.init(session: s.id, phase: s.phase, booking: s.booking) }
}

/// Offer sets and sessions, kept. Booking is atomic: one serialized write reads the capacity already held (the
/// store's `CapacityLedger`, kept current on every write of a session), runs the (pure) planner, writes its offers
/// and books them in the ledger, so concurrent requests never overbook a facility.
public protocol OfferStore: Sendable {
    /// Creates an offer set. `plan` receives the calendars of what holds capacity at `now` on the given facilities
    /// and returns the offer set and its sessions; it runs inside the store's write transaction, so it must do no I/O.
    /// With an idempotency key already used for the same digest, nothing is planned and the earlier set is returned;
    /// for another digest, `StoreError.conflict`. `plan` may run after other requests' plans in the same transaction
    /// (a store may write requests that wait for it together), and always before this returns.
    ///
    /// Sessions named in `stored` were written before by `insertOffers` (other brokers' offers, stored while the
    /// rest were awaited): they are returned but not written again, and on a replay they are deleted with their set.
    /// `accounts` (the requester's, `Account.description`): the calendars' tally says what they hold, and what the
    /// facilities' shares hold.
    func createOfferSet(
        idempotencyKey: String?, requestDigest: String?, facilities: [FacilityID], now: Date, stored: Set<UUID>, accounts: [String],
        plan: @escaping @Sendable (FacilityCalendars) throws -> (OfferSetRecord, [SessionRecord])
    ) async throws -> OfferSetCreation

    /// Stores offers of an offer set still being assembled (other brokers' offers, as they arrive; they hold no
    /// capacity here), creating the set from `set` if it is not stored yet. The set is found by id only (no
    /// idempotency key) until `createOfferSet` completes it.
    func insertOffers(_ sessions: [SessionRecord], of set: OfferSetRecord) async throws

    func offerSet(_ id: UUID) async throws -> (OfferSetRecord, [SessionRecord])?
    /// The offer set made for an idempotency key, with the digest of the body it came with.
    func offerSet(idempotencyKey key: String) async throws -> (id: UUID, digest: String?)?
    func session(_ id: UUID) async throws -> SessionRecord?
    /// The sessions `owner` made (its offers, accepted or not), newest first (an offer set's by rank), at most `limit`
    /// (and `ownerSessionsCap`); only those in `phase` when given (a phase as stored; OFFERED past its expiry is EXPIRED
    /// to the caller, who applies `phase(at:)`).
    /// The sessions that hold capacity on `facility` at some instant of `[from, to)` (a booking phase, as stored; an
    /// offer only until its expiry, compared with `from`), by start and id: what a facility's capacity picture shows.
    /// At most `limit`.
    func holdings(of facility: FacilityID, from: Date, to: Date, limit: Int) async throws -> [Holding]
    func sessions(owner: String, phase: SessionPhase?, limit: Int) async throws -> [SessionRecord]

    /// A client's phase change, checked by `SessionLifecycle` in one transaction. Accepting an offer rejects its
    /// `OFFERED` siblings; accepting after expiry, or after a sibling was accepted, is refused.
    /// Throws `SessionLifecycle.Refusal` or `StoreError.notFound`.
    /// `admit`, when given, judges an acceptance in the same transaction, from what the session's accounts hold
    /// (`LedgerTally`): it throws to refuse (a quota), and nothing changes; it may add to the session (the user's
    /// credential), which is stored with the acceptance.
    func changePhase(
        of id: UUID, to target: SessionPhase, now: Date, admit: (@Sendable (inout SessionRecord, LedgerTally) throws -> Void)?
    ) async throws -> SessionRecord

    /// Records `EXPIRED` on every offer past its expiry; returns how many.
    func expireOffers(now: Date) async throws -> Int
}

extension OfferStore {
    /// The most sessions `sessions(owner:phase:limit:)` returns, whatever the limit asked.
    public static var ownerSessionsCap: Int { 500 }

    public func changePhase(of id: UUID, to target: SessionPhase, now: Date) async throws -> SessionRecord {
        try await changePhase(of: id, to: target, now: now, admit: nil)
    }

    public func createOfferSet(
        idempotencyKey: String?, requestDigest: String?, facilities: [FacilityID], now: Date, stored: Set<UUID>,
        plan: @escaping @Sendable (FacilityCalendars) throws -> (OfferSetRecord, [SessionRecord])
    ) async throws -> OfferSetCreation {
        try await createOfferSet(
            idempotencyKey: idempotencyKey, requestDigest: requestDigest, facilities: facilities, now: now, stored: stored, accounts: [], plan: plan)
    }

    /// An offer set planned and stored at once (nothing stored before).
    public func createOfferSet(
        idempotencyKey: String?, requestDigest: String?, facilities: [FacilityID], now: Date,
        plan: @escaping @Sendable (FacilityCalendars) throws -> (OfferSetRecord, [SessionRecord])
    ) async throws -> OfferSetCreation {
        try await createOfferSet(
            idempotencyKey: idempotencyKey, requestDigest: requestDigest, facilities: facilities, now: now, stored: [], accounts: [], plan: plan)
    }
}

/// What `createOfferSet` did.
public enum OfferSetCreation: Sendable, Equatable {
    case created(OfferSetRecord, [SessionRecord])
    /// The same idempotency key and body came before: this is the offer set made then.
    case replayed(UUID)
}

import Foundation
import SkyportCore

/// A store that keeps everything in memory: fast tests, and nothing survives the process.
public actor InMemoryStore: BrokerStore {
    private var facilitiesByKey: [String: Facility] = [:]
    private var operatorsByName: [String: OperatorRecord] = [:]
    private var operatorByHash: [String: String] = [:]
    var offerSets: [UUID: OfferSetRecord] = [:]
    var sessions: [UUID: SessionRecord] = [:]
    var sessionsBySet: [UUID: [UUID]] = [:]
    var idempotency: [String: UUID] = [:]
    var leases: [UUID: (worker: String, until: Date)] = [:]
    /// Skyport's own UWS jobs, by id (see InMemoryStore+UWS.swift).
    var uwsJobsByID: [String: UWSJobRecord] = [:]
    /// The registries harvested, by URL (see InMemoryStore+Registry.swift).
    var registrySourcesByURL: [String: RegistrySource] = [:]
    /// What every session holds, kept current by `put`. The actor is its lock: planning against it and booking the
    /// plan happen in one actor turn (no suspension between), so no other write sees it in between.
    private(set) var ledger = CapacityLedger()
    /// Sessions' usage, kept after the sessions go (see InMemoryStore+Accounts.swift).
    var usage: [UUID: UsageRow] = [:]
    var quotas: [Account: QuotaOverride] = [:]
    var auditEvents: [AuditEvent] = []
    var purgedAuditSeq: Int64 = 0

    public nonisolated let kind = "memory"
    public nonisolated let changes = ChangeFeed()
    public nonisolated let telemetry = TelemetryRelay()
    public nonisolated let wakeups = StoreWakeups()

    public init() {}

    public func ping() async throws {}

    public func insertFacility(_ facility: Facility) async throws {
        guard facilitiesByKey[facility.id.key] == nil else { throw StoreError.duplicate("facility \(facility.id)") }
        facilitiesByKey[facility.id.key] = facility
    }

    public func facility(_ id: FacilityID) async throws -> Facility? { facilitiesByKey[id.key] }

    public func facilities(_ query: FacilityQuery) async throws -> [Facility] {
        facilitiesByKey.values.filter(query.matches).sorted { $0.id.key < $1.id.key }
    }

    public func facilityJSON(_ id: FacilityID) async throws -> String? {
        try facilitiesByKey[id.key].map(CanonicalJSON.encode)
    }

    public func facilitiesJSON(_ query: FacilityQuery) async throws -> [String] {
        try await facilities(query).map(CanonicalJSON.encode)
    }

    public func replaceFacility(_ facility: Facility) async throws {
        guard facilitiesByKey[facility.id.key] != nil else { throw StoreError.notFound("facility \(facility.id)") }
        facilitiesByKey[facility.id.key] = facility
    }

    public func removeFacility(_ id: FacilityID, now: Date) async throws -> FacilityRemoval {
        guard var facility = facilitiesByKey[id.key] else { return .notFound }
        let live = liveJobs(on: id)
        if live > 0 {
            facility.status = .draining
            facility.modified = now
            facilitiesByKey[id.key] = facility
            return .drained(liveJobs: live)
        }
        facilitiesByKey[id.key] = nil
        return .removed
    }

    private func liveJobs(on id: FacilityID) -> Int {
        sessions.values.filter { $0.facility == id && SessionPhase.live.contains($0.phase) }.count
    }

    public func insertOperator(_ record: OperatorRecord, tokenHash: String) async throws {
        guard operatorsByName[record.name] == nil else { throw StoreError.duplicate("operator \(record.name)") }
        operatorsByName[record.name] = record
        operatorByHash[tokenHash] = record.name
    }

    public func operatorName(forTokenHash hash: String) async throws -> String? { operatorByHash[hash] }

    public func operators() async throws -> [OperatorRecord] { operatorsByName.values.sorted { $0.name < $1.name } }

    public func removeOperator(named name: String) async throws -> Bool {
        guard operatorsByName.removeValue(forKey: name) != nil else { return false }
        operatorByHash = operatorByHash.filter { $0.value != name }
        return true
    }

    // MARK: offer sets and sessions

    public func createOfferSet(
        idempotencyKey: String?, requestDigest: String?, facilities: [FacilityID], now: Date, stored: Set<UUID>, accounts: [String],
        plan: @escaping @Sendable (FacilityCalendars) throws -> (OfferSetRecord, [SessionRecord])
    ) async throws -> OfferSetCreation {
        if let key = idempotencyKey, let existing = idempotency[key] {
            guard offerSets[existing]?.requestDigest == requestDigest else {
                throw StoreError.conflict("Idempotency-Key '\(key)' was used with another request")
            }
            // Offers stored for a set now known to be a replay go with their set.
            for id in stored {
                guard let set = sessions[id]?.offerSet else { continue }
                put(id, nil)
                if set != existing { dropAssembled(set) }
            }
            return .replayed(existing)
        }
        var (set, offers) = try plan(ledger.calendars(for: facilities, now: now, accounts: accounts))
        (set.idempotencyKey, set.requestDigest) = (idempotencyKey, requestDigest)
        offerSets[set.id] = set
        for offer in offers where !stored.contains(offer.id) || sessions[offer.id] == nil { put(offer.id, offer) }
        sessionsBySet[set.id] = offers.map(\.id)
        if let key = idempotencyKey { idempotency[key] = set.id }
        return .created(set, offers)
    }

    public func insertOffers(_ offers: [SessionRecord], of set: OfferSetRecord) async throws {
        if offerSets[set.id] == nil { offerSets[set.id] = set }
        for offer in offers {
            put(offer.id, offer)
            sessionsBySet[set.id, default: []].append(offer.id)
        }
    }

    private func dropAssembled(_ set: UUID) {
        for id in sessionsBySet.removeValue(forKey: set) ?? [] { put(id, nil) }
        offerSets[set] = nil
    }

    public func offerSet(idempotencyKey key: String) async throws -> (id: UUID, digest: String?)? {
        idempotency[key].map { ($0, offerSets[$0]?.requestDigest) }
    }

    public func offerSet(_ id: UUID) async throws -> (OfferSetRecord, [SessionRecord])? {
        guard let set = offerSets[id] else { return nil }
        return (set, (sessionsBySet[id] ?? []).compactMap { sessions[$0] }.sorted { $0.rank < $1.rank })
    }

    public func session(_ id: UUID) async throws -> SessionRecord? { sessions[id] }

    public func sessions(owner: String, phase: SessionPhase?, limit: Int) async throws -> [SessionRecord] {
        let mine = sessions.values.filter { $0.owner == owner && (phase == nil || $0.phase == phase) }
        return Array(mine.sorted(by: Self.newestFirst).prefix(max(0, min(limit, Self.ownerSessionsCap))))
    }

    public func holdings(of facility: FacilityID, from: Date, to: Date, limit: Int) async throws -> [Holding] {
        let held = sessions.values.filter {
            $0.facility.key == facility.key && SessionPhase.booking.contains($0.phase) && $0.end > from && $0.start < to
                && ($0.phase != .offered || $0.expires > from)
        }
        return held.sorted { ($0.start, $0.id) < ($1.start, $1.id) }.prefix(max(0, limit)).map(Holding.init)
    }

    /// The order of `sessions(owner:phase:limit:)`, as the SQL stores give it: newest first, then by offer set and rank.
    static func newestFirst(_ a: SessionRecord, _ b: SessionRecord) -> Bool {
        if a.created != b.created { return a.created > b.created }
        return (a.offerSet.text, a.rank, a.id.text) < (b.offerSet.text, b.rank, b.id.text)
    }

    public func changePhase(
        of id: UUID, to target: SessionPhase, now: Date, admit: (@Sendable (inout SessionRecord, LedgerTally) throws -> Void)?
    ) async throws -> SessionRecord {
        guard var session = sessions[id] else { throw StoreError.notFound("session \(id)") }
        if target == .accepted, let admit { try admit(&session, ledger.usage(of: session.accounts ?? [], now: now)) }
        let siblings = (sessionsBySet[session.offerSet] ?? []).compactMap { sessions[$0] }
        let changed = try SessionLifecycle.apply(target, to: session, siblings: siblings, now: now)
        for s in changed {
            put(s.id, s)
            if let holder = leases[s.id]?.worker, ForwardingMachine.isWatcher(holder) { leases[s.id] = nil }
            changes.changed(ChangeFeed.key(session: s.id))
        }
        return sessions[changed[0].id] ?? changed[0]
    }

    public func expireOffers(now: Date) async throws -> Int {
        var count = 0
        for (id, s) in sessions where s.phase == .offered && s.expires <= now {
            var expired = s
            expired.phase = .expired
            expired.modified = now
            put(id, expired)
            count += 1
        }
        if count > 0 { changes.changedAll() }
        return count
    }

    /// Writes a session (nil: deletes it), keeping the ledger current by the rule both stores share. Every write of
    /// a session goes through here.
    func put(_ id: UUID, _ new: SessionRecord?) {
        var new = new
        if var s = new, UsageAccounting.stamp(&s) || (s.started != nil && usage[id] == nil) {
            new = s
            usage[id] = UsageRow(accounts: s.accounts ?? [], cores: s.cores, started: s.started!, finished: s.finished)
        }
        ledger.apply(CapacityLedger.change(from: sessions[id], to: new))
        if let old = sessions[id]?.phase, let phase = new?.phase { telemetry.telemetry.changed(from: old, to: phase) }
        sessions[id] = new
    }

    /// The ledger as it stands (for tests).
    public func capacityLedger() -> CapacityLedger { ledger }

    public func held(accounts: [String], now: Date) async throws -> LedgerTally { ledger.usage(of: accounts, now: now) }

    // MARK: forwarding

    public func claimWork(worker: String, now: Date, until: Date, limit: Int) async throws -> [SessionRecord] {
        let due = sessions.values
            .filter { s in ForwardingMachine.needsWork(s) && (leases[s.id].map { $0.until <= now } ?? true) }
            .sorted { ($0.modified, $0.id.text) < ($1.modified, $1.id.text) }
            .prefix(limit)
        let takenOver = due.filter { s in ForwardingMachine.isTakeover(from: leases[s.id]?.worker, by: worker) }.count
        for s in due { leases[s.id] = (worker, until) }
        if !due.isEmpty { telemetry.record(.forwardingClaimed(sessions: due.count, takenOver: takenOver)) }
        return Array(due)
    }

    public func statistics(now: Date) async throws -> StoreStatistics {
        var out = StoreStatistics()
        for s in sessions.values {
            out.sessions[s.phase, default: 0] += 1
            guard ForwardingMachine.needsWork(s) else { continue }
            if let lease = leases[s.id], lease.until > now { out.leased += 1 } else { out.queued += 1 }
        }
        out.rows = ["facility": facilitiesByKey.count, "offer_set": offerSets.count, "session": sessions.count, "uws_job": uwsJobsByID.count,
                    "registry_source": registrySourcesByURL.count, "usage": usage.count, "audit": auditEvents.count]
        return out
    }

    public func updateClaimed(
        _ id: UUID, worker: String, now: Date, change: @escaping @Sendable (inout SessionRecord) -> Void
    ) async throws -> SessionRecord? {
        guard leases[id]?.worker == worker, let stored = sessions[id] else { return nil }
        var s = ForwardingMachine.workerChange(stored, change)
        s.modified = now
        put(id, s)
        changes.changed(ChangeFeed.key(session: id))
        return sessions[id]
    }

    public func release(_ id: UUID, worker: String, until: Date?) async throws {
        guard leases[id]?.worker == worker else { return }
        leases[id] = until.map { (ForwardingMachine.holdOff, $0) }
    }

    public func watch(_ id: UUID, worker: String, watcher: String, until: Date) async throws {
        guard leases[id]?.worker == worker else { return }
        leases[id] = (watcher, until)
    }

    public func renewWatch(_ ids: [UUID], watcher: String, until: Date) async throws {
        for id in ids where leases[id]?.worker == watcher { leases[id] = (watcher, until) }
    }

    public func unwatch(_ ids: [UUID]?, watcher: String) async throws {
        for id in ids ?? Array(leases.keys) where leases[id]?.worker == watcher { leases[id] = nil }
    }
}

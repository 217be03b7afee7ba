import Foundation
import Logging
import SkyportCore
import Synchronization

/// Turns a normalised request into a stored offer set: match every facility, then plan and book the offers
/// inside one store transaction. Used by `POST /requests` and by Skyport's own UWS jobs.
struct Negotiation {
    let deps: APIDependencies

    /// Creates (or, for a replayed idempotency key, finds) the offer set; returns its id.
    func negotiate(_ request: NormalisedRequest, idempotencyKey key: String?, digest: String?, now: Date, logger: Logger) async throws -> UUID {
        try await negotiateSet(request, idempotencyKey: key, digest: digest, now: now, logger: logger).0.id
    }

    /// Creates (or, for a replayed idempotency key, reads) the offer set and its offers. Facilities that are other
    /// ExecutionBrokers are asked first, all at once and each within its deadline (`path` is the way the request
    /// came here); their offers are stored as they arrive, and merged with this broker's own, round by round in
    /// rank order, when the last has answered.
    func negotiateSet(
        _ request: NormalisedRequest, idempotencyKey key: String?, digest: String?, now: Date, path: FederationPath = FederationPath(),
        logger: Logger
    ) async throws -> (OfferSetRecord, [SessionRecord]) {
        let facilities = try await deps.store.facilities(FacilityQuery())
        let outcome = Matcher.match(request, against: facilities, health: deps.health?.board, now: now)
        let settings = deps.planner
        var federation = Federation(setID: UUID(), expires: now.addingTimeInterval(settings.offerLifetime))
        if facilities.contains(where: { $0.brokerEndpoint != nil }) {
            // A replayed request is answered from the store before any other broker is asked again.
            if let key, let earlier = try await deps.store.offerSet(idempotencyKey: key) {
                guard earlier.digest == digest else { throw StoreError.conflict("Idempotency-Key '\(key)' was used with another request") }
                guard let stored = try await deps.store.offerSet(earlier.id) else { throw APIError.notFound("offer set \(earlier.id)") }
                return stored
            }
            await federate(request, outcome: outcome, into: &federation, now: now, path: path, logger: logger)
        }
        let planner = OfferPlanner(settings: settings)
        // Only this broker's own facilities hold capacity it books; other brokers book their own.
        let booked = federation.asked.isEmpty ? outcome.rankedIDs : federation.local.map(\.facility.id)
        let creation = try await deps.store.createOfferSet(
            idempotencyKey: key, requestDigest: digest, facilities: booked, now: now, stored: federation.stored
        ) { [federation] bookings in
            let plan = federation.asked.isEmpty
                ? planner.plan(request, outcome: outcome, bookings: bookings, now: now)
                : planner.plan(request, candidates: federation.local, bookings: bookings, now: now)
            return Self.records(request, outcome: outcome, plan: plan, federation: federation, now: now,
                                settings: settings, idempotencyKey: key, digest: digest)
        }
        switch creation {
        case .created(let set, let offers):
            logger.info("offer set created", metadata: [
                "offerset": .string(set.id.uuidString), "offers": .stringConvertible(offers.count),
                "rejected": .stringConvertible(set.rejections.count), "brokers": .stringConvertible(federation.asked.count),
            ])
            return (set, offers)
        case .replayed(let existing):
            guard let stored = try await deps.store.offerSet(existing) else { throw APIError.notFound("offer set \(existing)") }
            return stored
        }
    }

    /// The accepted facilities split into this broker's own and other brokers, and the other brokers' answers
    /// and the sessions made from their offers.
    struct Federation: Sendable {
        var setID: UUID
        var expires: Date
        var local: [MatchCandidate] = []
        /// Broker facilities asked, with their rank among the candidates and the endpoint asked.
        var asked: [(candidate: MatchCandidate, rank: Int, endpoint: Endpoint)] = []
        var answers: [FacilityID: BrokerAnswer] = [:]
        /// Each local candidate's rank among all candidates, by facility key.
        var ranks: [String: Int] = [:]
        /// Each answering broker's offers as sessions of this set, and what it offered outside the request.
        var remote: [FacilityID: RemoteSessions] = [:]
        /// Sessions already stored (while slower brokers were awaited).
        var stored: Set<UUID> = []
    }

    struct RemoteSessions: Sendable {
        var sessions: [SessionRecord] = []
        var outside: [String] = []
    }

    /// Asks the broker facilities among the candidates; each answer's offers become sessions at once, and are
    /// stored in the background while the others are awaited (whatever is not stored by then is stored with the set).
    func federate(
        _ request: NormalisedRequest, outcome: MatchOutcome, into f: inout Federation, now: Date, path: FederationPath, logger: Logger
    ) async {
        for (rank, candidate) in outcome.candidates.enumerated() {
            if let endpoint = candidate.facility.brokerEndpoint {
                f.asked.append((candidate, rank, endpoint))
            } else {
                f.ranks[candidate.facility.id.key] = rank
                f.local.append(candidate)
            }
        }
        guard !f.asked.isEmpty else { return }
        let questions = f.asked.map {
            BrokerQuestion(facility: $0.candidate.facility.id, endpoint: $0.endpoint, deadline: $0.endpoint.offerDeadline ?? deps.federationDeadline)
        }
        guard let forwarder = deps.federation else {
            // Never planned as this broker's own: another broker's capacity is not this broker's to book.
            for q in questions { f.answers[q.facility] = .failed("this Skyport is not set up to federate other brokers") }
            return
        }
        let shell = OfferSetRecord(id: f.setID, created: now, expires: f.expires, request: request)
        let assembly = OfferAssembly(store: deps.store, shell: shell, logger: logger)
        let asked = Dictionary(f.asked.map { ($0.candidate.facility.id, (candidate: $0.candidate, rank: $0.rank, endpoint: $0.endpoint)) },
                               uniquingKeysWith: { a, _ in a })
        let (setID, expires, settings) = (f.setID, f.expires, deps.planner)
        f.answers = await forwarder.ask(request, of: questions, path: path) { id, answer in
            guard let (candidate, rank, endpoint) = asked[id] else { return }
            assembly.add(id, Self.remoteSessions(
                answer, from: candidate.facility, rank: rank, endpoint: endpoint, request: request, setID: setID, now: now,
                expires: expires, settings: settings))
        }
        (f.remote, f.stored) = await assembly.finish()
        for (id, answer) in f.answers {
            if case .offers = answer { continue }
            logger.info("federated broker gave no offers", metadata: ["facility": .string(id.rawValue), "answer": .string(answer.reason(for: id)?.message ?? "")])
        }
    }

    /// The order of an offer in its set: round by round (each facility's first offer, then each one's second...),
    /// in rank order within a round. Kept as the session's `rank`, so that offers stored apart still sort so.
    static func order(round: Int, rank: Int) -> Int { round * 100_000 + min(rank, 99_999) }

    /// One broker's offers as sessions of the set (those inside the request, at most `maxOffersPerFacility`).
    static func remoteSessions(
        _ answer: BrokerAnswer, from f: Facility, rank: Int, endpoint: Endpoint, request: NormalisedRequest, setID: UUID, now: Date,
        expires: Date, settings: OfferPlanner.Settings
    ) -> RemoteSessions {
        var out = RemoteSessions()
        guard case .offers(_, let offers, _) = answer else { return out }
        for offer in offers where out.sessions.count < settings.maxOffersPerFacility {
            if let problem = outside(offer, request) {
                out.outside.append(problem)
                continue
            }
            // Closed here a little before it closes there, so that an acceptance made here still reaches it in time.
            let closes = min(expires, offer.expires.map { $0.addingTimeInterval(-2) } ?? expires)
            guard closes > now else { continue }
            var s = SessionRecord(
                id: UUID(), offerSet: setID, facility: f.id, facilityName: offer.facility.map { "\(f.name): \($0)" } ?? f.name,
                phase: .offered, created: now, expires: closes, cores: offer.cores, memory: offer.memory, start: offer.start,
                duration: offer.duration, rank: order(round: out.sessions.count, rank: rank), executable: request.executable)
            s.callback = request.callback
            s.data = request.data.isEmpty ? nil : request.data
            var remote = RemoteJob(endpoint: endpoint)
            remote.offer = offer.session
            remote.remotePhase = SessionPhase.offered.rawValue
            s.remote = remote
            out.sessions.append(s)
        }
        return out
    }

    /// What in another broker's offer lies outside the request (cores, memory, duration, start), or nil.
    static func outside(_ offer: RemoteOffer, _ r: NormalisedRequest) -> String? {
        func outside(_ value: Int, _ range: ResourceRange?) -> Bool {
            guard let range else { return false }
            return value < (range.min ?? 0) || value > (range.max ?? .max)
        }
        if outside(offer.cores, r.cores) { return "\(offer.cores) cores" }
        if outside(offer.memory, r.memory) { return "\(offer.memory) GiB" }
        if let asked = r.duration, offer.duration < asked { return "\(offer.duration), shorter than the \(asked) asked" }
        if let window = r.start, offer.start > window.latest.addingTimeInterval(60) {
            return "a start at \(Timestamp.format(offer.start)), after the window"
        }
        return nil
    }

    /// Builds the offer set and its sessions from the planner's offers and other brokers' offers (pure: runs inside
    /// the store's transaction). Offers are ordered round by round, in rank order within a round, as the planner
    /// orders its own.
    static func records(
        _ request: NormalisedRequest, outcome: MatchOutcome, plan: OfferPlan, federation: Federation, now: Date,
        settings: OfferPlanner.Settings, idempotencyKey: String?, digest: String?
    ) -> (OfferSetRecord, [SessionRecord]) {
        let setID = federation.setID
        let names = Dictionary(outcome.candidates.map { ($0.facility.id.key, $0.facility.name) }, uniquingKeysWith: { a, _ in a })

        var sessions: [SessionRecord] = []
        var rounds: [String: Int] = [:]
        for offer in plan.offers {
            let round = rounds[offer.facility.key, default: 0]
            rounds[offer.facility.key] = round + 1
            let rank = federation.asked.isEmpty ? offer.rank : federation.ranks[offer.facility.key] ?? offer.rank
            var s = SessionRecord(
                id: UUID(), offerSet: setID, facility: offer.facility, facilityName: names[offer.facility.key] ?? offer.facility.rawValue,
                phase: .offered, created: now, expires: offer.expires, cores: offer.cores, memory: offer.memory, start: offer.start,
                duration: offer.duration, rank: order(round: round, rank: rank), executable: request.executable)
            s.callback = request.callback
            s.data = request.data.isEmpty ? nil : request.data
            sessions.append(s)
        }
        var rejections = outcome.rejections
        var late: [String] = []
        var dropped: [String] = []
        for (candidate, _, _) in federation.asked {
            let f = candidate.facility
            let answer = federation.answers[f.id] ?? .failed("not asked")
            guard case .offers = answer else {
                if let reason = answer.reason(for: f.id) { rejections.append(MatchRejection(facility: f.id, reasons: [reason])) }
                if case .late = answer { late.append(f.id.rawValue) }
                continue
            }
            let remote = federation.remote[f.id] ?? RemoteSessions()
            sessions += remote.sessions
            guard !remote.outside.isEmpty else { continue }
            let outside = remote.outside.joined(separator: ", ")
            dropped.append("\(f.id.rawValue) offered \(outside)")
            if remote.sessions.isEmpty {
                rejections.append(MatchRejection(facility: f.id, reasons: [MatchReason(
                    code: .brokerNoOffers, field: "compute", requested: "an offer inside the request", offered: outside,
                    message: "broker \(f.id.rawValue) made only offers outside the request: \(outside)")]))
            }
        }
        sessions.sort { $0.rank < $1.rank }
        var messages = plan.notes.map { BrokerMessage(kind: "urn:\($0.code.rawValue)", level: .INFO, time: now, message: $0.message) }
        messages += request.notes.map {
            BrokerMessage(kind: "urn:request-note", level: $0.level == .warning ? .WARN : .INFO, time: now, message: "\($0.field): \($0.message)")
        }
        if !federation.asked.isEmpty {
            let answered = federation.asked.count - late.count
            messages.append(BrokerMessage(
                kind: "urn:federation", level: .INFO, time: now,
                message: "asked \(federation.asked.count) other broker(s); \(answered) answered in time"))
        }
        if !late.isEmpty {
            messages.append(BrokerMessage(
                kind: "urn:broker-late", level: .WARN, time: now,
                message: "no answer in time from \(late.joined(separator: ", ")); their offers, if any, are dropped"))
        }
        if !dropped.isEmpty {
            messages.append(BrokerMessage(
                kind: "urn:broker-offer-dropped", level: .WARN, time: now,
                message: "offers outside the request were dropped: " + dropped.prefix(10).joined(separator: "; ")))
        }
        if sessions.isEmpty {
            let why = outcome.isMatch
                ? "no accepted facility has capacity inside the requested start window"
                    + (federation.asked.isEmpty ? "" : ", and no other broker made an offer")
                : "no facility can run this request: \(outcome.rejectedCount) rejected (see rejected[] for each facility's reasons)"
            messages.insert(BrokerMessage(kind: "urn:no-offers", level: .WARN, time: now, message: why), at: 0)
        }
        let set = OfferSetRecord(
            id: setID, created: now, expires: federation.expires, request: request, messages: messages, rejections: rejections,
            idempotencyKey: idempotencyKey, requestDigest: digest)
        return (set, sessions)
    }
}

/// Other brokers' offers stored as they arrive, in the background, so that only the last answers are left to store
/// when the set is completed. Answers that come close together share a write: a write waits `gather` for more
/// before it starts, and when the set is completed a write still gathering is dropped (its offers are stored
/// with the set) rather than waited for.
final class OfferAssembly: Sendable {
    struct State {
        var remote: [FacilityID: Negotiation.RemoteSessions] = [:]
        var pending: [SessionRecord] = []
        var stored: Set<UUID> = []
        var writer: Task<Void, Never>?
        /// The writer is gathering (not yet writing).
        var gathering = false
        var closed = false
    }

    let store: any BrokerStore
    let shell: OfferSetRecord
    let logger: Logger
    let gather: Duration
    let state = Mutex(State())

    init(store: any BrokerStore, shell: OfferSetRecord, logger: Logger, gather: Duration = .milliseconds(20)) {
        self.store = store
        self.shell = shell
        self.logger = logger
        self.gather = gather
    }

    func add(_ facility: FacilityID, _ sessions: Negotiation.RemoteSessions) {
        state.withLock { s in
            s.remote[facility] = sessions
            s.pending += sessions.sessions
            if s.writer == nil, !s.pending.isEmpty, !s.closed {
                s.gathering = true
                s.writer = Task { await self.drain() }
            }
        }
    }

    /// Gathers, then writes what is pending, until nothing is; a failed write leaves its offers to the set's own write.
    private func drain() async {
        while true {
            try? await Task.sleep(for: gather)
            let batch: [SessionRecord]? = state.withLock { s in
                guard !s.closed, !s.pending.isEmpty else {
                    s.writer = nil
                    return nil
                }
                s.gathering = false
                let b = s.pending
                s.pending = []
                return b
            }
            guard let batch else { return }
            do {
                try await store.insertOffers(batch, of: shell)
                state.withLock { s in s.stored.formUnion(batch.map(\.id)) }
            } catch {
                logger.warning("storing other brokers' offers early failed; they are stored with the set", metadata: ["error": "\(error)"])
            }
            // Completing the set waits for this write only, never for another gathering.
            let closed = state.withLock { s in
                s.gathering = !s.closed
                if s.closed { s.writer = nil }
                return s.closed
            }
            if closed { return }
        }
    }

    /// Stops gathering and waits for a write under way; returns every broker's sessions and the ids stored.
    func finish() async -> ([FacilityID: Negotiation.RemoteSessions], Set<UUID>) {
        let (writer, gathering) = state.withLock { s in
            s.closed = true
            return (s.writer, s.gathering)
        }
        if let writer {
            if gathering { writer.cancel() }
            await writer.value
        }
        return state.withLock { ($0.remote, $0.stored) }
    }
}

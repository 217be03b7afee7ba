import Foundation
import Logging
import SkyportCore

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
    /// came here); their offers are merged with this broker's own, round by round in rank order.
    func negotiateSet(
        _ request: NormalisedRequest, idempotencyKey key: String?, digest: String?, now: Date, path: FederationPath = FederationPath(),
        logger: Logger
    ) async throws -> (OfferSetRecord, [SessionRecord]) {
        let facilities = try await deps.store.facilities(FacilityQuery())
        let outcome = Matcher.match(request, against: facilities, health: deps.health?.board, now: now)
        let federation = facilities.contains(where: { $0.brokerEndpoint != nil })
            ? await federate(request, outcome: outcome, path: path, logger: logger) : Federation()
        let planner = OfferPlanner(settings: deps.planner)
        let settings = deps.planner
        // Only this broker's own facilities hold capacity it books; other brokers book their own.
        let booked = federation.asked.isEmpty ? outcome.rankedIDs : federation.local.map(\.facility.id)
        let creation = try await deps.store.createOfferSet(
            idempotencyKey: key, requestDigest: digest, facilities: booked, now: now
        ) { bookings in
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

    /// The accepted facilities split into this broker's own and other brokers, and the other brokers' answers.
    struct Federation: Sendable {
        var local: [MatchCandidate] = []
        /// Broker facilities asked, with their rank among the candidates and the endpoint asked.
        var asked: [(candidate: MatchCandidate, rank: Int, endpoint: Endpoint)] = []
        var answers: [FacilityID: BrokerAnswer] = [:]
        /// Each local candidate's rank among all candidates, by facility key.
        var ranks: [String: Int] = [:]
    }

    func federate(_ request: NormalisedRequest, outcome: MatchOutcome, path: FederationPath, logger: Logger) async -> Federation {
        var f = Federation()
        for (rank, candidate) in outcome.candidates.enumerated() {
            if let endpoint = candidate.facility.brokerEndpoint {
                f.asked.append((candidate, rank, endpoint))
            } else {
                f.ranks[candidate.facility.id.key] = rank
                f.local.append(candidate)
            }
        }
        guard !f.asked.isEmpty else { return f }
        let questions = f.asked.map {
            BrokerQuestion(facility: $0.candidate.facility.id, endpoint: $0.endpoint, deadline: $0.endpoint.offerDeadline ?? deps.federationDeadline)
        }
        guard let forwarder = deps.federation else {
            // Never planned as this broker's own: another broker's capacity is not this broker's to book.
            for q in questions { f.answers[q.facility] = .failed("this Skyport is not set up to federate other brokers") }
            return f
        }
        f.answers = await forwarder.ask(request, of: questions, path: path)
        for (id, answer) in f.answers {
            if case .offers = answer { continue }
            logger.info("federated broker gave no offers", metadata: ["facility": .string(id.rawValue), "answer": .string(answer.reason(for: id)?.message ?? "")])
        }
        return f
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
    /// the store's transaction). Offers are ordered round by round (each facility's first offer, then each one's
    /// second...), in rank order within a round, as the planner orders its own.
    static func records(
        _ request: NormalisedRequest, outcome: MatchOutcome, plan: OfferPlan, federation: Federation = Federation(), now: Date,
        settings: OfferPlanner.Settings, idempotencyKey: String?, digest: String?
    ) -> (OfferSetRecord, [SessionRecord]) {
        let setID = UUID()
        let names = Dictionary(outcome.candidates.map { ($0.facility.id.key, $0.facility.name) }, uniquingKeysWith: { a, _ in a })
        let expires = now.addingTimeInterval(settings.offerLifetime)

        var drafts: [(round: Int, rank: Int, session: SessionRecord)] = []
        var rounds: [String: Int] = [:]
        for offer in plan.offers {
            var s = SessionRecord(
                id: UUID(), offerSet: setID, facility: offer.facility, facilityName: names[offer.facility.key] ?? offer.facility.rawValue,
                phase: .offered, created: now, expires: offer.expires, cores: offer.cores, memory: offer.memory, start: offer.start,
                duration: offer.duration, rank: 0, executable: request.executable)
            s.callback = request.callback
            s.data = request.data.isEmpty ? nil : request.data
            let round = rounds[offer.facility.key, default: 0]
            rounds[offer.facility.key] = round + 1
            drafts.append((round, federation.asked.isEmpty ? offer.rank : federation.ranks[offer.facility.key] ?? offer.rank, s))
        }
        var rejections = outcome.rejections
        var late: [String] = []
        var dropped: [String] = []
        for (candidate, rank, endpoint) in federation.asked {
            let f = candidate.facility
            let answer = federation.answers[f.id] ?? .failed("not asked")
            guard case .offers(_, let offers, _) = answer else {
                if let reason = answer.reason(for: f.id) { rejections.append(MatchRejection(facility: f.id, reasons: [reason])) }
                if case .late = answer { late.append(f.id.rawValue) }
                continue
            }
            var round = 0
            var outside: [String] = []
            for offer in offers where round < settings.maxOffersPerFacility {
                if let problem = Self.outside(offer, request) {
                    outside.append(problem)
                    continue
                }
                defer { round += 1 }
                // Closed here a little before it closes there, so that an acceptance made here still reaches it in time.
                let closes = min(expires, offer.expires.map { $0.addingTimeInterval(-2) } ?? expires)
                guard closes > now else { continue }
                var s = SessionRecord(
                    id: UUID(), offerSet: setID, facility: f.id,
                    facilityName: offer.facility.map { "\(f.name): \($0)" } ?? f.name, phase: .offered, created: now, expires: closes,
                    cores: offer.cores, memory: offer.memory, start: offer.start, duration: offer.duration, rank: 0,
                    executable: request.executable)
                s.callback = request.callback
                s.data = request.data.isEmpty ? nil : request.data
                var remote = RemoteJob(endpoint: endpoint)
                remote.offer = offer.session
                remote.remotePhase = SessionPhase.offered.rawValue
                s.remote = remote
                drafts.append((round, rank, s))
            }
            guard !outside.isEmpty else { continue }
            dropped.append("\(f.id.rawValue) offered \(outside.joined(separator: ", "))")
            if round == 0 {
                rejections.append(MatchRejection(facility: f.id, reasons: [MatchReason(
                    code: .brokerNoOffers, field: "compute", requested: "an offer inside the request", offered: outside.joined(separator: ", "),
                    message: "broker \(f.id.rawValue) made only offers outside the request: \(outside.joined(separator: ", "))")]))
            }
        }
        drafts.sort { ($0.round, $0.rank) < ($1.round, $1.rank) }
        let sessions = drafts.enumerated().map { i, d in
            var s = d.session
            s.rank = i
            return s
        }
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
            id: setID, created: now, expires: expires, request: request, messages: messages, rejections: rejections,
            idempotencyKey: idempotencyKey, requestDigest: digest)
        return (set, sessions)
    }
}

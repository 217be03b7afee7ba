import Foundation
import Logging
import SkyportCore

/// The federated part of a negotiation: which candidates are other ExecutionBrokers, asking them, and their offers
/// as sessions of the offer set.
extension Negotiation {
    /// The accepted facilities split into this broker's own and other brokers, and the other brokers' answers
    /// and the sessions made from their offers.
    struct Federation: Sendable {
        var setID: UUID
        var expires: Date
        /// Who owns the set and its sessions (nil: an anonymous caller).
        var owner: String? = nil
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
            BrokerQuestion(
                facility: $0.candidate.facility.id, endpoint: $0.endpoint, deadline: $0.endpoint.offerDeadline ?? broker.federationDeadline,
                origins: Set($0.candidate.facility.endpoints.compactMap { Origin($0.url) }))
        }
        guard let forwarder = broker.federation else {
            // Never planned as this broker's own: another broker's capacity is not this broker's to book.
            for q in questions { f.answers[q.facility] = .failed("this Skyport is not set up to federate other brokers") }
            return
        }
        let shell = OfferSetRecord(id: f.setID, created: now, expires: f.expires, request: request, owner: f.owner)
        let assembly = OfferAssembly(store: broker.store, shell: shell, logger: logger)
        let asked = Dictionary(f.asked.map { ($0.candidate.facility.id, (candidate: $0.candidate, rank: $0.rank, endpoint: $0.endpoint)) },
                               uniquingKeysWith: { a, _ in a })
        let (setID, expires, owner, settings) = (f.setID, f.expires, f.owner, broker.planner)
        f.answers = await forwarder.ask(request, of: questions, path: path) { id, answer in
            guard let (candidate, rank, endpoint) = asked[id] else { return }
            assembly.add(id, Self.remoteSessions(
                answer, from: candidate.facility, rank: rank, endpoint: endpoint, request: request, setID: setID, owner: owner, now: now,
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
        _ answer: BrokerAnswer, from f: Facility, rank: Int, endpoint: Endpoint, request: NormalisedRequest, setID: UUID, owner: String? = nil,
        now: Date, expires: Date, settings: OfferPlanner.Settings
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
                id: UUID.timeOrdered(at: now), offerSet: setID, facility: f.id, facilityName: offer.facility.map { "\(f.name): \($0)" } ?? f.name,
                phase: .offered, created: now, expires: closes, cores: offer.cores, memory: offer.memory, start: offer.start,
                duration: offer.duration, rank: order(round: out.sessions.count, rank: rank), executable: request.executable)
            s.callback = request.callback
            s.data = request.data.isEmpty ? nil : request.data
            s.owner = owner
            var remote = RemoteJob(endpoint: endpoint)
            remote.offer = offer.session
            remote.phase = .broker(.offered)
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
}

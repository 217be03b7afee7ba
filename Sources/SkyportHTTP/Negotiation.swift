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

    /// Creates (or, for a replayed idempotency key, reads) the offer set and its offers.
    func negotiateSet(
        _ request: NormalisedRequest, idempotencyKey key: String?, digest: String?, now: Date, logger: Logger
    ) async throws -> (OfferSetRecord, [SessionRecord]) {
        let facilities = try await deps.store.facilities(FacilityQuery())
        let outcome = Matcher.match(request, against: facilities, health: deps.health?.board, now: now)
        let planner = OfferPlanner(settings: deps.planner)
        let settings = deps.planner
        let creation = try await deps.store.createOfferSet(
            idempotencyKey: key, requestDigest: digest, facilities: outcome.rankedIDs, now: now
        ) { bookings in
            Self.records(request, outcome: outcome, plan: planner.plan(request, outcome: outcome, bookings: bookings, now: now), now: now,
                         settings: settings, idempotencyKey: key, digest: digest)
        }
        switch creation {
        case .created(let set, let offers):
            logger.info("offer set created", metadata: [
                "offerset": .string(set.id.uuidString), "offers": .stringConvertible(offers.count),
                "rejected": .stringConvertible(outcome.rejectedCount),
            ])
            return (set, offers)
        case .replayed(let existing):
            guard let stored = try await deps.store.offerSet(existing) else { throw APIError.notFound("offer set \(existing)") }
            return stored
        }
    }

    /// Builds the offer set and its sessions from the planner's offers (pure: runs inside the store's transaction).
    static func records(
        _ request: NormalisedRequest, outcome: MatchOutcome, plan: OfferPlan, now: Date, settings: OfferPlanner.Settings,
        idempotencyKey: String?, digest: String?
    ) -> (OfferSetRecord, [SessionRecord]) {
        let setID = UUID()
        let names = Dictionary(outcome.candidates.map { ($0.facility.id.key, $0.facility.name) }, uniquingKeysWith: { a, _ in a })
        let expires = now.addingTimeInterval(settings.offerLifetime)
        let sessions = plan.offers.enumerated().map { i, offer in
            var s = SessionRecord(
                id: UUID(), offerSet: setID, facility: offer.facility, facilityName: names[offer.facility.key] ?? offer.facility.rawValue,
                phase: .offered, created: now, expires: offer.expires, cores: offer.cores, memory: offer.memory, start: offer.start,
                duration: offer.duration, rank: i, executable: request.executable)
            s.callback = request.callback
            s.data = request.data.isEmpty ? nil : request.data
            return s
        }
        var messages = plan.notes.map { BrokerMessage(kind: "urn:\($0.code.rawValue)", level: .INFO, time: now, message: $0.message) }
        messages += request.notes.map {
            BrokerMessage(kind: "urn:request-note", level: $0.level == .warning ? .WARN : .INFO, time: now, message: "\($0.field): \($0.message)")
        }
        if sessions.isEmpty {
            let why = outcome.isMatch
                ? "no accepted facility has capacity inside the requested start window"
                : "no facility can run this request: \(outcome.rejectedCount) rejected (see rejected[] for each facility's reasons)"
            messages.insert(BrokerMessage(kind: "urn:no-offers", level: .WARN, time: now, message: why), at: 0)
        }
        let set = OfferSetRecord(
            id: setID, created: now, expires: expires, request: request, messages: messages, rejections: outcome.rejections,
            idempotencyKey: idempotencyKey, requestDigest: digest)
        return (set, sessions)
    }

}

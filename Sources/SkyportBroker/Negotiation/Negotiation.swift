import Foundation
import Logging
import SkyportCore
import Tracing

/// Turns a normalised request into a stored offer set: match every facility, then plan and book the offers
/// inside one store transaction. Used by `POST /requests` and by Skyport's own UWS jobs.
public struct Negotiation: Sendable {
    let broker: Broker

    /// Creates (or, for a replayed idempotency key, finds) the offer set; returns its id.
    public func negotiate(_ request: NormalisedRequest, idempotencyKey key: String?, digest: String?, now: Date, logger: Logger) async throws -> UUID {
        try await negotiateSet(request, idempotencyKey: key, digest: digest, now: now, logger: logger).0.id
    }

    /// A client's idempotency key as stored: a signed-in caller's keys are theirs alone, so that another caller
    /// sending the same key neither gets their offer set nor a conflict (a key has no spaces: the last space ends
    /// the owner).
    public static func scoped(_ key: String?, owner: String?) -> String? {
        guard let key, let owner else { return key }
        return owner + " " + key
    }

    /// Creates (or, for a replayed idempotency key, reads) the offer set and its offers. Facilities that are other
    /// ExecutionBrokers are asked first, all at once and each within its deadline (`path` is the way the request
    /// came here); their offers are stored as they arrive, and merged with this broker's own, round by round in
    /// rank order, when the last has answered.
    /// `owner` (a signed-in caller's `Identity.owner`) owns the set and its sessions; facilities' access policies
    /// judge `requester`.
    public func negotiateSet(
        _ request: NormalisedRequest, idempotencyKey key: String?, digest: String?, now: Date, path: FederationPath = FederationPath(),
        owner: String? = nil, requester: Requester = .anonymous, actor: String? = nil, logger: Logger
    ) async throws -> (OfferSetRecord, [SessionRecord]) {
        let terms = try await broker.quotas.terms(for: requester, now: now)
        // A request that asks what this broker cannot do is matched against nothing: its answer is `NO`, saying why.
        let refused = !(request.refusals ?? []).isEmpty
        let index = refused ? MatchIndex([]) : try await broker.store.matchIndex()
        let outcome = Self.span("match") { span in
            let outcome = Matcher.match(request, index: index, health: broker.health?.board, now: now, requester: requester)
            if span.isRecording {
                span.attributes["skyport.facilities"] = index.facilities.count
                span.attributes["skyport.candidates"] = outcome.candidates.count
            }
            return outcome
        }
        let settings = broker.planner
        var federation = Federation(setID: UUID.timeOrdered(at: now), expires: now.addingTimeInterval(settings.offerLifetime), owner: owner)
        if index.hasBrokers {
            // A replayed request is answered from the store before any other broker is asked again.
            if let key, let earlier = try await broker.store.offerSet(idempotencyKey: key) {
                guard earlier.digest == digest else { throw StoreError.conflict("Idempotency-Key '\(key)' was used with another request") }
                guard let stored = try await broker.store.offerSet(earlier.id) else { throw BrokerError.notFound("offer set \(earlier.id)") }
                return stored
            }
            federation = await Self.span("federate") { [federation] span in
                var federation = federation
                await federate(request, outcome: outcome, into: &federation, now: now, path: path, logger: logger)
                if span.isRecording { span.attributes["skyport.brokers"] = federation.asked.count }
                return federation
            }
        }
        let planner = OfferPlanner(settings: settings)
        // Only this broker's own facilities hold capacity it books; other brokers book their own.
        let booked = federation.asked.isEmpty ? outcome.rankedIDs : federation.local.map(\.facility.id)
        // Explained and written here, not inside the store's serialized write (they do not depend on the plan), even for
        // a replay, which does not need them; once for every request of the same shape while the facilities stand.
        let rejections = broker.explained.value(outcome.rejectionsKey) {
            let list = RejectionList(outcome.rejections)
            return (list, size: list.text.utf8.count * Broker.explainedSizeFactor)
        }
        let creation = try await Self.span("book") { _ in try await broker.store.createOfferSet(
            idempotencyKey: key, requestDigest: digest, facilities: booked, now: now, stored: federation.stored, accounts: terms.accounts
        ) { [federation] calendars in
            let allowance = terms.allowance(held: calendars.tally, now: now)
            let plan = federation.asked.isEmpty
                ? planner.plan(request, outcome: outcome, calendars: calendars, now: now, allowance: allowance)
                : planner.plan(request, candidates: federation.local, calendars: calendars, now: now, allowance: allowance)
            return Self.records(request, outcome: outcome, rejections: rejections, plan: plan, federation: federation, now: now,
                                settings: settings, idempotencyKey: key, digest: digest, accounts: terms.accounts)
        } }
        switch creation {
        case .created(let set, let offers):
            broker.telemetry.record(.offerRequest(OfferAnswer.of(set, offers: offers.count)))
            logger.info("offer set created", metadata: [
                "offerset": .string(set.id.text), "offers": .stringConvertible(offers.count),
                "rejected": .stringConvertible(set.rejections.count), "brokers": .stringConvertible(federation.asked.count),
                "owner": .string(owner ?? "-"),
            ])
            broker.audit.record(
                .ask, target: "offerset:\(set.id.lowercasedText)", by: actor ?? owner ?? "anonymous",
                detail: "\(offers.count) offer(s), \(set.rejections.count) facility(ies) rejected", logger: logger)
            return (set, offers)
        case .replayed(let existing):
            guard let stored = try await broker.store.offerSet(existing) else { throw BrokerError.notFound("offer set \(existing)") }
            return stored
        }
    }

    /// A span around `body` when the request is traced (`TraceScope`); otherwise `body` alone, with a span that records nothing.
    static func span<T>(_ name: String, _ body: (any Span) throws -> T) rethrows -> T {
        TraceScope.traced ? try withSpan(name, body) : try body(NoOpTracer.NoOpSpan(context: .topLevel))
    }

    static func span<T>(_ name: String, _ body: (any Span) async throws -> T) async rethrows -> T {
        TraceScope.traced ? try await withSpan(name, body) : try await body(NoOpTracer.NoOpSpan(context: .topLevel))
    }

    /// Builds the offer set and its sessions from the planner's offers and other brokers' offers (pure: runs inside
    /// the store's transaction); `matched` are the outcome's rejections, written ahead. Offers are ordered round by round, in rank
    /// order within a round, as the planner orders its own.
    static func records(
        _ request: NormalisedRequest, outcome: MatchOutcome, rejections matched: RejectionList, plan: OfferPlan, federation: Federation,
        now: Date, settings: OfferPlanner.Settings, idempotencyKey: String?, digest: String?, accounts: [String] = []
    ) -> (OfferSetRecord, [SessionRecord]) {
        let setID = federation.setID
        let names = outcome.names(of: plan.offers.map(\.facility))

        var sessions: [SessionRecord] = []
        var rounds: [String: Int] = [:]
        for offer in plan.offers {
            let round = rounds[offer.facility.key, default: 0]
            rounds[offer.facility.key] = round + 1
            let rank = federation.asked.isEmpty ? offer.rank : federation.ranks[offer.facility.key] ?? offer.rank
            var s = SessionRecord(
                id: UUID.timeOrdered(at: now), offerSet: setID, facility: offer.facility, facilityName: names[offer.facility.key] ?? offer.facility.rawValue,
                phase: .offered, created: now, expires: offer.expires, cores: offer.cores, memory: offer.memory, start: offer.start,
                duration: offer.duration, rank: order(round: round, rank: rank), executable: request.executable)
            s.callback = request.callback
            s.data = request.data.isEmpty ? nil : request.data
            s.owner = federation.owner
            if !accounts.isEmpty { s.accounts = accounts }
            s.share = offer.share
            s.gpus = offer.gpus
            if let staging = offer.score.staging, staging > 0 { s.staging = staging }
            sessions.append(s)
        }
        var rejections: [MatchRejection] = []  // other brokers', after the matched ones
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
                    code: .brokerNoOffers, field: "compute", requested: "an offer inside the request", offered: outside)]))
            }
        }
        sessions.sort { $0.rank < $1.rank }
        let messages = Self.messages(
            request, outcome: outcome, plan: plan, federation: federation, late: late, dropped: dropped, offered: !sessions.isEmpty, now: now)
        var set = OfferSetRecord(
            id: setID, created: now, expires: federation.expires, request: request, messages: messages, rejectionList: matched.adding(rejections),
            idempotencyKey: idempotencyKey, requestDigest: digest, owner: federation.owner)
        if request.refusals == nil { set.funnel = outcome.funnel.withCapacity(passed: plan.withRoom, tried: plan.tried) }
        set.ranking = outcome.shape.rank
        return (set, sessions)
    }

    /// The offer set's messages: the planner's notes, the request's warnings, what the federation did, and why there
    /// is no offer when there is none.
    static func messages(
        _ request: NormalisedRequest, outcome: MatchOutcome, plan: OfferPlan, federation: Federation, late: [String], dropped: [String],
        offered: Bool, now: Date
    ) -> [BrokerMessage] {
        let refusals = request.refusals ?? []
        var messages = refusals.map {
            BrokerMessage(kind: "urn:request-refused", level: .ERROR, time: now, message: "\($0.field): \($0.message)")
        }
        messages += plan.notes.map {
            BrokerMessage(kind: "urn:\($0.code.rawValue)", level: $0.code.isWarning ? .WARN : .INFO, time: now, message: $0.message)
        }
        messages += request.notes.map {
            BrokerMessage(kind: "urn:request-note", level: $0.level == .warning ? .WARN : .INFO, time: now, message: "\($0.field): \($0.message)")
        }
        if !federation.asked.isEmpty {
            // Counted from the answers themselves, so that the words agree with rejected[].
            var withOffers = 0, without = 0, failed = 0
            for (candidate, _, _) in federation.asked {
                switch federation.answers[candidate.facility.id] {
                case .offers?: withOffers += 1
                case .noOffers?: without += 1
                case .late?: break
                case .loop?, .failed?, nil: failed += 1
                }
            }
            var parts = ["\(withOffers) answered with offers", "\(without) without"]
            if !late.isEmpty { parts.append("\(late.count) too late") }
            if failed > 0 { parts.append("\(failed) could not be asked or refused (see rejected[])") }
            messages.append(BrokerMessage(
                kind: "urn:federation", level: .INFO, time: now,
                message: "asked \(federation.asked.count) other broker(s): " + parts.joined(separator: ", ")))
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
        if !offered {
            if !refusals.isEmpty {
                let fields = refusals.map(\.field).joined(separator: ", ")
                messages.insert(BrokerMessage(
                    kind: "urn:no-offers", level: .WARN, time: now, message: "the request asks what this broker cannot do (\(fields)); see the messages"), at: 0)
                return messages
            }
            let emptied = outcome.funnel.emptiedBy.map { "; no facility passed the \($0.rawValue) clause (see funnel)" } ?? ""
            let why = outcome.isMatch
                ? "no accepted facility has capacity inside the requested start window"
                    + (federation.asked.isEmpty ? "" : ", and no other broker made an offer")
                : "no facility can run this request: \(outcome.rejectedCount) rejected (see rejected[] for each facility's reasons)\(emptied)"
            messages.insert(BrokerMessage(kind: "urn:no-offers", level: .WARN, time: now, message: why), at: 0)
        }
        return messages
    }
}

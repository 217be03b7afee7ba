import Foundation
import Logging
import SkyportCore
import Synchronization

/// Skyport's own UWS 1.1 jobs, so that any UWS client (pyvo) can drive the broker: a job of type `execute` holds a
/// request; `RUN` negotiates it and accepts the best offer, and from then on the job shows its session's phase.
/// Jobs belong to their owner; another owner's job does not exist for the caller. The rules are
/// `UWSJobLifecycle`'s; this carries out what it decides.
public struct UWSJobs: Sendable {
    let broker: Broker

    /// A job as a client asks for it, its parameters already read (names in lower case, control parameters apart).
    public struct Draft: Sendable {
        public var type: String?
        public var parameters: [(name: String, value: String)]
        public var runId: String?
        public var executionDuration: Int?
        public var destruction: Date?
        /// `PHASE=RUN` at creation: start at once.
        public var run: Bool

        public init(
            type: String?, parameters: [(name: String, value: String)], runId: String?, executionDuration: Int?, destruction: Date?,
            run: Bool
        ) {
            self.type = type
            self.parameters = parameters
            self.runId = runId
            self.executionDuration = executionDuration
            self.destruction = destruction
            self.run = run
        }
    }

    /// The owner's jobs the query selects, newest first.
    public func list(_ query: UWSJobQuery) async throws -> [UWSJobListing] {
        try await broker.store.uwsJobs(query)
    }

    /// Creates a job (its parameters checked by building the request they describe), and runs it if asked.
    /// `groups`: a signed-in scientist's (the job is negotiated as them).
    /// `bearer`: their token, for a facility that takes the user's own credentials (the job is accepted with it).
    public func create(_ draft: Draft, owner: String, groups: [String]? = nil, bearer: Bearer? = nil, logger: Logger) async throws -> UWSJobRecord {
        let now = broker.now()
        let typeName = draft.type ?? UWSJobType.all[0].name
        guard let type = UWSJobType.named(typeName) else {
            throw BrokerError.badParameter(
                field: "type",
                message: "unknown job type '\(typeName)': use one of \(UWSJobType.all.map(\.name).joined(separator: ", ")) (see GET /uws/types)")
        }
        var parameters: [String: String] = [:]
        for (name, value) in draft.parameters {
            guard parameters[name] == nil else { throw BrokerError.badParameter(field: name, message: "\(name) is given more than once: give it once") }
            if let problem = FieldLimits.problem(name, field: "parameter name", limit: FieldLimits.uwsParameterName) {
                throw BrokerError.badParameter(field: String(name.prefix(FieldLimits.uwsParameterName)), message: "the parameter name \(problem)")
            }
            if let problem = FieldLimits.problem(value, field: name, limit: FieldLimits.uwsParameter) {
                throw BrokerError.badParameter(field: name, message: "\(name) \(problem)")
            }
            parameters[name] = value
        }
        let request = try type.request(parameters, now, broker.egress)
        if let runId = draft.runId, runId.isEmpty || runId.utf8.count > 256 {
            throw BrokerError.badParameter(field: "RUNID", message: "RUNID must have 1 to 256 characters")
        }
        var job = UWSJobRecord(
            id: UUID().lowercasedText, owner: owner, type: type.name,
            parameters: [UWSParameter(id: "type", value: type.name)] + parameters.sorted { $0.key < $1.key }.map { UWSParameter(id: $0.key, value: $0.value) },
            runId: draft.runId, created: now, executionDuration: draft.executionDuration ?? request.duration?.seconds ?? 0,
            destruction: now.addingTimeInterval(UWSJobLifecycle.defaultLifetime))
        if let requested = draft.destruction { job.destruction = try Self.destruction(requested, now: now) }
        job.groups = groups
        try await broker.store.insertUWSJob(job)
        logger.info("uws job created", metadata: ["job": .string(job.id), "owner": .string(owner), "type": .string(job.type)])
        if draft.run { try await act(.run, on: job.id, known: .pending, bearer: bearer, logger: logger) }
        return job
    }

    /// The job and its session (as the owner sees it). A job left mid-negotiation by a broker that stopped is
    /// negotiated again; a job past its destruction time is destroyed and is not found.
    public func job(_ id: String, owner: String, logger: Logger) async throws -> (UWSJobRecord, SessionRecord?) {
        guard var job = try await broker.store.uwsJob(id), job.owner == owner else { throw BrokerError.notFound("UWS job '\(id)'") }
        if UWSJobLifecycle.isStranded(job, now: broker.now()) {
            logger.notice("resuming a UWS job left mid-negotiation", metadata: ["job": .string(job.id)])
            try await negotiateAndLink(job, logger: logger)
            job = try await broker.store.uwsJob(id) ?? job
        }
        if job.isDestroyed(at: broker.now()) {
            try await destroy(job, logger: logger)
            throw BrokerError.notFound("UWS job '\(id)'")
        }
        guard let sessionID = job.session else { return (job, nil) }
        return (job, try await broker.store.session(sessionID).map(broker.sessions.reveal))
    }

    /// The job, held (up to `seconds`, at most `Broker.maxWait`) while it is active and in `awaited` (its phase
    /// now when nil): woken by the store's writes of the job or its session.
    public func job(_ id: String, owner: String, waiting seconds: Int, while awaited: UWSPhase?, logger: Logger) async throws -> (UWSJobRecord, SessionRecord?) {
        var current = try await job(id, owner: owner, logger: logger)
        let known = current.0.phase(session: current.1?.phase)
        guard known.isActive, awaited == nil || awaited == known, seconds > 0 else { return current }
        let deadline = ContinuousClock.now + .seconds(min(seconds, broker.maxWait))
        while !Task.isCancelled {
            let keys = Self.changeKeys(current.0)
            let observation = broker.store.changes.observe(keys)
            current = try await job(id, owner: owner, logger: logger)
            let left = deadline - ContinuousClock.now
            guard current.0.phase(session: current.1?.phase) == known, left > .zero else {
                observation.cancel()
                break
            }
            // Linked to its session meanwhile: observe that too, from the next round.
            if Self.changeKeys(current.0) != keys {
                observation.cancel()
                continue
            }
            await observation.wait(upTo: left)
        }
        return current
    }

    /// What a job's phase is read from: the job, and its session once it has one.
    static func changeKeys(_ job: UWSJobRecord) -> [String] {
        [ChangeFeed.key(uwsJob: job.id)] + (job.session.map { [ChangeFeed.key(session: $0)] } ?? [])
    }

    /// `PHASE=RUN` or `PHASE=ABORT` (the lifecycle decides what it means in the job's phase).
    public func act(_ event: UWSJobLifecycle.Event, on id: String, owner: String, bearer: Bearer? = nil, logger: Logger) async throws {
        let (job, session) = try await job(id, owner: owner, logger: logger)
        try await act(event, on: job.id, known: job.phase(session: session?.phase), bearer: bearer, logger: logger)
    }

    /// A new execution duration (only while the job is pending).
    public func setExecutionDuration(_ seconds: Int, of id: String, owner: String, logger: Logger) async throws {
        try await act(.setExecutionDuration(seconds), on: id, owner: owner, logger: logger)
    }

    /// A new destruction time, brought into the range the broker keeps jobs for (`UWSJobLifecycle.destruction`).
    public func setDestruction(_ requested: Date, of id: String, owner: String, logger: Logger) async throws {
        let destruction = try Self.destruction(requested, now: broker.now())
        try await act(.setDestruction(destruction), on: id, owner: owner, logger: logger)
    }

    /// Deletes the owner's job, cancelling its session first if it is still live.
    public func destroy(_ id: String, owner: String, logger: Logger) async throws {
        let (job, _) = try await job(id, owner: owner, logger: logger)
        try await destroy(job, logger: logger)
    }

    // MARK: carrying out the lifecycle

    func act(_ event: UWSJobLifecycle.Event, on id: String, known: UWSPhase, bearer: Bearer? = nil, logger: Logger) async throws {
        let now = broker.now()
        let action = ActionBox()
        let stored = try await broker.store.updateUWSJob(id) { j in
            action.set(try UWSJobLifecycle.apply(event, to: &j, known: known, now: now))
        }
        switch action.value {
        case .none:
            if event == .abort { logger.info("uws job aborted", metadata: ["job": .string(id)]) }
        case .negotiate:
            try await negotiateAndLink(stored, bearer: bearer, logger: logger)
        case .cancelSession(let session):
            do {
                try await broker.sessions.changePhase(of: session, to: .cancelled)
            } catch let refusal as SessionLifecycle.Refusal {
                let phase = try await broker.store.session(session).map { stored.phase(session: $0.phase) } ?? .unknown
                logger.debug("uws job abort refused", metadata: ["job": .string(id), "reason": .string(refusal.description)])
                throw UWSJobError.illegal(job: id, phase: phase, action: "ABORT")
            }
            logger.info("uws job aborted", metadata: ["job": .string(id)])
        }
    }

    /// Negotiates the job's request and accepts the best offer. When negotiation gives NO, or fails, the job goes to
    /// ERROR with the reasons. The job id is the idempotency key, so a resumed negotiation finds the offer set (and
    /// the accepted session) made before, if there was one.
    func negotiateAndLink(_ claimed: UWSJobRecord, bearer: Bearer? = nil, logger: Logger) async throws {
        let id = claimed.id
        do {
            guard let type = UWSJobType.named(claimed.type) else {
                throw BrokerError.badParameter(field: "type", message: "unknown job type '\(claimed.type)'")
            }
            let parameters = Dictionary(claimed.parameters.filter { $0.id != "type" }.map { ($0.id, $0.value) }, uniquingKeysWith: { _, b in b })
            var request = try type.request(parameters, broker.now(), broker.egress)
            if claimed.executionDuration > 0 { request.duration = ISODuration(seconds: claimed.executionDuration) }
            let (set, offers) = try await broker.negotiation.negotiateSet(
                request, idempotencyKey: "uws-job:\(id)", digest: "uws-job", now: broker.now(), owner: claimed.owner,
                requester: claimed.requester, logger: logger)
            guard let best = offers.first else {
                let (summary, detail) = Self.noOffers(set)
                try await record(.negotiationFailed(summary: summary, detail: detail, offerSet: set.id), on: id)
                logger.info("uws job negotiation gave NO", metadata: ["job": .string(id), "offerset": .string(set.id.text)])
                return
            }
            // An offer accepted before a restart is taken as it is.
            let accepted: SessionRecord
            if let earlier = offers.first(where: { ![.offered, .rejected, .expired].contains($0.phase) }) {
                accepted = earlier
            } else {
                accepted = try await broker.sessions.changePhase(of: best.id, to: .accepted, actor: claimed.owner, bearer: bearer, logger: logger)
            }
            do {
                let event = UWSJobLifecycle.Event.negotiated(
                    session: accepted.id, offerSet: set.id, quote: accepted.end, duration: accepted.duration.seconds)
                if case .cancelSession(let session) = try await record(event, on: id) {
                    _ = try? await broker.sessions.changePhase(of: session, to: .cancelled)
                }
            } catch {
                // The job was deleted meanwhile, or could not be linked: the session must not run unseen.
                _ = try? await broker.sessions.changePhase(of: accepted.id, to: .cancelled)
                if case StoreError.notFound = error { return }
                throw error
            }
            logger.info("uws job running", metadata: ["job": .string(id), "session": .string(accepted.id.text)])
        } catch {
            let message = Self.describe(error)
            try await record(.negotiationFailed(summary: "the job could not be negotiated: \(message)", detail: nil, offerSet: nil), on: id)
            logger.info("uws job failed", metadata: ["job": .string(id), "error": .string(message)])
        }
    }

    /// Stores an event the lifecycle always allows; returns what it asks for.
    @discardableResult
    func record(_ event: UWSJobLifecycle.Event, on id: String) async throws -> UWSJobLifecycle.Action {
        let now = broker.now()
        let action = ActionBox()
        _ = try await broker.store.updateUWSJob(id) { j in
            action.set(try UWSJobLifecycle.apply(event, to: &j, known: j.phase, now: now))
        }
        return action.value
    }

    func destroy(_ job: UWSJobRecord, logger: Logger) async throws {
        if let id = job.session, let session = try await broker.store.session(id), !session.phase.isFinal {
            _ = try? await broker.sessions.changePhase(of: id, to: .cancelled)
        }
        _ = try await broker.store.deleteUWSJob(job.id)
        logger.info("uws job deleted", metadata: ["job": .string(job.id)])
    }

    static func destruction(_ requested: Date, now: Date) throws -> Date {
        switch UWSJobLifecycle.destruction(requested, now: now) {
        case .success(let date): return date
        case .failure(let e): throw BrokerError.badParameter(field: e.field, message: e.message)
        }
    }

    /// The error of a job whose negotiation gave NO: one line naming every rejected facility's reasons, and a full account.
    /// Stored with the job and shown to its owner (anyone with a token): reasons as the public sees them, without
    /// facilities' probe details or other brokers' words.
    public static func noOffers(_ set: OfferSetRecord) -> (summary: String, detail: String) {
        let head = set.messages.first { $0.kind == "urn:no-offers" }?.message ?? "no facility made an offer"
        let reasons = set.rejections.map { r in "\(r.facility): \(r.reasons.map { $0.message(for: .public) }.joined(separator: ", "))" }
        var summary = "negotiation gave NO: \(head)"
        if !reasons.isEmpty {
            summary += ". " + reasons.prefix(10).joined(separator: "; ") + (reasons.count > 10 ? "; and \(reasons.count - 10) more" : "")
        }
        var detail = "negotiation gave NO (offer set \(set.id.lowercasedText))\n"
        detail += set.messages.map { "\($0.level.rawValue) \($0.kind): \($0.message)\n" }.joined()
        for r in set.rejections {
            detail += "\(r.facility) rejected:\n" + r.reasons.map { "  - \($0.code.rawValue) (\($0.field)): \($0.message(for: .public))\n" }.joined()
        }
        return (summary, detail)
    }

    /// An error in a few words, for a job's error summary.
    static func describe(_ error: any Error) -> String {
        switch error {
        case BrokerError.badParameter(_, let message): return message
        case BrokerError.invalidParameters(let errors): return errors.prefix(3).map(\.message).joined(separator: "; ")
        case BrokerError.notFound(let what): return "\(what) does not exist"
        case let e as ValidationFailure: return e.errors.map(\.description).joined(separator: "; ")
        case let e as SessionLifecycle.Refusal: return e.description
        default: return String(describing: error).prefix(300).description
        }
    }
}

/// Carries the lifecycle's action out of the store's update closure.
final class ActionBox: Sendable {
    private let action = Mutex(UWSJobLifecycle.Action.none)
    func set(_ value: UWSJobLifecycle.Action) { action.withLock { $0 = value } }
    var value: UWSJobLifecycle.Action { action.withLock { $0 } }
}

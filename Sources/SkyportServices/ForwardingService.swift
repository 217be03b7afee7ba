import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import SkyportCore
import Tracing

/// Forwards accepted sessions to their facilities and tracks them to the end: the I/O shell around
/// `ForwardingMachine`, which decides every step.
///
/// Work is claimed from the store with a lease, so two workers (or a worker restarted after a crash) never
/// drive one job twice; all remote I/O happens outside store transactions. Before a job is created the session
/// is marked `submitting`, and the remote URL is recorded the moment the facility answers, before the job is
/// started: after a crash the job is found again (by run id) instead of created twice. Concurrency is bounded
/// by `concurrency`. A job is tracked by blocking on the facility (UWS `WAIT`) instead of polling tightly, or, when
/// many jobs run at one UWS job list that can be read by phase, by the `JobListTracker`, which reads that list once per
/// interval for all of them and holds no worker slot meanwhile.
public struct ForwardingService: Service {
    public struct Settings: Sendable {
        /// Sessions driven at once.
        public var concurrency = 64
        /// How long a claim lasts; a crashed worker's sessions are picked up again after it.
        public var lease: Duration = .seconds(60)
        /// Longest blocking wait asked of a facility per status call, in seconds (kept well under the lease).
        public var wait = 20
        /// Pause when there is nothing to do.
        public var idle: Duration = .milliseconds(250)
        /// Consecutive failures to reach a facility after which the session fails.
        public var maxFailures = 8
        /// How often a job list followed by phase is read.
        public var listInterval: Duration = .milliseconds(250)
        /// Jobs tracked at one UWS job list from which the list is read (`PHASE` filters) instead of waiting on each.
        public var listMinimum = 8
        /// Told of each read of a job list (the jobs it held), of each list left as unusable, and of how many
        /// sessions are followed by their lists.
        public var listRead: @Sendable (Int) -> Void = { _ in }
        public var listLeft: @Sendable () -> Void = {}
        public var watching: @Sendable (Int) -> Void = { _ in }
        /// A user's token that expires within this many seconds is exchanged again before a call (an exchanged
        /// one), or ends the session (a forwarded one that has expired).
        public var credentialMargin: TimeInterval = 60
        /// Opens sessions' sealed user credentials, and seals renewed ones.
        public var sealer: (any SecretSealer)?
        /// Exchanges a user's token again for a facility's audience.
        public var exchanger: (any TokenExchanging)?
        /// Told of every call to a facility (its operation, outcome and time) and of every step retried.
        public var telemetry = Telemetry.off
        public init() {}
    }

    let store: any BrokerStore
    let executors: [EndpointKind: any FacilityExecutor]
    let notifier: (any Notifier)?
    let settings: Settings
    let worker: String
    let logger: Logger
    let now: @Sendable () -> Date
    /// Rung by the API when a session is accepted or cancelled: the idle pause ends at once.
    let work: WorkSignal?
    let machine: ForwardingMachine
    /// Follows jobs by their job lists; nil when no executor can list jobs.
    let tracker: JobListTracker?

    public init(
        store: any BrokerStore, executors: [EndpointKind: any FacilityExecutor], notifier: (any Notifier)? = nil, settings: Settings = .init(),
        worker: String = "worker-\(UUID().text.prefix(8))", work: WorkSignal? = nil, logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.work = work
        self.store = store
        self.executors = executors
        self.notifier = notifier
        self.settings = settings
        self.worker = worker
        self.logger = logger
        self.now = now
        self.machine = ForwardingMachine(wait: settings.wait, maxFailures: settings.maxFailures)
        let listing = executors.compactMapValues { $0 as? any JobListing }
        var lists = JobListTracker.Settings()
        lists.interval = settings.listInterval
        lists.minimum = settings.listMinimum
        lists.lease = settings.lease
        lists.observers = .init(listRead: settings.listRead, listLeft: settings.listLeft, watching: settings.watching)
        self.tracker = listing.isEmpty ? nil : JobListTracker(
            store: store, listing: listing, worker: worker, settings: lists, work: work, logger: logger, now: now)
    }

    public func run() async throws {
        let inFlight = InFlight()
        try await withThrowingDiscardingTaskGroup { group in
            if let tracker { group.addTask { await tracker.run() } }
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let room = settings.concurrency - inFlight.count
                let claimed = room > 0 ? await claimLogged(room) : []
                for session in claimed {
                    inFlight.add(1)
                    group.addTask {
                        await self.drive(session)
                        inFlight.add(-1)
                        self.work?.ring()  // the session (or another) may be claimable again now: no idle pause
                    }
                }
                if claimed.count < room || room == 0 {
                    if let work { await work.wait(upTo: settings.idle) } else { try? await Task.sleep(for: settings.idle) }
                }
            }
        }
    }

    func claimLogged(_ limit: Int) async -> [SessionRecord] {
        do { return try await claim(limit) } catch {
            logger.error("claiming forwarding work failed", metadata: ["error": .string(String(describing: error))])
            return []
        }
    }

    func claim(_ limit: Int) async throws -> [SessionRecord] {
        let t = now()
        return try await store.claimWork(worker: worker, now: t, until: t.addingTimeInterval(settings.lease.seconds), limit: limit)
    }

    /// One turn for one claimed session: the machine's actions, carried out and recorded one after the other, until
    /// it has nothing to do or the job has been asked once where it stands; then the lease is given back (with a
    /// hold-off after a failure), or passed to the job-list tracker, which then follows the job.
    func drive(_ claimed: SessionRecord) async {
        // The turn continues the trace of the request that accepted the session, when that was traced. A turn that
        // only asks a job where it stands is not traced: a job followed for hours would make a trace of thousands.
        guard let trace = claimed.trace else { return await turn(claimed) }
        if case .track = machine.next(claimed) { return await turn(claimed) }
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(["traceparent": trace], into: &context, using: DictionaryExtractor())
        await TraceScope.$traced.withValue(true) {
            await withSpan("forward", context: context) { span in
                if span.isRecording {
                    span.attributes["skyport.session"] = claimed.id.lowercasedText
                    span.attributes["skyport.facility"] = claimed.facility.rawValue
                }
                await turn(claimed)
            }
        }
    }

    func turn(_ claimed: SessionRecord) async {
        var session = claimed
        var read = tracker?.claimed(session.id)  // what the tracker read when it gave the session back
        var asked = false
        do {
            while true {
                let action = machine.next(session)
                if action == .done { break }
                var event: ForwardingEvent?
                // A job run with the user's own credentials is followed on its own: job lists are read with Skyport's.
                if case .track = action, let tracker, let remote = session.remote, session.credential == nil {
                    if let read = read.take() {
                        event = read.event(facility: try await store.facility(session.facility)?.name ?? session.facility.rawValue)
                    } else if await tracker.follow(session, remote) {
                        return  // followed on its job list: the tracker holds the session now
                    }
                }
                if event == nil {
                    if action.followsJob {
                        if asked { break }
                        asked = true
                    }
                    event = try await perform(action, session)
                }
                guard let event else { break }
                guard let stored = try await record(event, session) else { break }  // the lease was lost
                session = stored
                if let hold = machine.holdOff(after: event, stored) {
                    await release(session, until: now().addingTimeInterval(hold))
                    return
                }
            }
            await release(session, until: nil)
        } catch where Task.isCancelled {
            await release(session, until: nil)
        } catch {
            let text = String(describing: error).prefix(500).description
            logger.warning("forwarding step failed", metadata: ["session": .string(session.id.text), "error": .string(text)])
            let event = ForwardingEvent.unreachable(text)
            settings.telemetry.record(.forwardingRetry(facility: session.facility))
            let stored = try? await record(event, session)
            await release(session, until: now().addingTimeInterval(machine.holdOff(after: event, stored ?? nil) ?? 1))
        }
    }

    /// Records `event` on the stored session (the machine applies it to what is stored, in the store's transaction);
    /// a status with nothing new (a wait that ran out) is not written. Nil when the lease was lost.
    func record(_ event: ForwardingEvent, _ session: SessionRecord) async throws -> SessionRecord? {
        let machine = machine, t = now()
        if case .status = event, machine.apply(event, to: session, now: t) == session { return session }
        return try await store.updateClaimed(session.id, worker: worker, now: t) { $0 = machine.apply(event, to: $0, now: t) }
    }

    /// Carries out one action: the facility's answer (or the notice sent) as an event; nil when the turn ends here.
    func perform(_ action: ForwardingAction, _ session: SessionRecord) async throws -> ForwardingEvent? {
        if case .notify(let notice) = action {
            await notify(session, notice)
            return .notified(notice)
        }
        guard let facility = try await store.facility(session.facility) else { return .facilityGone }
        guard var (endpoint, executor) = pickExecutor(session, facility) else { return .noExecutor(kinds: facility.endpoints.map(\.kind)) }
        if let credential = session.credential {
            let cleanup = action == .abort || action == .rejectRemoteOffer
            switch try await userToken(credential, of: session) {
            case .success(let token):
                guard let bearing = executor.bearing(token) else {
                    return .refused("a \(endpoint.kind.rawValue) endpoint cannot be sent the user's token")
                }
                executor = bearing
            case .failure(let refusal) where !cleanup:
                logger.info("user credential ended", metadata: ["session": .string(session.id.text), "reason": .string(refusal.message)])
                return .refused(refusal.message)
            case .failure:
                // Stopping a job is tried even so, with the last token there was.
                if let token = settings.sealer?.open(credential.sealedToken), let bearing = executor.bearing(token) { executor = bearing }
            }
        }
        let remote = session.remote ?? RemoteJob(endpoint: endpoint)
        let started = ContinuousClock.now
        let report = { [settings] (outcome: RemoteOutcome) in
            guard let operation = action.operation else { return }
            settings.telemetry.record(.remoteCall(
                facility: facility.id, operation: operation, outcome: outcome, seconds: (ContinuousClock.now - started).seconds))
        }
        do {
            let call = { try await self.call(action, session, facility: facility, endpoint: endpoint, executor: executor, remote: remote) }
            let event = TraceScope.traced ? try await withSpan("forward \(action.operation?.rawValue ?? "step")") { _ in try await call() } : try await call()
            if event != nil { report(.ok) }  // nil: the lease was lost before the call
            return event
        } catch is CancellationError {
            throw CancellationError()
        } catch let refusal as FacilityRefusal {
            report(.refused)
            logger.info("facility refused the session", metadata: ["session": .string(session.id.text), "reason": .string(refusal.message)])
            return .refused(refusal.message)
        } catch {
            report(.error)
            throw error
        }
    }

    /// The facility call an action makes, as an event.
    func call(
        _ action: ForwardingAction, _ session: SessionRecord, facility: Facility, endpoint: Endpoint, executor: any FacilityExecutor, remote: RemoteJob
    ) async throws -> ForwardingEvent? {
        switch action {
        case .submit:
            guard let marked = try await record(.submitting(endpoint), session) else { return nil }
            let url = try await executor.submit(marked, to: endpoint)
            logger.info("session forwarded", metadata: [
                "session": .string(session.id.text), "facility": .string(facility.id.rawValue), "job": .string(url),
            ])
            return .submitted(url: url)
        case .findByRunID:
            return .found(url: try await executor.find(session, at: endpoint))
        case .start:
            return .status(try await executor.start(remote, for: session), facility: facility.name)
        case .track(let wait):
            let ask = { try await executor.status(remote, for: session, wait: wait) }
            let status = if let tracker { try await tracker.waiting(at: remote.endpoint, ask) } else { try await ask() }
            return .status(status, facility: facility.name)
        case .abort:
            let status = try await executor.abort(remote, for: session)
            logger.info("forwarded job aborted", metadata: ["session": .string(session.id.text), "job": .string(remote.url ?? "")])
            return .aborted(status)
        case .rejectRemoteOffer:
            let status = try await executor.abort(remote, for: session)
            logger.info("remote offer rejected", metadata: ["session": .string(session.id.text), "offer": .string(remote.offer ?? "")])
            return .offerRejected(status)
        case .notify, .done:
            return nil
        }
    }

    /// The user's token to send for a session: as stored, or, when it is about to expire, exchanged again at the
    /// user's issuer (and the new one stored, sealed); a refusal when it cannot be renewed (the session then fails
    /// with that reason). A network failure at the issuer is thrown: the step is retried later.
    func userToken(_ credential: UserCredential, of session: SessionRecord) async throws -> Result<String, CredentialRefusal> {
        guard let sealer = settings.sealer else { return .failure(CredentialRefusal("this broker has no key to open the user's sealed token with")) }
        switch credential.use(at: now(), margin: settings.credentialMargin) {
        case .send:
            guard let token = sealer.open(credential.sealedToken) else { return .failure(CredentialRefusal("the user's sealed token cannot be opened with this broker's key")) }
            return .success(token)
        case .fail(let why):
            return .failure(CredentialRefusal(why))
        case .exchangeAgain:
            guard let exchanger = settings.exchanger, let subject = credential.sealedSubject.flatMap(sealer.open) else {
                return .failure(CredentialRefusal("the token exchanged for facility audience \(credential.audience) expired, and this broker cannot exchange it again"))
            }
            let issued: IssuedToken
            do {
                issued = try await exchanger.exchange(subject, issuer: credential.issuer, audience: credential.audience, now: now())
            } catch let refusal as CredentialRefusal {
                return .failure(CredentialRefusal("your token could not be renewed for facility audience \(credential.audience): \(refusal.message)"))
            }
            var renewed = credential
            (renewed.sealedToken, renewed.expires) = (try sealer.seal(issued.token), issued.expires)
            let stored = renewed
            _ = try await store.updateClaimed(session.id, worker: worker, now: now()) { $0.credential = stored }
            logger.info("user credential renewed", metadata: ["session": .string(session.id.text), "audience": .string(credential.audience)])
            return .success(issued.token)
        }
    }

    /// POSTs the session's notice to its callback. It counts as sent whether it arrived or not: a callback that
    /// cannot be reached after the notifier's bounded retries is given up (and logged), so that it never holds the
    /// session; so is one when this broker has no notifier.
    func notify(_ session: SessionRecord, _ notice: ForwardingAction.Notice) async {
        guard let url = session.callback, let notifier else { return }
        do {
            try await notifier.notify(url, SessionNotice(session))
            logger.info("callback notified", metadata: ["session": .string(session.id.text), "phase": .string(session.phase.rawValue)])
        } catch {
            logger.warning("callback failed; giving up", metadata: [
                "session": .string(session.id.text), "error": .string(String(describing: error).prefix(300).description),
            ])
        }
    }

    /// Gives a claimed session back, even while shutting down (the write runs outside the cancelled task), so that
    /// the next start or another worker resumes it at once instead of after the lease. (A crash cannot; then the
    /// lease runs out.)
    func release(_ session: SessionRecord, until: Date?) async {
        let store = store, id = session.id, worker = worker
        await Task { try? await store.release(id, worker: worker, until: until) }.value
    }

    func pickExecutor(_ session: SessionRecord, _ facility: Facility) -> (Endpoint, any FacilityExecutor)? {
        if let endpoint = session.remote?.endpoint, let executor = executors[endpoint.kind] { return (endpoint, executor) }
        for endpoint in facility.endpoints { if let executor = executors[endpoint.kind] { return (endpoint, executor) } }
        return nil
    }
}

/// How many sessions are being driven right now.
final class InFlight: Sendable {
    private let value = Mutex(0)
    var count: Int { value.withLock { $0 } }
    func add(_ n: Int) { value.withLock { $0 += n } }
}

extension ForwardingAction {
    /// The facility call this action makes, as counted (nil: it calls no facility).
    var operation: RemoteOperation? {
        switch self {
        case .submit: .submit
        case .findByRunID: .find
        case .start: .start
        case .track: .status
        case .abort: .abort
        case .rejectRemoteOffer: .rejectOffer
        case .notify, .done: nil
        }
    }
}

/// Reads trace context from a dictionary (kept with a session).
struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

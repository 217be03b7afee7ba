import Foundation
import Logging
import SkyportCore
import Tracing

/// A signed-in caller's bearer token and the identity it gave (what a facility that takes the user's credentials gets).
public struct Bearer: Sendable {
    public var token: String
    public var identity: Identity

    public init(token: String, identity: Identity) {
        self.token = token
        self.identity = identity
    }
}

/// A client's offer sets and sessions: reading them as their owner sees them, changing a session's phase, and
/// waiting for it to move.
public struct Sessions: Sendable {
    let broker: Broker

    /// Longest a long poll holds its answer, in seconds, unless configured (`Broker.maxWait`).
    public static let defaultMaxWait = 60

    /// The request a session answers (its offer set's), to show its components as the user wrote them; nil when
    /// the set is gone or cannot be read (the session is then shown from what it keeps itself).
    public func request(of session: SessionRecord) async -> NormalisedRequest? {
        try? await broker.store.offerSet(session.offerSet)?.0.request
    }

    /// An offer set and its sessions, as their owner sees them. One the viewer may not see does not exist for them.
    public func offerSet(_ id: UUID, as viewer: Viewer = .anyone) async throws -> (OfferSetRecord, [SessionRecord]) {
        guard let (set, sessions) = try await broker.store.offerSet(id), viewer.sees(set.owner) else {
            throw BrokerError.notFound("offer set \(id.lowercasedText)")
        }
        return (set, sessions.map(reveal))
    }

    /// A session as its owner sees it; with `wait`, held (up to `wait.seconds`) until it leaves `wait.phase`
    /// (its phase now when nil), as UWS `WAIT` holds a job. One the viewer may not see does not exist for them.
    public func session(_ id: UUID, wait: (seconds: Int, phase: SessionPhase?)? = nil, as viewer: Viewer = .anyone) async throws -> SessionRecord {
        guard var session = try await broker.store.session(id), viewer.sees(session.owner) else {
            throw BrokerError.notFound("session \(id.lowercasedText)")
        }
        if let wait { session = try await waitForChange(session, from: wait.phase, seconds: min(wait.seconds, broker.maxWait)) }
        return reveal(session)
    }

    /// A client's phase change (see `OfferStore.changePhase`); wakes the forwarding service when it has work.
    /// Throws `SessionLifecycle.Refusal` when the lifecycle does not allow it. Only a viewer who sees the session
    /// (its owner, or anyone in open mode) may change it; for anyone else it does not exist.
    /// Accepting is refused (`QuotaBreach`) when one of the session's accounts has its quota of concurrent sessions
    /// running, judged in the same store transaction. `actor` is who asked, for the audit record.
    ///
    /// Accepting an offer on a facility whose endpoint takes the user's credentials (`forward`, `exchange`) needs the
    /// caller's `bearer` token: it is checked (its audience) or exchanged now, sealed, and stored with the
    /// acceptance; without one, or when it does not do, the acceptance is refused (`CredentialRefusal`).
    @discardableResult
    public func changePhase(
        of id: UUID, to phase: SessionPhase, as viewer: Viewer = .anyone, actor: String? = nil, bearer: Bearer? = nil, logger: Logger? = nil
    ) async throws -> SessionRecord {
        // The session is read first only where it must be: to hide it from who may not see it, to find the credential
        // its facility takes (when any facility takes users' credentials at all: the facility snapshot says), or to
        // read its accounts' core-hours (when a core-hours quota is set at all).
        let credentialed = phase == .accepted ? try await broker.store.matchIndex().userCredentials : [:]
        let table = phase == .accepted ? try await broker.quotas.table() : QuotaTable()
        let hoursQuotas = table.limits.values.contains { $0.coreHours != nil }
        var current: SessionRecord?
        if viewer != .anyone || !credentialed.isEmpty || hoursQuotas {
            current = try await broker.store.session(id)
            guard let current, viewer.sees(current.owner) else { throw BrokerError.notFound("session \(id.lowercasedText)") }
        }
        var admit: (@Sendable (inout SessionRecord, LedgerTally) throws -> Void)?
        if phase == .accepted {
            let credential: UserCredential? = if let current, let credentials = credentialed[current.facility.key] {
                try await self.credential(credentials, for: current, bearer: bearer)
            } else { nil }
            // The core-hours its accounts used (read before the write; what they hold is read inside it).
            let now = broker.now()
            let accounts = (current?.accounts ?? []).compactMap { try? Account.parse($0).get() }
            let used = hoursQuotas ? try await broker.quotas.coreSeconds(table.applying(to: accounts), now: now) : [:]
            let trace = Self.currentTraceParent()
            if !table.isEmpty || credential != nil || trace != nil {
                admit = { session, held in
                    session.trace = trace
                    let accounts = (session.accounts ?? []).compactMap { try? Account.parse($0).get() }
                    let terms = QuotaTerms(accounts: accounts, quotas: table.applying(to: accounts), coreSeconds: used, groups: [])
                    try terms.admit(session, held: held, now: now)
                    if let credential { session.credential = credential }
                }
            }
        }
        let session = try await broker.store.changePhase(of: id, to: phase, now: broker.now(), admit: admit)
        if let logger, let action: AuditAction = [.accepted: .accept, .rejected: .reject, .cancelled: .cancel][phase] {
            broker.audit.record(action, target: "session:\(id.lowercasedText)", by: actor ?? session.owner ?? "anonymous", logger: logger)
        }
        if phase == .accepted || phase == .cancelled || (phase == .rejected && session.needsWork) { broker.work?.ring() }
        return reveal(session)
    }

    /// The current trace as a W3C `traceparent` (nil when tracing is off; a trace not sampled is kept too, flagged
    /// so, and its forwarding is then not recorded either).
    static func currentTraceParent() -> String? {
        guard TraceScope.traced, let context = ServiceContext.current else { return nil }
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &headers, using: DictionaryInjector())
        return headers["traceparent"]
    }

    /// The credential an accepted session carries to its facility, whose endpoint takes the user's (`credentials`):
    /// the caller's own token when its audience names the endpoint's (`forward`), or one exchanged for it at the
    /// caller's issuer (`exchange`); sealed. Nil for a session no longer `OFFERED` (the lifecycle then refuses).
    func credential(_ credentials: EndpointCredentials, for session: SessionRecord, bearer: Bearer?) async throws -> UserCredential? {
        guard session.phase == .offered, let audience = credentials.audience else { return nil }
        let name = session.facility.rawValue
        guard let bearer else {
            throw CredentialRefusal("facility \(name) runs jobs with the user's own access token (\(credentials.mode)): accept it signed in, with your bearer token")
        }
        guard let sealer = broker.sealer else { throw CredentialRefusal("this broker has no key to seal tokens with (SKYPORT_SECRET_KEY), so it cannot carry yours to facility \(name)") }
        let who = bearer.identity
        // The token carried is the acceptor's: only the session's owner may accept it (an operator or admin who sees
        // every session would otherwise send their own token, to run the owner's job as themselves).
        guard session.owner == nil || session.owner == who.owner else {
            throw CredentialRefusal("facility \(name) runs jobs with the user's own access token: only the offer's owner can accept it")
        }
        switch credentials {
        case .service:
            return nil
        case .forward:
            guard who.audiences.contains(audience) else {
                throw CredentialRefusal(
                    "facility \(name) takes your own access token, and only one issued for audience \(audience); yours is for \(who.audiences.joined(separator: ", ")): ask your platform for a token with that audience")
            }
            return UserCredential(mode: "forward", issuer: who.issuer, audience: audience, sealedToken: try sealer.seal(bearer.token), expires: who.expires)
        case .exchange:
            guard let exchanger = broker.tokenExchange else {
                throw CredentialRefusal("facility \(name) needs a token exchanged at your issuer, and this broker does not exchange tokens (SKYPORT_AUTH=oidc)")
            }
            let issued: IssuedToken
            do {
                issued = try await exchanger.exchange(bearer.token, issuer: who.issuer, audience: audience, now: broker.now())
            } catch let refusal as CredentialRefusal {
                throw refusal
            } catch {
                // Not a refusal: the issuer could not be asked (down, a timeout, a 5xx). Worth trying again.
                throw CredentialRefusal(
                    "your token could not be exchanged at \(who.issuer) for facility \(name) just now: \(RemoteText.clip(String(describing: error), limit: 300))",
                    temporary: true)
            }
            return UserCredential(
                mode: "exchange", issuer: who.issuer, audience: audience, sealedToken: try sealer.seal(issued.token), expires: issued.expires,
                sealedSubject: try sealer.seal(bearer.token), subjectExpires: who.expires)
        }
    }

    /// Holds until the session leaves `phase` or `seconds` pass: woken by the store's writes of it, and at its
    /// expiry (an `OFFERED` session becomes `EXPIRED` at that instant, whether or not the sweeper has written it).
    func waitForChange(_ session: SessionRecord, from phase: SessionPhase?, seconds: Int) async throws -> SessionRecord {
        let from = phase ?? session.phase(at: broker.now())
        guard session.phase(at: broker.now()) == from, !from.isFinal, seconds > 0 else { return session }
        let deadline = ContinuousClock.now + .seconds(seconds)
        var current = session
        while !Task.isCancelled {
            let observation = broker.store.changes.observe([ChangeFeed.key(session: session.id)])
            guard let fresh = try await broker.store.session(session.id) else {
                observation.cancel()
                break
            }
            current = fresh
            let left = deadline - ContinuousClock.now
            guard current.phase(at: broker.now()) == from, left > .zero else {
                observation.cancel()
                break
            }
            var pause = left
            if current.phase == .offered {
                let untilExpiry = current.expires.timeIntervalSince(broker.now())
                pause = min(pause, .milliseconds(Int64(max(0, untilExpiry) * 1000) + 1))
            }
            await observation.wait(upTo: pause)
        }
        return current
    }

    /// The session as its owner sees it: while its notebook server is up, the links to it carry the token
    /// (`url + urlpath + ?token=`), opened from its sealed form; the store never holds it in clear.
    public func reveal(_ session: SessionRecord) -> SessionRecord {
        guard var remote = session.remote, let server = remote.access else { return session }
        var s = session
        let live = [.available, .running].contains(session.phase)
        let token = live ? remote.sealedToken.flatMap { broker.sealer?.open($0) } : nil
        // Another broker's link already leads to the notebook; only its token was kept apart.
        let link = remote.endpoint.kind == .executionbroker
            ? token.map { server + (server.contains("?") ? "&" : "?") + "token=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) } ?? server
            : BinderAccess.link(server: server, path: session.executable.path, token: token)
        remote.access = link
        remote.results = remote.results.map { r in
            var r = r
            if r.id == "notebook" { r.href = link }
            return r
        }
        remote.sealedToken = nil
        s.remote = remote
        return s
    }
}

/// Writes trace context into a dictionary (to keep it with a session).
struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

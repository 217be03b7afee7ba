import Foundation
import Logging
import SkyportCore

extension Negotiation {
    /// The ExecutionBroker's `/direct`: one request, one session that starts `ACCEPTED` (the best offer, accepted at
    /// once, its siblings rejected). When there is no offer, the answer is a `FAILED` session whose message says why
    /// (the offer set's messages), stored like any other so that it can be read back. A replayed `Idempotency-Key`
    /// gives the session the first call made.
    public func direct(
        _ request: NormalisedRequest, idempotencyKey key: String?, digest: String?, now: Date, path: FederationPath = FederationPath(),
        owner: String? = nil, requester: Requester = .anonymous, viewer: Viewer = .anyone, actor: String? = nil, bearer: Bearer? = nil,
        logger: Logger
    ) async throws -> SessionRecord {
        let (set, sessions) = try await negotiateSet(
            request, idempotencyKey: key, digest: digest, now: now, path: path, owner: owner, requester: requester, actor: actor, logger: logger)
        if let earlier = sessions.first(where: { $0.becameJob || $0.phase == .failed }) { return earlier }
        if let best = sessions.filter({ $0.phase(at: now) == .offered }).min(by: { $0.rank < $1.rank }) {
            return try await broker.sessions.changePhase(of: best.id, to: .accepted, as: viewer, actor: actor, bearer: bearer, logger: logger)
        }
        var failed = SessionRecord(
            id: UUID.timeOrdered(at: now), offerSet: set.id, facility: .noFacility, facilityName: "no facility", phase: .failed, created: now,
            expires: now, cores: 0, memory: 0, start: now, duration: ISODuration(seconds: 0), rank: 0, executable: request.executable)
        failed.owner = set.owner
        failed.message = RemoteText.clip(set.messages.map(\.message).joined(separator: "; "), limit: 2_000)
        try await broker.store.insertOffers([failed], of: set)
        logger.info("direct execution failed: no offer", metadata: ["offerset": .string(set.id.text), "session": .string(failed.id.text)])
        return failed
    }
}

import Foundation
import SkyportCore

extension Negotiation {
    /// The 2022 ExecutionPlanner probe: which facilities could run this, booking nothing. Nil when the task type is
    /// not understood (nothing is matched).
    public func probe(_ request: NormalisedRequest, requester: Requester = .anonymous) async throws -> MatchOutcome? {
        guard request.executable.kind != nil else { return nil }
        return Matcher.match(request, index: try await broker.store.matchIndex(), requester: requester)
    }
}

import Foundation
import Logging
import SkyportCore
import Synchronization

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

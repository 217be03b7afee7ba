import Foundation
import Logging
import ServiceLifecycle
import SkyportCore

/// Records `EXPIRED` on offers past their expiry, every `interval`. Capacity never depends on it running
/// on time (an offer past its expiry stops holding capacity at that instant); it keeps the stored phase true.
public struct OfferExpiryService: Service {
    let store: any OfferStore
    let interval: Duration
    let logger: Logger
    let now: @Sendable () -> Date
    /// Replicas sharing a store sweep in turns: one sweep per interval across all of them.
    let turns: Turns

    public init(
        store: any OfferStore, interval: Duration, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }, turns: Turns = .always
    ) {
        self.store = store
        self.turns = turns
        self.interval = interval
        self.logger = logger
        self.now = now
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                // A little under the interval, so that the replica whose sweep comes first after it takes the turn.
                guard await turns.take("offer-expiry", interval * 0.9, now()) else { try? await Task.sleep(for: interval); continue }
                let expired = try await store.expireOffers(now: now())
                if expired > 0 { logger.info("offers expired", metadata: ["count": .stringConvertible(expired)]) }
            } catch {
                logger.error("offer expiry sweep failed", metadata: ["error": .string(String(describing: error))])
            }
            try? await Task.sleep(for: interval)
        }
    }
}

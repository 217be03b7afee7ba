import Foundation
import Logging
import ServiceLifecycle
import SkyportBroker
import SkyportCore

/// Writes audit events as they wait (`AccountBook`), a batch per write: woken when one is recorded, it lingers
/// `linger` so that events of a busy moment share one transaction. Whatever waits at shutdown is written then.
public struct AuditWriterService: Service {
    let audit: AuditTrail
    let waiting: WorkSignal
    let linger: Duration
    let logger: Logger

    public init(broker: Broker, linger: Duration = .milliseconds(200), logger: Logger) {
        self.audit = broker.audit
        self.waiting = broker.accounts.auditWaiting
        self.linger = linger
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await cancelWhenGracefulShutdown { await waiting.wait(upTo: .seconds(60)) }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: linger) }
            await write()
        }
        await write()
    }

    private func write() async {
        do {
            try await audit.flush()
        } catch {
            logger.error("audit events could not be written", metadata: ["error": .string(String(describing: error))])
        }
    }
}

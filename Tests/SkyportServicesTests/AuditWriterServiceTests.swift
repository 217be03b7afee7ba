import Foundation
import Logging
import SkyportBroker
import SkyportCore
import SkyportServices
import SkyportStore
import SkyportTestSupport
import Testing

/// The audit writer: events recorded by the use cases reach the store without anyone reading them, and what waits
/// when the service stops is written then.
@Suite struct AuditWriterServiceTests {
    @Test func recordedEventsAreWrittenAndWhatWaitsAtTheEndIsWrittenThen() async throws {
        let store = InMemoryStore()
        let broker = Broker(store: store)
        var logger = Logger(label: "audit-test")
        logger.logLevel = .critical
        for i in 0..<3 { broker.audit.record(.ask, target: "offerset:\(i)", by: "a#b", logger: logger) }
        let service = AuditWriterService(broker: broker, linger: .zero, logger: logger)
        let running = Task { try await service.run() }
        #expect(try await eventually { try await store.audit(AuditQuery()).count == 3 })
        for i in 3..<5 { broker.audit.record(.cancel, target: "session:\(i)", by: "a#b", logger: logger) }
        running.cancel()
        _ = await running.result
        let written = try await store.audit(AuditQuery())
        #expect(written.map(\.target) == ["session:4", "session:3", "offerset:2", "offerset:1", "offerset:0"])
        #expect(written.map(\.seq) == [5, 4, 3, 2, 1])
    }
}

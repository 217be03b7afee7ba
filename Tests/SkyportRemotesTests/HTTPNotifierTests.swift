import AsyncHTTPClient
import Foundation
import Logging
import SkyportCore
import SkyportRemotes
import Testing

@Suite(.enabled(if: StandInServer.shared != nil, "python3 is needed for the stand-in server"))
struct HTTPNotifierTests {
    let server = StandInServer.shared!

    func notice() -> SessionNotice {
        var s = SessionRecord(
            id: UUID(), offerSet: UUID(), facility: FacilityID("tap"), facilityName: "TAP", phase: .completed, created: Date(),
            expires: Date(), cores: 1, memory: 1, start: Date(), duration: ISODuration(seconds: 60), rank: 0, executable: ExecutableRequest())
        s.message = "done"
        return SessionNotice(s)
    }

    @Test func aNoticeIsPostedAsJSONAndATransientFailureIsRetried() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: RemoteHTTP.clientConfiguration)
        defer { _ = client.shutdown() }
        let notifier = HTTPNotifier(client: client, retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10)), logger: Logger(label: "t"))
        let path = "/flaky/\(UUID().uuidString)"
        try await notifier.notify(server.url(path).absoluteString, notice())
        let hits = try await withRemoteHTTP { try await server.hits(path, $0) }
        #expect(hits == 2)
    }

    @Test func aCallbackThatStaysDownFailsAfterABoundedNumberOfTries() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: RemoteHTTP.clientConfiguration)
        defer { _ = client.shutdown() }
        let notifier = HTTPNotifier(client: client, retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10)), logger: Logger(label: "t"))
        let path = "/always503/\(UUID().uuidString)"
        await #expect(throws: RemoteError.self) { try await notifier.notify(server.url(path).absoluteString, notice()) }
        let hits = try await withRemoteHTTP { try await server.hits(path, $0) }
        #expect(hits == 3)
    }
}

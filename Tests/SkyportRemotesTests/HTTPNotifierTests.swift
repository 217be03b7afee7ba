import AsyncHTTPClient
import Foundation
import Logging
import SkyportCore
import SkyportRemotes
import SkyportTestSupport
import Testing

@Suite struct HTTPNotifierTests {
    func notice() -> SessionNotice {
        var s = SessionRecord.sample(facility: "tap", facilityName: "TAP", phase: .completed, duration: ISODuration(seconds: 60))
        s.message = "done"
        return SessionNotice(s)
    }

    /// Runs `body` with a notifier over a fresh `HTTPClient` (retries 10 ms apart at most), then shuts the client down.
    func withNotifier(_ body: (HTTPNotifier) async throws -> Void) async throws {
        try await withEgress { egress in
            try await body(HTTPNotifier(egress: egress, retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10)), logger: Logger(label: "t")))
        }
    }

    @Test func aNoticeIsPostedAsJSONAndATransientFailureIsRetried() async throws {
        try await withStubHTTPServer { server in
            server.route("/notices", inTurn: [.text("busy", status: 503), .text("ok")])
            try await withNotifier { try await $0.notify(server.url("/notices").absoluteString, notice()) }
            let sent = server.requests("/notices")
            #expect(sent.count == 2)
            #expect(sent.allSatisfy { $0.method == "POST" && $0.header("Content-Type") == "application/json" })
            #expect(sent.last?.text.contains("COMPLETED") == true, "\(sent.last?.text ?? "")")
        }
    }

    @Test func aCallbackThatStaysDownFailsAfterABoundedNumberOfTries() async throws {
        try await withStubHTTPServer { server in
            server.route("/notices", .text("busy", status: 503))
            try await withNotifier { notifier in
                await #expect(throws: RemoteError.self) { try await notifier.notify(server.url("/notices").absoluteString, notice()) }
            }
            #expect(server.hits("/notices") == 3)
        }
    }
}

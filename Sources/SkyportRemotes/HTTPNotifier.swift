import AsyncHTTPClient
import Foundation
import Logging
import SkyportCore

/// POSTs end-of-job notices as JSON to callback URLs, retrying transient failures (connection errors,
/// 502/503/504/429) a bounded number of times; a callback that still fails is given up, not retried forever.
public struct HTTPNotifier: Notifier {
    let http: RemoteHTTP

    public init(egress: Egress, retry: RetryPolicy = RetryPolicy(maxAttempts: 5), logger: Logger) {
        http = RemoteHTTP(egress: egress, purpose: .callback, timeout: .seconds(10), maxBodyBytes: 64 << 10, retry: retry, logger: logger)
    }

    public func notify(_ url: String, _ notice: SessionNotice) async throws {
        guard let target = URL(string: url) else {
            throw RemoteError(.invalidResponse, url: URL(fileURLWithPath: "/"), message: "the callback '\(url)' is not a URL")
        }
        // A notice is safe to send twice (it names the session and its phase), so connection errors are retried too.
        _ = try await http.send(
            .POST, target, headers: [("Content-Type", "application/json")], body: try CanonicalJSON.encoder().encode(notice),
            idempotent: true)
    }
}

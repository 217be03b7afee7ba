import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import SkyportBroker
import SkyportCore

/// A session's live updates for its page: server-sent events (`text/event-stream`), one `session` event with the
/// session's view as JSON each time the store writes it (its phase, the facility's progress, a BinderHub build's
/// messages), woken by the store's change feed, not a timer. Ends when the session does, or after half an hour
/// (the browser's EventSource then reconnects); a comment line every 15 s keeps proxies from closing it.
extension WebController {
    static let eventsLifetime: Duration = .seconds(1800)
    static let keepAlive: Duration = .seconds(15)
    /// The most live streams one broker holds open at once (each holds a connection, a task and a store read per
    /// change); beyond it, 503 and the browser's EventSource tries again.
    static let maxStreams = 1_000
    static let openStreams = Atomic<Int>(0)

    func events(_ request: Request, _ context: SkyportRequestContext) async throws -> Response {
        let id = try ExecutionController.uuid(context)
        if deps.auth == .oidc { try context.requireSignedIn() }
        // Refused (404) as the page is, for a session the caller does not see.
        _ = try await deps.broker.sessions.session(id, as: context.viewer)
        let owner = context.owner ?? WebSecurity.browserID(request).map { "browser:" + $0 }
        var headers = WebSecurity.headers
        headers[.contentType] = "text/event-stream"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        let broker = deps.broker
        // HEAD (answered by this route, its body dropped unwritten) opens no stream.
        if request.method == .head { return Response(status: .ok, headers: headers) }
        guard Self.openStreams.add(1, ordering: .relaxed).newValue <= Self.maxStreams else {
            Self.openStreams.subtract(1, ordering: .relaxed)
            throw APIError(.serviceUnavailable, code: "too-many-streams", "too many live updates are open; the page retries", headers: [.retryAfter: "10"])
        }
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { Self.openStreams.subtract(1, ordering: .relaxed) }
            let until = ContinuousClock.now + Self.eventsLifetime
            var last = ""
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            while !Task.isCancelled, ContinuousClock.now < until {
                let observation = broker.store.changes.observe([ChangeFeed.key(session: id)])
                // However this turn ends (a failed read, a client gone): removing an observation twice is harmless.
                defer { observation.cancel() }
                guard let stored = try await broker.store.session(id) else { break }
                let now = broker.now()
                let mine = owner != nil && stored.owner == owner
                let view = WebViews.session(mine ? broker.sessions.reveal(stored) : stored, now: now, mine: mine)
                let event = WebViews.sessionEvent(view)
                if event != last {
                    try await writer.write(ByteBuffer(string: "event: session\ndata: \(event)\n\n"))
                    last = event
                }
                if view["final"] as? Bool == true { break }
                var pause = Self.keepAlive
                if stored.phase == .offered {
                    // An offer becomes EXPIRED at its expiry, written or not.
                    pause = min(pause, .milliseconds(Int64(max(0, stored.expires.timeIntervalSince(now)) * 1000) + 1))
                }
                if await !observation.wait(upTo: pause) { try await writer.write(ByteBuffer(string: ": keep-alive\n\n")) }
            }
            try await writer.finish(nil)
        })
    }
}

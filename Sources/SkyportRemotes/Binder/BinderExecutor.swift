import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SkyportCore
import Synchronization

/// Runs notebook sessions on a BinderHub (`binderhub.md`): stages the basket into a derived commit, asks
/// BinderHub to build and launch it, reads the build's event stream (hanging up itself on `ready` or `failed`),
/// and then follows the notebook server until it ends.
///
/// The job URL Skyport records is the `/build/...` URL: after a restart mid-build the launch is asked for again
/// (BinderHub finds the image it built, and the orphaned server is culled). Once the server is up its URL and
/// sealed token are recorded, and tracking polls `{url}api/status` with the token, one call per `wait`.
public final class BinderExecutor: FacilityExecutor {
    public struct Settings: Sendable {
        /// Where derived commits are pushed; without one, only launches with nothing to stage are possible.
        public var staging: StagingRemote?
        /// A launch (build and server start) that has not reached `ready` by then fails; a facility's
        /// `launchTimeout` replaces it.
        public var launchTimeout: Duration = .seconds(600)
        /// A build stream silent (not even a keep-alive, sent every 25 s) for this long is dead.
        public var idleTimeout: Duration = .seconds(90)
        /// Rate-limit and quota refusals are retried this many times (within the launch timeout), then fail.
        public var busyRetries = 4
        /// The longest wait before retrying a busy BinderHub.
        public var maxBusyDelay: Duration = .seconds(300)
        /// A BinderHub that cannot be reached (or answers 5xx) is tried this many times, then the launch fails.
        public var unreachableRetries = 3
        /// The first pause between those tries (doubling).
        public var retryDelay: Duration = .seconds(2)
        /// Timeout of the small calls: server status, hub API.
        public var requestTimeout: Duration = .seconds(15)
        public init() {}
    }

    let egress: Egress
    let settings: Settings
    let sealer: any SecretSealer
    let credentials: Credentials
    let stager: GitStager?
    let logger: Logger
    let launches = BinderLaunches()
    let now: @Sendable () -> Date

    public init(
        egress: Egress, settings: Settings = .init(), sealer: any SecretSealer, credentials: Credentials = .init(),
        logger: Logger = Logger(label: "skyport.binderhub"), now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.egress = egress
        self.settings = settings
        self.sealer = sealer
        self.credentials = credentials
        self.stager = settings.staging.map { GitStager(remote: $0, egress: egress, logger: logger) }
        self.logger = logger
        self.now = now
    }

    /// Launches running in this process (for tests and metrics).
    public var activeLaunches: Int { launches.count }

    // MARK: - FacilityExecutor

    public func submit(_ session: SessionRecord, to endpoint: Endpoint) async throws -> String {
        guard let repository = session.executable.repository ?? Self.repository(fromLocation: session.executable.location) else {
            throw FacilityRefusal("a BinderHub launch needs a git repository (codemeta codeRepository or the executable's repository); the session has none")
        }
        let plan = BasketStaging.plan(session: session.id.lowercasedText, items: session.data ?? [])
        if plan.isEmpty {
            return BinderSource.direct(repository: repository, ref: session.executable.ref).buildURL(binderhub: endpoint.url)
        }
        guard let stager else {
            throw FacilityRefusal("the session has basket data to stage, but this broker has no staging git remote configured (SKYPORT_STAGING_REMOTE)")
        }
        let staged = try await stager.stage(session: session.id, repository: repository, ref: session.executable.ref, plan: plan)
        return BinderSource.git(url: stager.remote.fetchURL, ref: staged.sha).buildURL(binderhub: endpoint.url)
    }

    /// A launch leaves nothing at the facility before its build is asked for, so there is nothing to find.
    public func find(_ session: SessionRecord, at endpoint: Endpoint) async throws -> String? { nil }

    public func start(_ job: RemoteJob, for session: SessionRecord) async throws -> RemoteStatus {
        try await status(job, for: session, wait: 1)
    }

    public func status(_ job: RemoteJob, for session: SessionRecord, wait: Int) async throws -> RemoteStatus {
        if let access = job.access { return try await track(access, job: job, session: session, wait: wait) }
        guard let url = job.url else { throw FacilityRefusal("the session has no BinderHub build URL") }
        let launch = launches.launch(session.id) { state in
            Task { await self.run(state, buildURL: url, endpoint: job.endpoint, session: session.id) }
        }
        var snapshot = launch.snapshot
        if snapshot.outcome == nil, .binder(BinderPhase(word: snapshot.phase)) == job.phase, snapshot.progress == job.progress {
            await launch.waitForChange(after: snapshot.version, timeout: .seconds(max(wait, 1)))
            // Progress lines come many a second during a build: gather them for up to half a second, so the store
            // sees about two writes a second, but return at once on a new phase or the outcome.
            let until = ContinuousClock.now + .milliseconds(500)
            while case let s = launch.snapshot, s.outcome == nil, .binder(BinderPhase(word: s.phase)) == job.phase, ContinuousClock.now < until {
                await launch.waitForChange(after: s.version, timeout: until - ContinuousClock.now)
            }
            snapshot = launch.snapshot
        }
        switch snapshot.outcome {
        case .ready(let server, let token)?:
            launches.remove(session.id)
            logger.info("notebook server ready", metadata: ["session": .string(session.id.text), "server": .string(server)])
            return RemoteStatus(
                phase: .available, remotePhase: .binder(.ready), results: [Self.result(server, session)], progress: nil,
                access: server, sealedToken: try sealer.seal(token))
        case .failed(let message)?:
            launches.remove(session.id)
            return RemoteStatus(phase: .failed, remotePhase: .binder(.failed), error: message)
        case .cancelled?:
            launches.remove(session.id)
            return RemoteStatus(phase: .cancelled, remotePhase: .aborted)
        case nil:
            return RemoteStatus(phase: .preparing, remotePhase: .binder(BinderPhase(word: snapshot.phase)), progress: snapshot.progress)
        }
    }

    public func abort(_ job: RemoteJob, for session: SessionRecord) async throws -> RemoteStatus {
        if let launch = launches.existing(session.id) {
            launch.cancel()
            launches.remove(session.id)
        }
        await stager?.deleteBranch(for: session.id)
        guard let access = job.access else { return RemoteStatus(phase: .cancelled, remotePhase: .aborted) }
        let stopped = try await stopServer(access)
        return RemoteStatus(
            phase: .cancelled, remotePhase: .aborted,
            error: stopped ? "the notebook server was stopped" : "the facility gave Skyport no JupyterHub token: the server is left to be culled when idle")
    }

    // MARK: - The launch

    enum StreamEnd {
        case verdict(BinderVerdict)
        case closed(lastPhase: String)
    }

    struct Unreachable: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs one launch to its end: the build stream, with retries for a busy or unreachable BinderHub.
    func run(_ launch: BinderLaunchState, buildURL: String, endpoint: Endpoint, session: UUID) async {
        let timeout = endpoint.launchTimeout.map { Duration.seconds($0.seconds) } ?? settings.launchTimeout
        let deadline = launch.started + timeout
        var busy = 0, unreachable = 0
        let released = Once()
        let stager = stager, staged = stager.map { buildURL.contains(BinderSource.escape($0.remote.fetchURL)) } ?? false
        let deletion = Mutex<Task<Void, Never>?>(nil)
        // Deleted beside the stream (not in its way), once BinderHub has built; whatever happens next, at the latest
        // when the launch ends.
        @Sendable func releaseBranch() {
            guard staged, released.take() else { return }
            deletion.withLock { $0 = Task { await stager?.deleteBranch(for: session) } }
        }
        defer { releaseBranch() }
        let log = logger
        while !Task.isCancelled {
            do {
                let end = try await stream(buildURL, endpoint: endpoint, launch: launch, deadline: deadline, timeout: timeout) { phase in
                    if BinderStream.sourceReleased.contains(phase) { releaseBranch() }
                }
                switch end {
                case .verdict(.ready(let url, let token)):
                    launch.finish(.ready(url: url, token: token))
                    return
                case .verdict(.busy(let message, let after)):
                    busy += 1
                    let pause = min(Duration.seconds(after), settings.maxBusyDelay)
                    guard busy <= settings.busyRetries, ContinuousClock.now + pause < deadline else {
                        launch.finish(.failed("BinderHub is too busy: \(message) (gave up after \(busy) tries)"))
                        return
                    }
                    log.notice("BinderHub busy; retrying", metadata: ["session": .string(session.text), "message": .string(message)])
                    launch.update(phase: "waiting", progress: "BinderHub is busy (\(message)); trying again in \(Int(pause.components.seconds)) s")
                    try await Task.sleep(for: pause)
                case .verdict(.failed(let message)):
                    launch.finish(.failed(message))
                    return
                case .closed(let phase):
                    launch.finish(.failed("BinderHub closed the build stream before the server was ready (last phase: \(phase))"))
                    return
                }
            } catch is CancellationError {
                break
            } catch let error as Unreachable {
                unreachable += 1
                let pause = settings.retryDelay * (1 << min(unreachable - 1, 5))
                guard unreachable < settings.unreachableRetries, ContinuousClock.now + pause < deadline else {
                    launch.finish(.failed("\(error.description) (tried \(unreachable) times)"))
                    return
                }
                launch.update(phase: "waiting", progress: "\(error.description); trying again in \(pause)")
                try? await Task.sleep(for: pause)
            } catch let error as LaunchTimeout {
                launch.finish(.failed(error.description))
                return
            } catch {
                if Task.isCancelled { break }
                launch.finish(.failed("the BinderHub build stream failed: \(error)"))
                return
            }
        }
        launch.finish(.cancelled)
    }

    struct LaunchTimeout: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads one build stream to its first verdict. `phaseSeen` runs for each phase as it arrives.
    func stream(
        _ buildURL: String, endpoint: Endpoint, launch: BinderLaunchState, deadline: ContinuousClock.Instant, timeout: Duration,
        phaseSeen: @escaping @Sendable (String) async -> Void
    ) async throws -> StreamEnd {
        try await open(buildURL, endpoint: endpoint, deadline: deadline) { response in
            try await self.read(response, launch: launch, deadline: deadline, timeout: timeout, phaseSeen: phaseSeen)
        }
    }

    func read(
        _ response: HTTPClientResponse, launch: BinderLaunchState, deadline: ContinuousClock.Instant, timeout: Duration,
        phaseSeen: @escaping @Sendable (String) async -> Void
    ) async throws -> StreamEnd {
        // The body is read by one child task only; the box only carries it there.
        let body = Unchecked(response.body)
        let lastActivity = Activity()
        let idle = settings.idleTimeout
        return try await withThrowingTaskGroup(of: StreamEnd.self) { group in
            group.addTask {
                var parser = ServerSentEvents()
                var recent: [String] = []
                var phase = launch.snapshot.phase
                for try await chunk in body.value {
                    lastActivity.touch()
                    for data in try parser.feed(chunk.readableBytesView) {
                        let event = BinderEvent(data: data)
                        if let text = event.text {
                            recent.append(text)
                            if recent.count > 20 { recent.removeFirst() }
                        }
                        if let p = event.phase, p != phase {
                            phase = p
                            await phaseSeen(p)
                        }
                        if let verdict = BinderStream.verdict(event, recent: recent) { return .verdict(verdict) }
                        launch.update(phase: event.phase, progress: event.text)
                    }
                }
                return .closed(lastPhase: phase)
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: .milliseconds(500))
                    let silent = ContinuousClock.now - lastActivity.last
                    if silent > idle {
                        throw LaunchTimeout(description: "BinderHub sent nothing for \(idle) during \(launch.snapshot.phase) (not even a keep-alive)")
                    }
                    if ContinuousClock.now > deadline {
                        throw LaunchTimeout(description: "the launch did not reach ready within \(Self.iso(timeout)) (last phase: \(launch.snapshot.phase): \(launch.snapshot.progress ?? "no message"))")
                    }
                }
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            return first
        }
    }

    /// Asks for the build; follows a federation front's 307 (keeping its `host` cookie, `binderhub.md` §5.9).
    /// Asks for the build and hands the 200 answer (the event stream) to `consume`; follows a federation front's
    /// 307 (keeping its `host` cookie, `binderhub.md` §5.9), each hop judged by the egress gate again.
    func open<T: Sendable>(
        _ buildURL: String, endpoint: Endpoint, deadline: ContinuousClock.Instant, consume: (HTTPClientResponse) async throws -> T
    ) async throws -> T {
        var url = buildURL
        var cookie: String?
        var sendsToken = true
        for _ in 0..<4 {
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Accept", value: "text/event-stream")
            request.headers.add(name: "User-Agent", value: "skyport")
            if let cookie { request.headers.add(name: "Cookie", value: cookie) }
            if sendsToken, case .token(let token, _)? = credentials.auth(for: endpoint.url) {
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
            }
            let hop: BuildHop<T>
            do {
                hop = try await egress.execute(request, deadline: .now() + .nanoseconds(Int64((deadline - .now).nanoseconds)), purpose: .binderhub) { response in
                    switch response.status.code {
                    case 200:
                        return .done(try await consume(response))
                    case 301, 302, 303, 307, 308:
                        guard let location = response.headers.first(name: "Location"), let next = URL(string: location, relativeTo: URL(string: url)) else {
                            throw Unreachable(description: "BinderHub at \(endpoint.url) redirected without a Location")
                        }
                        let set = response.headers["Set-Cookie"].compactMap { $0.split(separator: ";").first.map(String.init) }.joined(separator: "; ")
                        return .next(next.absoluteString, cookie: set.nilIfEmpty)
                    case 500...599:
                        throw Unreachable(description: "BinderHub at \(endpoint.url) answered HTTP \(response.status.code)")
                    default:
                        throw FacilityRefusal("BinderHub at \(endpoint.url) answered HTTP \(response.status.code) to the build request")
                    }
                }
            } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
                throw LaunchTimeout(description: "the launch did not reach ready in time (BinderHub at \(endpoint.url) did not answer)")
            } catch let error as EgressRefusal {
                throw FacilityRefusal("BinderHub at \(endpoint.url): the build's address is refused by the egress policy (\(error.reason.rawValue))")
            } catch is CancellationError {
                throw CancellationError()
            } catch let error as Unreachable {
                throw error
            } catch let error as FacilityRefusal {
                throw error
            } catch let error as LaunchTimeout {
                throw error
            } catch {
                throw Unreachable(description: "BinderHub at \(endpoint.url) could not be reached: \(error)")
            }
            switch hop {
            case .done(let value): return value
            case .next(let next, let set):
                // A redirect elsewhere must not carry the facility's token there.
                if Origin(next) != Origin(url) { sendsToken = false }
                cookie = set ?? cookie
                url = next
            }
        }
        throw FacilityRefusal("BinderHub at \(endpoint.url) redirected too many times")
    }

    // MARK: - The server, once ready

    /// Follows a running server: blocks `wait` seconds, then asks `{url}api/status` with the token.
    func track(_ server: String, job: RemoteJob, session: SessionRecord, wait: Int) async throws -> RemoteStatus {
        let token = job.sealedToken.flatMap(sealer.open)
        let pastEnd = now() >= session.end
        if pastEnd, try await stopServer(server) {
            return ended(server, session, expired: true, message: "the session's time ran out: the notebook server was stopped")
        }
        // Short looks (a status call is cheap), so that a client's cancel is acted on within seconds.
        if job.phase == .binder(.ready) { try await Task.sleep(for: .seconds(min(max(wait, 1), 5))) }
        var request = HTTPClientRequest(url: (server.hasSuffix("/") ? server : server + "/") + "api/status")
        if let token { request.headers.add(name: "Authorization", value: "token \(token)") }
        let status: UInt
        do {
            status = try await egress.execute(request, deadline: .now() + .seconds(settings.requestTimeout.components.seconds), purpose: .jupyterhub) { response in
                _ = try? await response.body.collect(upTo: 1 << 16)
                return response.status.code
            }
        } catch {
            throw RemoteError(.connect, url: URL(string: server) ?? URL(fileURLWithPath: "/"), isTransient: true, message: "the notebook server could not be reached: \(error)")
        }
        if status == 200 {
            return RemoteStatus(phase: .available, remotePhase: .binder(.ready), results: job.results)
        }
        // The hub answers for a server that is gone: 404, 503, or a redirect to its spawn page (`binderhub.md` §5.8).
        let expired = now() >= session.end
        return ended(server, session, expired: expired, message: expired
            ? "the notebook server ended after the session's time"
            : "the notebook server ended (culled when idle, or stopped at the facility): HTTP \(status)")
    }

    func ended(_ server: String, _ session: SessionRecord, expired: Bool, message: String) -> RemoteStatus {
        RemoteStatus(phase: expired ? .expired : .completed, remotePhase: .binder(.stopped), results: session.remote?.results ?? [], error: message)
    }

    /// Stops a server through the JupyterHub API when the facility gave Skyport a hub token; false without one.
    func stopServer(_ server: String) async throws -> Bool {
        guard let (hub, user) = BinderAccess.hubUser(server: server),
              case .token(let token, _)? = credentials.auth(for: hub) else { return false }
        var request = HTTPClientRequest(url: "\(hub)hub/api/users/\(user)/server")
        request.method = .DELETE
        request.headers.add(name: "Authorization", value: "token \(token)")
        let status = try await egress.execute(request, deadline: .now() + .seconds(settings.requestTimeout.components.seconds), purpose: .jupyterhub) { response in
            _ = try? await response.body.collect(upTo: 1 << 16)
            return response.status.code
        }
        switch status {
        case 202, 204, 404: return true
        default:
            throw RemoteError(.status, url: URL(string: hub) ?? URL(fileURLWithPath: "/"), status: Int(status),
                              message: "JupyterHub refused to stop the server of \(user)")
        }
    }

    // MARK: - Helpers

    /// The result a session shows for its server (the token is added when it is shown, never stored in clear).
    static func result(_ server: String, _ session: SessionRecord) -> UWSResult {
        UWSResult(id: "notebook", href: BinderAccess.link(server: server, path: session.executable.path, token: nil), mimeType: "text/html")
    }

    /// A repository named by a notebook location on GitHub (`https://github.com/o/r/blob/ref/path.ipynb`).
    static func repository(fromLocation location: String?) -> String? {
        guard let location, let url = URL(string: location), url.host?.lowercased() == "github.com" else { return nil }
        let parts = url.path.split(separator: "/")
        guard parts.count >= 2 else { return nil }
        return "https://github.com/\(parts[0])/\(parts[1])"
    }

    static func iso(_ d: Duration) -> String { ISODuration(seconds: Int(d.components.seconds)).description }
}

/// When a stream last sent anything.
final class Activity: Sendable {
    private let instant = Mutex(ContinuousClock.now)
    func touch() { instant.withLock { $0 = .now } }
    var last: ContinuousClock.Instant { instant.withLock { $0 } }
}

struct Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// True the first time only.
final class Once: Sendable {
    private let done = Mutex(false)
    func take() -> Bool { done.withLock { d in defer { d = true }; return !d } }
}

extension Duration {
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}

/// One answer to a build request: the stream was read to its end, or a redirect to follow.
private enum BuildHop<T> {
    case done(T)
    case next(String, cookie: String?)
}

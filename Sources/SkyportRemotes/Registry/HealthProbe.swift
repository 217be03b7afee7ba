import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import SkyportCore
import SkyportXML

/// Checks whether one facility endpoint is up, as the mybinder.org federation redirector checks its members.
///
/// - UWS job lists (`uws`, `django-uws`): VOSI `availability` at the service root beside the job list (DaCHS serves
///   `.../tap/availability` for the job list `.../tap/async`); an `executionbroker` endpoint is its service root, so
///   its availability is `{url}/availability`. A 404 there means the service publishes no VOSI, which is no failure:
///   the job list itself is fetched instead, and any answer below 500 counts as up (401 and 403 included).
/// - BinderHub: `/health` (200 with `"ok": true` is healthy; 503 or `"ok": false` is unavailable, naming the failing
///   checks) and `/versions` (kept as a fingerprint; never a failure by itself).
/// - A refused connection or a timeout is "not reachable"; connection errors are retried `retries` times,
///   `retryDelay` apart (HTTP answers are not retried).
public struct HealthProbe: Sendable {
    /// Every probe goes through the egress gate.
    public let egress: Egress
    public var timeout: Duration
    public var retries: Int
    public var retryDelay: Duration
    public var maxBodyBytes: Int
    public var logger: Logger
    /// The clock the pauses between retries sleep on (tests give a virtual one).
    public var clock: any Clock<Duration>

    /// `egress` is owned by the caller.
    public init(
        egress: Egress, timeout: Duration = .seconds(5), retries: Int = 2, retryDelay: Duration = .seconds(1),
        maxBodyBytes: Int = 1 << 20, logger: Logger = Logger(label: "skyport.health"), clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.egress = egress
        self.timeout = timeout
        self.retries = retries
        self.retryDelay = retryDelay
        self.maxBodyBytes = maxBodyBytes
        self.logger = logger
        self.clock = clock
    }

    static let availabilityNS = "http://www.ivoa.net/xml/VOSIAvailability/v1.0"

    /// Probes a facility's first endpoint; a facility with none is unavailable.
    public func probe(_ facility: Facility) async -> HealthProbeResult {
        guard let endpoint = facility.endpoints.first else { return .unavailable("the facility has no endpoint") }
        return await probe(endpoint)
    }

    /// Probes one endpoint.
    public func probe(_ endpoint: Endpoint) async -> HealthProbeResult {
        guard let url = URL(string: endpoint.url), url.scheme != nil, url.host != nil else {
            return .unavailable("endpoint URL '\(endpoint.url)' is not usable")
        }
        do {
            switch endpoint.kind {
            case .binderhub: return try await binderHub(url)
            case .uws:
                var result = try await vosi(Self.serviceRoot(of: url).appending(path: "availability"), fallback: url)
                if result.healthy { result.load = await queued(url).map { FacilityLoad(queued: $0) } }
                return result
            case .djangoUWS: return try await vosi(Self.serviceRoot(of: url).appending(path: "availability"), fallback: url)
            case .executionbroker: return try await vosi(url.appending(path: "availability"), fallback: url)
            }
        } catch is CancellationError {
            return .unavailable("health check cancelled")
        } catch let error as RemoteError {
            return .unavailable("not reachable: \(error.message) (\(error.url))")
        } catch {
            return .unavailable("not reachable: \(error)")
        }
    }

    /// The job list's parent: `http://h/tap/async` → `http://h/tap`.
    static func serviceRoot(of jobList: URL) -> URL {
        jobList.path.isEmpty || jobList.path == "/" ? jobList : jobList.deletingLastPathComponent()
    }

    func vosi(_ availability: URL, fallback jobList: URL) async throws -> HealthProbeResult {
        let answer = try await get(availability)
        if answer.status == 404 || answer.status == 405 {
            let list = try await get(jobList)
            return list.status < 500
                ? HealthProbeResult(healthy: true, reason: nil)
                : .unavailable("job list answered HTTP \(list.status)")
        }
        guard answer.status < 400 else {
            return .unavailable("VOSI availability answered HTTP \(answer.status)")
        }
        let (available, notes) = try Self.availability(answer.body)
        // The notes are the facility's words, shown to operators: a few, kept short.
        let said = notes.isEmpty ? nil : RemoteDocuments.clip(notes.prefix(3).joined(separator: "; "), 200)
        if available { return HealthProbeResult(healthy: true, reason: said) }
        return .unavailable("VOSI availability says not available" + (said.map { ": " + $0 } ?? ""))
    }

    /// Reads a VOSI availability document: `available` and the notes. Throws `RemoteError` when it is not one.
    static func availability(_ body: Data, url: URL = URL(string: "about:availability")!) throws -> (Bool, [String]) {
        let ns = ["avail": availabilityNS]
        do {
            let doc = try XMLDoc(data: body)
            let flags = try doc.strings("/avail:availability/avail:available", namespaces: ns)
            guard let flag = flags.first?.trimmingWhitespace().lowercased(), ["true", "false", "1", "0"].contains(flag) else {
                throw RemoteError(.invalidResponse, url: url, message: "no avail:available in the VOSI availability document")
            }
            let notes = try doc.strings("/avail:availability/avail:note", namespaces: ns)
                .map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
            return (flag == "true" || flag == "1", notes)
        } catch let error as XMLReadError {
            throw RemoteError(.invalidResponse, url: url, message: "VOSI availability is not XML: \(error)")
        }
    }

    func binderHub(_ base: URL) async throws -> HealthProbeResult {
        // /versions first, as the redirector does: it is a fingerprint only, so any failure there is ignored.
        let versions = try? await get(base.appending(path: "versions"))
        let fingerprint = versions.flatMap { $0.status == 200 ? Self.compactJSON($0.body) : nil }
        let health = try await get(base.appending(path: "health"))
        let object = (try? JSONValue.parse(health.body))?.objectValue
        let ok = object?["ok"]?.boolValue
        if health.status == 200, ok == true { return HealthProbeResult(healthy: true, fingerprint: fingerprint, load: object.flatMap(Self.podQuota)) }
        let failing = (object?["checks"]?.arrayValue ?? [])
            .filter { $0["ok"]?.boolValue == false && $0["_ignore_failure"]?.boolValue != true }
            .compactMap { $0["service"]?.stringValue }
        var reason = "BinderHub /health answered HTTP \(health.status)"
        if ok == false || !failing.isEmpty { reason += failing.isEmpty ? " with ok false" : "; failing: " + failing.joined(separator: ", ") }
        else if object == nil { reason += " without a health document" }
        return .unavailable(reason, fingerprint: fingerprint)
    }

    /// A BinderHub's free launch slots, from its `/health` "Pod quota" check (`quota` less `total_pods`); nil when
    /// it has no quota.
    static func podQuota(_ health: [String: JSONValue]) -> FacilityLoad? {
        guard let check = health["checks"]?.arrayValue?.first(where: { $0["service"]?.stringValue == "Pod quota" }),
              let quota = check["quota"]?.intValue, let pods = check["total_pods"]?.intValue else { return nil }
        return FacilityLoad(freeSlots: max(0, quota - pods))
    }

    /// How many jobs a UWS 1.1 job list holds in phase QUEUED (`?PHASE=QUEUED`); nil when it cannot be told.
    func queued(_ jobList: URL) async -> Int? {
        guard var c = URLComponents(url: jobList, resolvingAgainstBaseURL: false) else { return nil }
        c.queryItems = (c.queryItems ?? []) + [URLQueryItem(name: "PHASE", value: "QUEUED")]
        guard let url = c.url, let answer = try? await get(url), answer.status == 200,
              let doc = try? XMLDoc(data: answer.body),
              let phases = try? doc.strings("//uws:jobref/uws:phase", namespaces: ["uws": "http://www.ivoa.net/xml/UWS/v1.0"]) else { return nil }
        // A service that ignores the filter lists every job: count the queued ones only.
        return phases.filter { $0.trimmingWhitespace() == "QUEUED" }.count
    }

    /// JSON re-serialised with sorted keys, so that equal answers give equal fingerprints.
    static func compactJSON(_ body: Data) -> String? {
        guard let value = try? JSONValue.parse(body) else { return nil }
        return try? CanonicalJSON.encode(value)
    }

    /// One GET answered with any status; connection errors (refused, connect timeout) are retried.
    func get(_ url: URL) async throws -> (status: Int, body: Data) {
        var attempt = 0
        while true {
            do {
                return try await once(url)
            } catch let error as RemoteError where error.kind == .connect && attempt < retries {
                attempt += 1
                logger.debug("retrying health check", metadata: ["url": "\(error.url)", "attempt": "\(attempt)"])
                try await clock.sleep(for: retryDelay)
            }
        }
    }

    private func once(_ url: URL) async throws -> (status: Int, body: Data) {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .GET
        request.headers.add(name: "User-Agent", value: "Skyport")
        let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        do {
            return try await egress.execute(request, deadline: deadline, purpose: .health, logger: logger) { response in
                (Int(response.status.code), Data(try await response.body.collect(upTo: maxBodyBytes).readableBytesView))
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw RemoteHTTP.classify(error, url: url, idempotent: true, timeout: timeout, maxBodyBytes: maxBodyBytes)
        }
    }
}

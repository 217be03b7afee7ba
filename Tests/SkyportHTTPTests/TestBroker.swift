import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SkyportApp
import SkyportBroker
import SkyportCore
import SkyportHTTP
import SkyportRemotes
import SkyportStore
import SkyportTestSupport
import Testing

/// A broker on a real HTTP server (port 0) over a given store, with two operators.
struct TestBroker {
    static let aliceToken = "skp_alice-test-token"
    static let bobToken = "skp_bob-test-token"

    var store: any BrokerStore
    var config: SkyportConfiguration

    /// Whether the background services (expiry, forwarding) run beside the HTTP server.
    var withServices = false
    /// Reads VOSI capabilities for `POST /facilities/{id}/refresh` (nil: refreshing is not configured).
    var capabilities: CapabilitiesFetch?
    /// The rate limit's clock (nil: the continuous clock); the limit itself is `config.rateLimit`, off by default.
    var rateLimitClock: (@Sendable () -> Duration)?
    /// The broker's clock (nil: the system's).
    var now: (@Sendable () -> Date)?
    /// The gate of offer requests (nil: none, as `SKYPORT_OFFER_CONCURRENCY=0`; tests send many at once).
    var admission: OfferAdmission?

    init(
        store: (any BrokerStore)? = nil, maxBodyBytes: Int = 1 << 20, offerLifetime: Int = 300, withServices: Bool = false,
        credentialsFile: String? = nil
    ) async throws {
        self.withServices = withServices
        let store = store ?? InMemoryStore()
        if try await store.operatorName(forTokenHash: OperatorToken.hash(Self.aliceToken)) == nil {
            try await store.insertOperator(OperatorRecord(name: "alice", created: Date()), tokenHash: OperatorToken.hash(Self.aliceToken))
            try await store.insertOperator(OperatorRecord(name: "bob", created: Date()), tokenHash: OperatorToken.hash(Self.bobToken))
        }
        self.store = store
        var config = SkyportConfiguration()
        config.port = 0
        config.maxBodyBytes = maxBodyBytes
        config.offerLifetime = offerLifetime
        config.credentialsFile = credentialsFile
        // Facilities in tests often point at ports nothing listens on: health checks are on only where a test asks.
        config.healthPeriod = 0
        config.registryPeriod = 0
        // The facilities, callbacks and registries of the tests listen on loopback (what the README's examples allow too).
        config.egress = .loopback
        // Tests send many writes from one address: the rate limit is on only where a test asks (RateLimitTests).
        config.rateLimit = .off
        config.offerConcurrency = 0
        // The test client connects before a test's first request and may sit idle while the test waits for peers:
        // the connection timeouts are off unless a test sets them (ConnectionLimitTests).
        config.idleTimeout = 0
        config.headerTimeout = 0
        config.bodyTimeout = 0
        self.config = config
    }

    /// Runs `test` against the broker built by the composition root (`SkyportRuntime`, as `skyport serve` builds
    /// it) on a live server, with its background services when `withServices`.
    func run<Value: Sendable>(_ test: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        var logger = Logger(label: "skyport-test")
        logger.logLevel = .warning
        var overrides = SkyportRuntime.Overrides(store: store)
        overrides.sealer = SecretBox.ephemeral()
        overrides.capabilities = .some(capabilities)
        overrides.rateLimitClock = rateLimitClock
        overrides.now = now
        overrides.admission = admission
        overrides.resolver = TestResolver()
        let runtime = try SkyportRuntime(config, logger: logger, overrides: overrides)
        let background = Task {
            guard withServices else { return }
            let services = runtime.backgroundServices()
            try await withThrowingDiscardingTaskGroup { group in
                for service in services { group.addTask { try await service.run() } }
            }
        }
        let result: Result<Value, any Error>
        do {
            result = .success(try await runtime.application().test(.live, test))
        } catch {
            result = .failure(error)
        }
        background.cancel()
        _ = await background.result
        await runtime.shutdown()
        return try result.get()
    }
}

/// Request helpers with JSON bodies and bearer tokens.
extension TestClientProtocol {
    func send(
        _ method: HTTPRequest.Method, _ uri: String, json: String? = nil, yaml: String? = nil, token: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        var body: ByteBuffer?
        if let json {
            headers[.contentType] = "application/json"
            body = ByteBuffer(string: json)
        } else if let yaml {
            headers[.contentType] = "application/yaml"
            body = ByteBuffer(string: yaml)
        }
        return try await execute(uri: uri, method: method, headers: headers, body: body)
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
    func json() throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }
    /// The `field` of every error in an error document.
    func errorFields() throws -> [String] {
        ((try json()["errors"] as? [[String: Any]]) ?? []).compactMap { $0["field"] as? String }
    }
}

/// A valid facility document, with a few fields replaceable.
func facilityJSON(id: String = "ivo://example.org/tap", name: String = "Example TAP", accepts: String = #"["tap-query"]"#, extra: String = "") -> String {
    """
    {"id": "\(id)", "name": "\(name)", "description": "async TAP",
     "endpoints": [{"kind": "uws", "url": "http://127.0.0.1:8080/tap/async"}],
     "accepts": \(accepts), "limits": {"cores": 4, "memory": 8, "duration": "PT2H"},
     "capacity": {"cores": 16, "memory": 64}, "data": {"rses": ["SKA_SRC_01"]}\(extra)}
    """
}

let tapPath = "/facilities/ivo%3A%2F%2Fexample.org%2Ftap"

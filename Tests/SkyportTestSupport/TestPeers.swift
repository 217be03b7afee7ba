import Foundation

/// Whether the tests that need a peer (DaCHS, django-uws) or a tool (python3, git, the pyvo/sickle venv) run when it
/// is missing. By default they do, and fail, naming what is missing: a test command that cannot test something must
/// not pass. A developer's quick run sets `SKYPORT_TEST_ALLOW_MISSING_PEERS=1` to skip them instead. (The real
/// BinderHub is the exception: it needs a source checkout, and its test is NOT RUN without one.)
public enum TestPeers {
    /// The opt-out variable.
    public static let allowMissingVariable = "SKYPORT_TEST_ALLOW_MISSING_PEERS"

    /// Whether missing peers and tools skip their tests instead of failing them.
    public static let allowMissing: Bool = {
        let value = ProcessInfo.processInfo.environment[allowMissingVariable] ?? ""
        return !value.isEmpty && value != "0"
    }()

    /// For `.enabled(if:)`: tests needing something run when it is `present`, and also when it is not unless missing
    /// peers are allowed (then they fail through `require`).
    public static func run(_ present: Bool) -> Bool { present || !allowMissing }

    /// `value`, or an error naming what is missing and how to get it (the failing test shows it).
    public static func require<T>(_ value: T?, _ missing: @autoclosure () -> String) throws -> T {
        guard let value else { throw MissingPeer(missing()) }
        return value
    }

    /// GAVO DaCHS's TAP job list (`scripts/peers.sh start dachs`), if it runs.
    public static let dachs: URL? = url("SKYPORT_TEST_DACHS_URL", peer: "dachs")
    /// django-uws's job list (`scripts/peers.sh start django-uws`), if it runs.
    public static let djangoUWS: URL? = url("SKYPORT_TEST_DJANGO_UWS_URL", peer: "django-uws")

    /// The OpenID provider's issuer URL (`scripts/peers.sh start oidc`: idpyoidc), if it runs.
    public static let oidc: URL? = url("SKYPORT_TEST_OIDC_ISSUER", peer: "oidc")

    /// A second provider, whose keys a test rotates (so that tokens other tests hold from the first stay valid).
    public static let rotatingOIDC: URL? = url("SKYPORT_TEST_OIDC_ROTATING_ISSUER", peer: "oidc")

    /// The OpenID provider's issuer, or an error saying it is not running.
    public static func requireOIDC() throws -> URL {
        try require(oidc, "the OpenID provider is not running: SKYPORT_TEST_OIDC_ISSUER is unset (bash scripts/peers.sh start oidc; the test command does)")
    }

    /// DaCHS's job list, or an error saying it is not running.
    public static func requireDaCHS() throws -> URL {
        try require(dachs, "DaCHS is not running: SKYPORT_TEST_DACHS_URL is unset (bash scripts/peers.sh start dachs; the test command does)")
    }

    /// django-uws's job list, or an error saying it is not running.
    public static func requireDjangoUWS() throws -> URL {
        try require(
            djangoUWS, "django-uws is not running: SKYPORT_TEST_DJANGO_UWS_URL is unset (bash scripts/peers.sh start django-uws; the test command does)")
    }

    private static func url(_ name: String, peer: String) -> URL? {
        if let text = ProcessInfo.processInfo.environment[name], !text.isEmpty, let url = URL(string: text) { return url }
        if allowMissing { print("NOT RUN: the \(peer) tests — \(name) is unset (scripts/peers.sh start \(peer))") }
        return nil
    }

    /// The throwaway PostgreSQL cluster's URL (`scripts/postgres.sh start`; the test command starts it), if it runs.
    public static let postgres: String? = {
        let value = ProcessInfo.processInfo.environment["SKYPORT_TEST_POSTGRES_URL"] ?? ""
        if value.isEmpty, allowMissing { print("NOT RUN: the PostgreSQL tests — SKYPORT_TEST_POSTGRES_URL is unset (scripts/postgres.sh start)") }
        return value.isEmpty ? nil : value
    }()

    /// The URL of a new, empty schema on the test cluster (tests running at once never see each other's rows).
    public static func postgresSchemaURL(pool: Int = 4) throws -> String {
        let base = try require(
            postgres, "PostgreSQL is not running: SKYPORT_TEST_POSTGRES_URL is unset (bash scripts/postgres.sh start; the test command does)")
        let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(20).lowercased()
        return base + (base.contains("?") ? "&" : "?") + "schema=\(schema)&pool=\(pool)"
    }

    /// Throws unless `present`, naming what is missing.
    public static func requirePresent(_ present: Bool, _ missing: @autoclosure () -> String) throws {
        if !present { throw MissingPeer(missing()) }
    }
}

/// A peer or tool a test needs is missing.
public struct MissingPeer: Error, CustomStringConvertible {
    public var description: String
    public init(_ what: String) {
        description = "MISSING: \(what) (set \(TestPeers.allowMissingVariable)=1 to skip such tests in a quick run)"
    }
}

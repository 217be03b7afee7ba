#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SkyportCore
import SkyportRemotes

/// The resolver of the tests' brokers and egress gates: `localhost` (where the peers listen) and numeric spellings
/// through the system resolver, and every other name unresolvable at once, without a DNS query. The tests' traffic
/// stays on loopback, and the names they invent (`a.example`, `github.com`, …) cost nothing on a machine whose DNS
/// server is slow or absent. A test that needs a name to resolve passes a `StaticResolver`.
public struct TestResolver: HostResolver {
    private let system = SystemResolver()

    public init() {}

    public func addresses(of host: String, port: Int) async throws -> [IPAddress] {
        let name = host.lowercased()
        if name == "localhost" || name.hasSuffix(".localhost") { return try await system.addresses(of: host, port: port) }
        if let literal = SystemResolver.literal(host, port: port) { return literal }
        throw SystemResolver.Failure(code: EAI_NONAME)
    }
}

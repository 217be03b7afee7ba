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
        // `localhost` is answered from /etc/hosts (as the peers' URLs expect); other loopback names (RFC 6761) here.
        if name == "localhost" { return try await system.addresses(of: host, port: port) }
        if name.hasSuffix(".localhost") { return [IPAddress("127.0.0.1")!] }
        if let literal = SystemResolver.literal(host, port: port) { return literal }
        throw SystemResolver.Failure(code: EAI_NONAME)
    }
}

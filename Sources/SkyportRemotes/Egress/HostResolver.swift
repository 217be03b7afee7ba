import Foundation
import NIOPosix
import SkyportCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns a host name into the addresses a connection would try.
public protocol HostResolver: Sendable {
    func addresses(of host: String, port: Int) async throws -> [IPAddress]
}

/// The system resolver (`getaddrinfo`, on NIO's blocking-work thread pool): the same answer a client resolving by
/// itself would get, numeric spellings such as `0x7f.1` included.
public struct SystemResolver: HostResolver {
    public struct Failure: Error, CustomStringConvertible {
        public var code: Int32
        public var description: String { "getaddrinfo: \(String(cString: gai_strerror(code)))" }
    }

    public init() {}

    public func addresses(of host: String, port: Int) async throws -> [IPAddress] {
        try await NIOThreadPool.singleton.runIfActive { try Self.lookup(host, port: port) }
    }

    static func lookup(_ host: String, port: Int) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host, String(port), &hints, &list)
        guard code == 0 else { throw Failure(code: code) }
        defer { freeaddrinfo(list) }
        var out: [IPAddress] = []
        var node = list
        while let entry = node?.pointee {
            if let sa = entry.ai_addr {
                switch Int32(sa.pointee.sa_family) {
                case AF_INET:
                    var a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    let bytes = withUnsafeBytes(of: &a) { Array($0) }
                    if let ip = IPAddress(bytes: bytes) { out.append(ip) }
                case AF_INET6:
                    var a = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    let bytes = withUnsafeBytes(of: &a) { Array($0) }
                    if let ip = IPAddress(bytes: bytes) { out.append(ip) }
                default: break
                }
            }
            node = entry.ai_next
        }
        var seen = Set<IPAddress>()
        return out.filter { seen.insert($0).inserted }
    }
}

/// Fixed answers by name (tests, and `--resolve`-style pinning).
public struct StaticResolver: HostResolver {
    public var answers: @Sendable (String) -> [IPAddress]
    public init(_ answers: @escaping @Sendable (String) -> [IPAddress]) { self.answers = answers }
    public func addresses(of host: String, port: Int) async throws -> [IPAddress] { answers(host) }
}

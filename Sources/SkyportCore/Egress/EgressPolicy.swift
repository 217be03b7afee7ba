import Foundation

/// Why an outbound destination is refused (the label of the refusal counter, and the word logs carry).
public enum EgressReason: String, Sendable, Hashable, CaseIterable, Codable {
    /// Not http or https (or, for git, not an allowed transport).
    case scheme
    /// No host, or a host that is not a name or an address.
    case host
    /// 127.0.0.0/8, ::1, and names that always mean this machine (`localhost`).
    case loopback
    /// 0.0.0.0/8, `::` ("this network": a connect to it reaches local listeners).
    case unspecified
    /// 169.254.0.0/16, fe80::/10.
    case linkLocal = "link-local"
    /// Cloud metadata and platform endpoints (169.254.169.254, fd00:ec2::254, 168.63.129.16): never allowed.
    case metadata
    /// 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10.
    case `private`
    /// 100.64.0.0/10 (carrier-grade NAT, cloud overlays).
    case sharedAddressSpace = "shared-address-space"
    /// 224.0.0.0/4, ff00::/8.
    case multicast
    /// 255.255.255.255 and the rest of 240.0.0.0/4.
    case reserved
    /// IETF, documentation and benchmarking blocks (192.0.0.0/24, TEST-NETs, 198.18/15, 2001:db8::/32, …), and IPv6
    /// outside global unicast.
    case special
    /// IPv6 forms that carry an IPv4 address to a translator (NAT64 64:ff9b::/96 and /48, 6to4 2002::/16, Teredo).
    case embeddedIPv4 = "embedded-ipv4"
    /// The name did not resolve.
    case unresolvable
    /// The name resolved to addresses some of which are refused (a sign of rebinding or split DNS).
    case mixedAnswers = "mixed-answers"
    /// Another party's URL (a federated broker's offer or session, a redirect) on another origin than the endpoint.
    case crossOrigin = "cross-origin"
}

/// A refused outbound destination: why, and which host (and address) it was.
public struct EgressRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: EgressReason
    public var host: String
    public var address: String?

    public init(_ reason: EgressReason, host: String, address: String? = nil) {
        self.reason = reason
        self.host = host
        self.address = address
    }

    /// What a client (who wrote the URL) is told: the rule, not what lies behind it.
    public var description: String {
        switch reason {
        case .scheme: "only http and https destinations are allowed (git:// only to hosts the operator allows)"
        case .host: "'\(host.prefix(100))' is not a host name or address"
        case .unresolvable: "the host '\(host.prefix(100))' does not resolve"
        case .mixedAnswers: "the host '\(host.prefix(100))' resolves to addresses that are not allowed"
        case .crossOrigin: "'\(host.prefix(100))' is not the origin of the facility's endpoint"
        default: "'\(host.prefix(100))' is a \(reason.rawValue) destination, which this broker does not call (SKYPORT_EGRESS_ALLOW)"
        }
    }
}

/// The one egress rule: which destinations Skyport may connect to on behalf of what others wrote. Pure: the
/// enforcement points (the HTTP gate and the git stager) resolve the host, then ask `decide` with every address
/// they would connect to, and connect only to an address it allowed.
///
/// By default every address outside the public unicast space is refused (`EgressReason`); `SKYPORT_EGRESS_ALLOW`
/// opens host names (`jupyter.internal`, `*.cluster.local`), addresses and blocks (`127.0.0.1`, `10.1.0.0/16`).
/// A name on the list may resolve anywhere (the operator vouches for it); metadata endpoints stay closed whatever
/// the list says.
public struct EgressPolicy: Sendable, Hashable {
    /// One `SKYPORT_EGRESS_ALLOW` entry.
    public enum Entry: Sendable, Hashable, CustomStringConvertible {
        /// An exact host name.
        case host(String)
        /// `*.example.org`: every name under it, not the apex.
        case domain(String)
        case network(IPNetwork)

        public var description: String {
            switch self {
            case .host(let h): h
            case .domain(let d): "*." + d
            case .network(let n): n.description
            }
        }
    }

    public var allow: [Entry]

    public init(allow: [Entry] = []) { self.allow = allow }

    /// Reads `SKYPORT_EGRESS_ALLOW`: comma-separated host names, `*.domain`s, addresses and CIDR blocks.
    public init(parsing text: String) throws(FieldError) {
        var entries: [Entry] = []
        for raw in text.split(separator: ",") {
            let item = raw.trimmingSpaces()
            guard !item.isEmpty else { continue }
            if let network = IPNetwork(item) {
                entries.append(.network(network))
            } else if item.hasPrefix("*."), Self.isHostName(String(item.dropFirst(2))) {
                entries.append(.domain(Self.normalised(String(item.dropFirst(2)))))
            } else if Self.isHostName(item), IPAddress.lenientIPv4(item) == nil {
                entries.append(.host(Self.normalised(item)))
            } else {
                throw FieldError("SKYPORT_EGRESS_ALLOW", "'\(item)' is neither a host name, a *.domain, an address nor a CIDR block")
            }
        }
        allow = entries
    }

    /// Loopback only: what the test command and the README's local examples use.
    public static let loopback = EgressPolicy(allow: [.network(IPNetwork("127.0.0.0/8")!), .network(IPNetwork("::1")!), .host("localhost")])

    // MARK: - Decisions

    /// The decision for one connection to `host` (as written in the URL) that resolved to `addresses`: nil to go
    /// ahead (to any of them), else why not. An empty answer is `unresolvable`; one refused address refuses the
    /// whole answer.
    public func decide(host rawHost: String, addresses: [IPAddress]) -> EgressRefusal? {
        let host = Self.normalised(rawHost)
        guard !addresses.isEmpty else { return EgressRefusal(.unresolvable, host: host) }
        let hostAllowed = allowsName(host)
        var refusals: [EgressRefusal] = []
        for address in addresses {
            if let reason = Self.classify(address), reason == .metadata || !(hostAllowed || allowsAddress(address)) {
                refusals.append(EgressRefusal(reason, host: host, address: address.description))
            }
        }
        guard let first = refusals.first else { return nil }
        if refusals.count < addresses.count { return EgressRefusal(.mixedAnswers, host: host, address: first.address) }
        return first
    }

    /// The check made where a URL enters (no resolution): the scheme, and the host when it is an address in any
    /// spelling the resolver would accept (`2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]`) or a name that always means
    /// this machine. Names are checked again, resolved, at connect time.
    public func check(url text: String, schemes: Set<String> = ["http", "https"]) -> EgressRefusal? {
        guard let parts = URLComponents(string: text), let scheme = parts.scheme?.lowercased() else {
            return EgressRefusal(.scheme, host: "")
        }
        let host = Self.normalised(parts.host ?? "")
        guard schemes.contains(scheme) else { return EgressRefusal(.scheme, host: host) }
        return check(host: host)
    }

    /// `check(url:)` for a git repository: http(s), and `git://` only for hosts on the allow list (git connects to
    /// those itself, where the gate cannot pin the address).
    public func check(repository: String) -> EgressRefusal? {
        if URLComponents(string: repository)?.scheme?.lowercased() == "git" {
            let host = Self.normalised(URLComponents(string: repository)?.host ?? "")
            return allowsGit(host: host) ? nil : EgressRefusal(.scheme, host: host)
        }
        return check(url: repository)
    }

    /// Whether `git://` may go to `host`: a name on the list, or an address (in any spelling) in a listed block.
    public func allowsGit(host rawHost: String) -> Bool {
        let host = Self.normalised(rawHost)
        if allowsName(host) { return true }
        guard let address = IPAddress(host) ?? IPAddress.lenientIPv4(host), Self.classify(address) != .metadata else { return false }
        return allowsAddress(address)
    }

    /// The address rules applied to a host name as written (see `check(url:)`).
    public func check(host rawHost: String) -> EgressRefusal? {
        let host = Self.normalised(rawHost)
        guard !host.isEmpty else { return EgressRefusal(.host, host: host) }
        if let address = IPAddress(host) ?? IPAddress.lenientIPv4(host) { return decide(host: host, addresses: [address]) }
        if host == "localhost" || host.hasSuffix(".localhost") || host == "localhost.localdomain" {
            return allowsName(host) ? nil : EgressRefusal(.loopback, host: host)
        }
        guard Self.isHostName(host) else { return EgressRefusal(.host, host: host) }
        return nil
    }

    /// Whether the operator listed this name (exactly, or under a `*.domain`).
    public func allowsName(_ rawHost: String) -> Bool {
        let host = Self.normalised(rawHost)
        return allow.contains { entry in
            switch entry {
            case .host(let h): h == host
            case .domain(let d): host.hasSuffix("." + d)
            case .network: false
            }
        }
    }

    func allowsAddress(_ address: IPAddress) -> Bool {
        let forms = [address] + (address.embeddedIPv4.map { [$0] } ?? [])
        return allow.contains { entry in
            guard case .network(let network) = entry else { return false }
            return forms.contains(where: network.contains)
        }
    }

    // MARK: - The address table

    /// Why `address` is not a public unicast destination, or nil when it is. IPv6 forms that only wrap an IPv4
    /// address are judged by that address.
    public static func classify(_ address: IPAddress) -> EgressReason? {
        if let v4 = address.embeddedIPv4 { return classify(v4) }
        let table = address.isIPv4 ? ipv4Table : ipv6Table
        if let hit = table.first(where: { $0.0.contains(address) }) { return hit.1 }
        // IPv6: only global unicast (2000::/3) is a destination.
        if !address.isIPv4, address.bytes[0] & 0xe0 != 0x20 { return .special }
        return nil
    }

    /// Most specific first (metadata before link-local and private).
    static let ipv4Table: [(IPNetwork, EgressReason)] = table([
        ("169.254.169.254/32", .metadata), ("168.63.129.16/32", .metadata), ("100.100.100.200/32", .metadata),
        ("0.0.0.0/8", .unspecified), ("127.0.0.0/8", .loopback), ("169.254.0.0/16", .linkLocal),
        ("10.0.0.0/8", .private), ("172.16.0.0/12", .private), ("192.168.0.0/16", .private),
        ("100.64.0.0/10", .sharedAddressSpace), ("224.0.0.0/4", .multicast), ("240.0.0.0/4", .reserved),
        ("192.0.0.0/24", .special), ("192.0.2.0/24", .special), ("198.51.100.0/24", .special), ("203.0.113.0/24", .special),
        ("198.18.0.0/15", .special), ("192.88.99.0/24", .special),
    ])

    static let ipv6Table: [(IPNetwork, EgressReason)] = table([
        ("fd00:ec2::254/128", .metadata), ("::/128", .unspecified), ("::1/128", .loopback),
        ("fe80::/10", .linkLocal), ("fc00::/7", .private), ("fec0::/10", .private), ("ff00::/8", .multicast),
        ("64:ff9b::/96", .embeddedIPv4), ("64:ff9b:1::/48", .embeddedIPv4), ("2002::/16", .embeddedIPv4), ("2001::/32", .embeddedIPv4),
        ("2001::/23", .special), ("2001:db8::/32", .special), ("3fff::/20", .special), ("100::/64", .special),
    ])

    private static func table(_ entries: [(String, EgressReason)]) -> [(IPNetwork, EgressReason)] {
        entries.map { (IPNetwork($0.0)!, $0.1) }
    }

    // MARK: - Names

    /// Lower-cased, without brackets or a trailing dot.
    public static func normalised(_ host: String) -> String {
        var h = host.lowercased()
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        while h.hasSuffix(".") { h.removeLast() }
        return h
    }

    /// A DNS name (letters, digits, hyphens, underscores, dots; labels of 1–63, at most 253 in all) or an address.
    static func isHostName(_ host: String) -> Bool {
        if IPAddress(host) != nil { return true }
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.utf8.allSatisfy { c in
                (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x5f
            } && !label.hasPrefix("-")
        }
    }
}

/// The scheme, host and port of a URL: whether two URLs are the same origin (RFC 6454).
public struct Origin: Sendable, Hashable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int

    public init?(_ url: String) {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(), let host = parts.host, !host.isEmpty else { return nil }
        self.scheme = scheme
        self.host = EgressPolicy.normalised(host)
        guard let port = parts.port ?? (scheme == "https" ? 443 : scheme == "http" ? 80 : nil) else { return nil }
        self.port = port
    }

    public var description: String { "\(scheme)://\(host):\(port)" }
}

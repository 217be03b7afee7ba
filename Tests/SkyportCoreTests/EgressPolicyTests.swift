import Foundation
import SkyportCore
import Testing

/// The egress rule as a pure function: every special-purpose block, every spelling of an address that a resolver
/// accepts, the allow list, and the federation origin rule. These are the cases an attacker tries first.
@Suite struct EgressPolicyTests {
    static let strict = EgressPolicy()

    /// One address per refused class (IPv4, IPv6, and IPv6 forms that carry an IPv4 address).
    static let refusedAddresses: [(String, EgressReason)] = [
        ("127.0.0.1", .loopback), ("127.255.255.254", .loopback), ("0.0.0.0", .unspecified), ("0.1.2.3", .unspecified),
        ("169.254.169.254", .metadata), ("168.63.129.16", .metadata), ("169.254.1.1", .linkLocal),
        ("10.0.0.1", .private), ("10.255.255.255", .private), ("172.16.0.1", .private), ("172.31.255.255", .private),
        ("192.168.0.1", .private), ("100.64.0.1", .sharedAddressSpace), ("100.127.255.254", .sharedAddressSpace),
        ("224.0.0.1", .multicast), ("239.255.255.250", .multicast), ("255.255.255.255", .reserved), ("240.0.0.1", .reserved),
        ("192.0.0.8", .special), ("192.0.2.1", .special), ("198.51.100.7", .special), ("203.0.113.9", .special), ("198.18.0.1", .special),
        ("::1", .loopback), ("::", .unspecified), ("fe80::1", .linkLocal), ("febf::1", .linkLocal), ("fc00::1", .private),
        ("fd12:3456::1", .private), ("fec0::1", .private), ("fd00:ec2::254", .metadata), ("ff02::1", .multicast),
        ("::ffff:127.0.0.1", .loopback), ("::ffff:7f00:1", .loopback), ("::ffff:169.254.169.254", .metadata), ("::ffff:10.1.2.3", .private),
        ("::127.0.0.1", .loopback), ("::ffff:0:10.0.0.1", .private),
        ("64:ff9b::a00:1", .embeddedIPv4), ("64:ff9b:1::1", .embeddedIPv4), ("2002:7f00:1::", .embeddedIPv4), ("2001:0:4136:e378::1", .embeddedIPv4),
        ("2001:db8::1", .special), ("3fff::1", .special), ("100::1", .special), ("4000::1", .special),
    ]

    @Test(arguments: refusedAddresses)
    func everySpecialPurposeBlockIsRefusedByDefault(_ text: String, _ reason: EgressReason) throws {
        let address = try #require(IPAddress(text), "\(text) parses")
        #expect(EgressPolicy.classify(address) == reason, "\(text)")
        #expect(Self.strict.decide(host: text, addresses: [address])?.reason == reason)
        // Written in a URL, it is refused where the URL enters.
        let host = address.isIPv4 ? text : "[\(text)]"
        #expect(Self.strict.check(url: "http://\(host):8080/tap/async")?.reason == reason, "\(host)")
    }

    @Test(arguments: ["93.184.216.34", "8.8.4.4", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001::200e", "172.32.0.1", "100.128.0.1", "11.0.0.1"])
    func publicUnicastAddressesAreAllowed(_ text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(EgressPolicy.classify(address) == nil, "\(text)")
        #expect(Self.strict.decide(host: "facility.example.org", addresses: [address]) == nil)
    }

    /// The spellings glibc's resolver turns into loopback or "this host" (egress.md §2): a check on the URL text that
    /// missed them would let the connection through.
    @Test(arguments: [
        "http://2130706433/", "http://0x7f000001/", "http://017700000001/", "http://0x7f.1/", "http://0177.0.0.1/", "http://127.1/",
        "http://127.0.1/", "http://0/", "http://0.0.0.0:8090/", "http://[::ffff:127.0.0.1]/", "http://[::1]:8090/", "http://[0:0:0:0:0:0:0:1]/",
        "http://localhost/", "http://LOCALHOST./", "http://foo.localhost/", "http://localhost.localdomain/", "http://127.0.0.1./",
        "http://[fe80::1%25eth0]/", "http://0251.0376.0251.0376/", "http://169.254.169.254/latest/meta-data/", "http://0xa9fea9fe/",
        "https://user:pass@10.0.0.1/",
    ])
    func everySpellingOfAnInternalAddressIsRefusedWhereItEnters(_ url: String) {
        #expect(Self.strict.check(url: url) != nil, "\(url)")
    }

    @Test(arguments: ["file:///etc/passwd", "http+unix://%2Fvar%2Frun%2Fdocker.sock/info", "unix:///var/run/docker.sock", "gopher://x.org/", "ftp://x.org/",
                      "ssh://x.org/", "javascript:alert(1)", "/relative/path", "dict://x.org:11211/"])
    func onlyHTTPAndHTTPSAreCalled(_ url: String) {
        #expect(Self.strict.check(url: url)?.reason == .scheme || Self.strict.check(url: url)?.reason == .host, "\(url)")
    }

    @Test func namesPassWhereTheyEnterAndAreJudgedResolved() throws {
        #expect(Self.strict.check(url: "https://tap.example.org/tap/async") == nil)
        let loopback = try #require(IPAddress("127.0.0.1"))
        let publicAddress = try #require(IPAddress("93.184.216.34"))
        #expect(Self.strict.decide(host: "rebound.example.org", addresses: [loopback])?.reason == .loopback)
        #expect(Self.strict.decide(host: "split.example.org", addresses: [publicAddress, loopback])?.reason == .mixedAnswers)
        #expect(Self.strict.decide(host: "gone.example.org", addresses: [])?.reason == .unresolvable)
    }

    @Test func theAllowListOpensNamesAndBlocksButNeverMetadata() throws {
        let policy = try EgressPolicy(parsing: " 127.0.0.1 , 10.1.0.0/16, jupyter.internal, *.cluster.local, ::1 ")
        let metadata = try #require(IPAddress("169.254.169.254"))
        #expect(policy.decide(host: "127.0.0.1", addresses: [try #require(IPAddress("127.0.0.1"))]) == nil)
        #expect(policy.decide(host: "127.0.0.2", addresses: [try #require(IPAddress("127.0.0.2"))])?.reason == .loopback)
        #expect(policy.decide(host: "x", addresses: [try #require(IPAddress("10.1.200.3"))]) == nil)
        #expect(policy.decide(host: "x", addresses: [try #require(IPAddress("10.2.0.1"))])?.reason == .private)
        #expect(policy.decide(host: "x", addresses: [try #require(IPAddress("::ffff:10.1.0.9"))]) == nil, "a mapped form of an allowed address")
        #expect(policy.decide(host: "JUPYTER.internal.", addresses: [try #require(IPAddress("192.168.7.7"))]) == nil, "a listed name may resolve anywhere")
        #expect(policy.decide(host: "jupyter.internal", addresses: [metadata])?.reason == .metadata, "but never to metadata")
        #expect(policy.decide(host: "hub.cluster.local", addresses: [try #require(IPAddress("10.9.9.9"))]) == nil)
        #expect(policy.decide(host: "cluster.local", addresses: [try #require(IPAddress("10.9.9.9"))])?.reason == .private, "*.domain is not the apex")
        #expect(policy.decide(host: "evilcluster.local", addresses: [try #require(IPAddress("10.9.9.9"))])?.reason == .private)
        let wide = try EgressPolicy(parsing: "169.254.0.0/16,0.0.0.0/0")
        #expect(wide.decide(host: "x", addresses: [metadata])?.reason == .metadata, "no list entry opens a metadata endpoint")
        #expect(policy.check(url: "http://[::1]:8090/") == nil)
    }

    @Test(arguments: ["10.0.0.0/33", "exa mple.org", "http://x.org", "*.", "1.2.3.4/-1", "fe80::/200", "-bad.org"])
    func aMalformedAllowEntryIsAConfigurationErrorNamingIt(_ entry: String) {
        #expect(throws: FieldError.self) { try EgressPolicy(parsing: entry) }
    }

    @Test func gitIsOnlyForListedHosts() throws {
        #expect(Self.strict.check(repository: "git://github.com/x/y.git")?.reason == .scheme)
        #expect(Self.strict.check(repository: "https://github.com/x/y.git") == nil)
        #expect(Self.strict.check(repository: "http://10.0.0.1/x.git")?.reason == .private)
        let policy = try EgressPolicy(parsing: "git.example.org,127.0.0.1")
        #expect(policy.check(repository: "git://git.example.org/x.git") == nil)
        #expect(policy.check(repository: "git://127.0.0.1:9418/x.git") == nil)
        #expect(policy.check(repository: "git://10.0.0.1/x.git")?.reason == .scheme)
    }

    @Test(arguments: [("::", "::"), ("0:0:0:0:0:0:0:1", "::1"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("FE80::1", "fe80::1"),
                      ("::ffff:1.2.3.4", "::ffff:102:304"), ("1.2.3.4", "1.2.3.4"), ("[::1]", "::1")])
    func addressesPrintCanonically(_ text: String, _ canonical: String) throws {
        #expect(try #require(IPAddress(text)).description == canonical)
    }

    @Test(arguments: ["1.2.3", "01.2.3.4", "256.1.1.1", "1.2.3.4.5", "::1::", "1:2:3:4:5:6:7:8:9", "12345::", "g::1", "", "1.2.3.4%eth0", "::1%"])
    func malformedLiteralsAreNotAddresses(_ text: String) {
        #expect(IPAddress(text) == nil, "\(text)")
    }

    @Test func originsCompareSchemeHostAndPort() {
        #expect(Origin("https://Broker.example.org/eb/requests") == Origin("https://broker.example.org:443/other"))
        #expect(Origin("http://broker.example.org/") != Origin("https://broker.example.org/"))
        #expect(Origin("https://broker.example.org/") != Origin("https://broker.example.org.evil.net/"))
        #expect(Origin("https://broker.example.org:8443/") != Origin("https://broker.example.org/"))
    }

    /// A federated broker's sessions stay on that broker: offers pointing elsewhere are dropped, with a message.
    @Test func offersOnAnotherOriginAreDropped() throws {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        func offer(_ url: String) -> RemoteOffer {
            RemoteOffer(session: url, cores: 1, memory: 1, start: start, duration: ISODuration(seconds: 60), expires: nil, facility: nil)
        }
        let allowed: Set<Origin> = [Origin("https://eb.example.org/")!, Origin("https://eb2.example.org:8443/")!]
        let answer = BrokerAnswer.offers(offerSet: "https://eb.example.org/offersets/1", [
            offer("https://eb.example.org/sessions/a"), offer("http://169.254.169.254/latest/meta-data/"),
            offer("https://eb2.example.org:8443/sessions/b"), offer("https://eb.example.org.evil.net/sessions/c"),
        ], messages: [])
        let (kept, refused) = RemoteDocuments.keepingOrigins(answer, allowed: allowed)
        guard case .offers(_, let offers, let messages) = kept else {
            Issue.record("\(kept)")
            return
        }
        #expect(offers.map(\.session) == ["https://eb.example.org/sessions/a", "https://eb2.example.org:8443/sessions/b"])
        #expect(refused == ["169.254.169.254", "eb.example.org.evil.net"])
        #expect(messages.contains { $0.contains("2 offer(s) dropped") })
        let none = RemoteDocuments.keepingOrigins(.offers(offerSet: "https://x.org/s", [offer("https://x.org/sessions/1")], messages: []), allowed: allowed)
        guard case .noOffers = none.answer else {
            Issue.record("an answer whose every offer is elsewhere has no offers")
            return
        }
    }
}

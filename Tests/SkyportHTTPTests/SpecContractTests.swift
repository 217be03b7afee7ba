import Foundation
import SkyportBroker
import SkyportCore
import Testing

/// One source of truth (issue 18): the patterns the server checks are the spec's, the spec's URL pattern is the
/// default egress rule, and the schema check the server puts every request body to says what a schema says.
@Suite struct SpecContractTests {
    static let spec: JSONValue = {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../specs/openapi.yaml")
        return (try? YAMLBridge.parse(String(contentsOf: file, encoding: .utf8))) ?? .null
    }()

    static let components: [(String, String)] = [
        ("HttpUrl", SpecPattern.httpURL), ("IsoDuration", SpecPattern.isoDuration), ("IsoInterval", SpecPattern.isoInterval),
        ("PlannerDuration", SpecPattern.plannerDuration), ("MemorySize", SpecPattern.memorySize), ("VersionRange", SpecPattern.versionRange),
        ("RuntimeText", SpecPattern.runtimeText), ("RuntimeName", SpecPattern.runtimeName), ("Version", SpecPattern.version),
        ("VocabularyName", SpecPattern.vocabularyName), ("DurationUpToLeapYear", SpecPattern.positiveIsoDuration),
        ("OfferWait", SpecPattern.positiveIsoDuration), ("FacilityId", SpecPattern.facilityID), ("ExecutableKind", SpecPattern.executableKind),
    ]

    @Test(arguments: components)
    func theSpecStatesThePatternTheServerChecks(_ component: String, _ pattern: String) {
        let written = Self.spec["components"]?["schemas"]?[component]?["pattern"]?.stringValue
        #expect(written == pattern, "components.schemas.\(component).pattern in specs/openapi.yaml must be exactly:\n\(pattern)")
    }

    /// HttpUrl is the URL syntax less what the default egress rule refuses where a URL enters, over addresses drawn
    /// from every block of the egress table, their edges, and names that mean this machine.
    @Test func theURLPatternIsTheDefaultEgressRule() {
        let policy = EgressPolicy()
        var hosts = [
            "localhost", "LocalHost.", "a.localhost", "localhost.localdomain", "example.org", "localhost.example.org", "x.y-z.example",
            "0.0.0.0", "127.0.0.1", "10.0.0.1", "9.255.255.255", "11.0.0.0", "169.254.169.254", "169.253.1.1", "172.15.255.255",
            "172.16.0.0", "172.31.255.255", "172.32.0.0", "192.168.1.1", "100.63.255.255", "100.64.0.0", "100.127.255.255", "100.128.0.0",
            "192.0.0.1", "192.0.1.1", "192.0.2.1", "192.0.3.1", "198.51.100.1", "198.51.101.1", "203.0.113.1", "203.0.112.1",
            "198.17.1.1", "198.18.0.1", "198.19.255.255", "198.20.0.0", "192.88.99.1", "192.88.98.1", "168.63.129.16", "168.63.129.17",
            "223.255.255.255", "224.0.0.0", "239.1.1.1", "240.0.0.1", "255.255.255.255", "8.8.8.8", "1.1.1.1",
        ]
        var random = SplitMix64(seed: 18)
        for _ in 0..<3000 { hosts.append((0..<4).map { _ in String(random.next() % 256) }.joined(separator: ".")) }
        for host in hosts {
            let url = "https://\(host)/path?q=1"
            let byRule = SpecPattern.matches(url, SpecPattern.httpURLSyntax) && policy.check(url: url) == nil
            #expect(SpecPattern.matches(url, SpecPattern.httpURL) == byRule, "\(url): pattern and egress rule disagree")
        }
    }

    @Test(arguments: [
        ("https://example.org/nb.ipynb", true), ("HTTP://example.org:8080/a?b=c#d", true), ("https://1.2.3.4/", true),
        ("https://0/", false), ("https://2130706433/", false), ("https://0x7f.1/", false), ("https://01.2.3.4/", false),
        ("https://user@example.org/", false), ("https://[::1]/", false), ("ftp://example.org/", false), ("https://example.org:65536/", false),
        ("https://-a.example.org/", false), ("https://a..b/", false), ("https://example.org/a b", false), ("https://example.org/%zz", false),
        ("", false),
    ])
    func urlSyntax(_ url: String, _ ok: Bool) {
        #expect(SpecPattern.matches(url, SpecPattern.httpURLSyntax) == ok, "\(url)")
        #expect((FacilityDocument.httpURLProblem(url) == nil) == ok, "\(url)")
    }

    @Test(arguments: [
        ("PT1H", true), ("P1DT12H", true), ("PT0.5S", true), ("P2W", true), ("P", false), ("PT", false), ("p1d", false), ("PT1S1H", false),
        ("P1D\n", true), ("PT1,5S", false), ("1h", false),
    ])
    func isoDurationSyntax(_ text: String, _ ok: Bool) {
        #expect(SpecPattern.matches(text, SpecPattern.isoDuration) == ok, "\(text.debugDescription)")
    }

    /// A bounded duration is read into its range (the spec says so of each such field), not refused.
    @Test func boundedDurationsAreClamped() {
        #expect(SpecPattern.duration("PT1S", clampedTo: SpecPattern.secondToLeapYear) == 1)
        #expect(SpecPattern.duration("P366D", clampedTo: SpecPattern.secondToLeapYear) == Double(366 * 86_400))
        #expect(SpecPattern.duration("P4Y7318M1W", clampedTo: SpecPattern.secondToLeapYear) == Double(366 * 86_400))
        #expect(SpecPattern.duration("PT0.5S", clampedTo: SpecPattern.secondToLeapYear) == 1)
        #expect(SpecPattern.duration("PT0.001S", clampedTo: SpecPattern.offerWait) == 0.01)
        #expect(SpecPattern.duration("PT10M0.1S", clampedTo: SpecPattern.offerWait) == 600)
        #expect(SpecPattern.duration("PT0S", clampedTo: SpecPattern.offerWait) == nil, "zero is not a duration here")
        #expect(SpecPattern.duration("P99999999999999999999Y", clampedTo: 0...Double.infinity) == ISODuration.longest)
    }

    @Test(arguments: [
        ("ivo://example.org/tap", true), ("IVO://x.y/a?b#c", true), ("my-hub_1.~", true), ("ivo://ab", false), (".hidden", false),
        ("urn:skyport:no-facility", false), ("ivo://exa mple.org", false), ("naïve", false), ("", false),
    ])
    func facilityIdentifiers(_ id: String, _ ok: Bool) {
        #expect((FacilityID(id).problem == nil) == ok, "\(id)")
    }

    /// What would let a body through unchecked: a pattern that does not compile, a `$ref` that resolves to nothing,
    /// an operation with a body whose schema the server cannot find.
    @Test func everyRuleInTheSpecIsCheckable() {
        let check = SchemaCheck(document: Self.spec)
        #expect(check.uncompilable.isEmpty)
        var refs: Set<String> = []
        func collect(_ node: JSONValue) {
            switch node {
            case .object(let o):
                if let r = o["$ref"]?.stringValue { refs.insert(r) }
                o.values.forEach(collect)
            case .array(let a): a.forEach(collect)
            default: break
            }
        }
        collect(Self.spec)
        #expect(!refs.isEmpty)
        for ref in refs.sorted() { #expect(check.schema(at: ref) != nil, "\(ref) resolves to nothing") }
        for (method, path) in [("post", "/requests"), ("post", "/direct"), ("post", "/facilities"), ("put", "/facilities/{id}"),
                               ("post", "/sessions/{uuid}"), ("post", "/accepts"), ("put", "/quotas"), ("post", "/registry/sources")] {
            let pointer = "#/paths/\(path.replacingOccurrences(of: "/", with: "~1"))/\(method)/requestBody/content/application~1json/schema"
            #expect(check.schema(at: pointer) != nil, "\(method.uppercased()) \(path) has no JSON body schema")
        }
    }

    /// Patterns with a choice of where spaces go can take exponential time on text that almost matches; these must
    /// answer at once (a regression would hang this test, not time it).
    @Test(arguments: [
        (SpecPattern.versionRange, String(repeating: "1 , ", count: 60) + " x"),
        (SpecPattern.runtimeText, "python " + String(repeating: "1 , ", count: 60) + " x"),
        (SpecPattern.plannerDuration, String(repeating: "1m ", count: 300) + "x"),
        (SpecPattern.memorySize, "1" + String(repeating: " ", count: 2_000) + "x"),
        (SpecPattern.httpURL, "https://" + String(repeating: "a.", count: 120) + "0/" + String(repeating: "%2", count: 500)),
    ])
    func nearMissesAreRefusedAtOnce(_ pattern: String, _ text: String) {
        #expect(!SpecPattern.matches(text, pattern))
    }

    /// Only a final `\n` is let through by `$`, as in Python's `re` (ICU would also let `\r`, `\u{85}`, `\u{2028}`).
    @Test func onlyANewlineEndsALine() {
        #expect(SpecPattern.matches("casa6\n", SpecPattern.vocabularyName))
        #expect(!SpecPattern.matches("casa6\r", SpecPattern.vocabularyName))
        #expect(!SpecPattern.matches("PT1H\r", SpecPattern.isoDuration))
        #expect(!SpecPattern.matches("PT1H\u{2028}", SpecPattern.isoDuration))
        #expect(!SpecPattern.matches("PT1H\u{85}", SpecPattern.isoDuration))
    }

    // MARK: The schema check

    static let check = SchemaCheck(document: .object([
        "components": .object(["schemas": .object([
            "Name": .object(["type": .string("string"), "pattern": .string("^[a-z]+$"), "description": .string("Lower-case letters. More.")]),
        ])]),
    ]))

    static func problems(_ value: String, _ schema: String) throws -> [String] {
        check.problems(try JSONValue.parse(Data(value.utf8)), try JSONValue.parse(Data(schema.utf8))).map { "\($0.field): \($0.message)" }
    }

    /// A part of the document that refers to itself in two places is compiled once (compiled in place for each
    /// reference down to the depth limit, it would be 2^63 nodes), and checked as deep as the value goes.
    @Test func aSchemaThatRefersToItselfIsCompiledOnce() throws {
        let document = try JSONValue.parse(Data(#"""
            {"$defs": {"tree": {"type": "object", "properties": {
                "left": {"$ref": "#/$defs/tree"}, "right": {"$ref": "#/$defs/tree"}, "leaf": {"type": "integer"}}}}}
            """#.utf8))
        let check = SchemaCheck(document: document)
        let schema = check.compile(.object(["$ref": .string("#/$defs/tree")]))
        let value = try JSONValue.parse(Data(#"{"left": {"right": {"leaf": 0.5, "left": []}}, "right": {}}"#.utf8))
        #expect(check.problems(value, schema).map { "\($0.field): \($0.message)" } == [
            "left.right.leaf: must be a whole number", "left.right.left: must be an object",
        ])
    }

    @Test func namesEachFieldAtFault() throws {
        let schema = """
            {"type": "object", "required": ["name"], "additionalProperties": false, "properties": {
              "name": {"$ref": "#/components/schemas/Name"},
              "cores": {"type": ["integer", "null"], "minimum": 1, "maximum": 64},
              "mode": {"type": "string", "enum": ["a", "b"]},
              "tags": {"type": "array", "maxItems": 2, "items": {"type": "string", "minLength": 1}}}}
            """
        #expect(try Self.problems(#"{"name": "ok", "cores": null}"#, schema).isEmpty)
        #expect(try Self.problems(#"{"name": "ok", "cores": 8.0}"#, schema).isEmpty, "8.0 is a whole number")
        #expect(try Self.problems(#"{"cores": 0.5, "mode": "c", "tags": ["", "x", "y"], "extra": 1}"#, schema) == [
            "name: is required", "cores: must be a whole number or null", "extra: unknown field", "mode: must be one of: a, b",
            "tags: has 3 items: at most 2 are allowed", "tags[0]: must not be empty",
        ])
        #expect(try Self.problems(#"{"name": "Upper"}"#, schema) == ["name: 'Upper' is not a Name: Lower-case letters"])
        #expect(try Self.problems(#"[]"#, schema) == ["body: must be an object"])
    }

    @Test func alternativesReportTheClosestForm() throws {
        let gpus = #"{"oneOf": [{"type": "integer", "minimum": 0}, {"type": "object", "properties": {"count": {"type": "integer"}}}]}"#
        #expect(try Self.problems("2", gpus).isEmpty)
        #expect(try Self.problems(#"{"count": "x"}"#, gpus) == ["count: must be a whole number"])
        #expect(try Self.problems("-1", gpus) == ["body: must be at least 0"])
        let nullable = ##"{"anyOf": [{"$ref": "#/components/schemas/Name"}, {"type": "null"}]}"##
        #expect(try Self.problems("null", nullable).isEmpty)
        #expect(try Self.problems(#""A""#, nullable) == ["body: 'A' is not a Name: Lower-case letters"])
    }

    @Test func conditionsAndDependencies() throws {
        let schema = """
            {"type": "object", "properties": {"kind": {"type": "string"}, "deadline": {"type": "string"}},
             "allOf": [{"if": {"properties": {"kind": {"not": {"const": "broker"}}}, "required": ["kind"]}, "then": {"not": {"required": ["deadline"]}}}],
             "dependentRequired": {"window": ["hours"]}}
            """
        #expect(try Self.problems(#"{"kind": "broker", "deadline": "PT1S"}"#, schema).isEmpty)
        #expect(try Self.problems(#"{"kind": "uws", "deadline": "PT1S"}"#, schema) == ["deadline: is not allowed here"])
        #expect(try Self.problems(#"{"window": "P1D"}"#, schema) == ["hours: is required with window"])
    }
}

/// A small seeded generator, so a property test draws the same cases every run.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

import Foundation
import SkyportCore
import Testing

/// The one-pass JSON reader: the same values as Foundation's decoder on real documents, and a clear error (never a
/// crash) on everything RFC 8259 forbids.
@Suite struct JSONParserTests {
    @Test func readsTheSameValuesAsFoundationsDecoder() throws {
        let text = #"""
            {"a": [1, -2.5, 3e2, 0, -0.0, 1E-3], "b": {"c": null, "d": true, "e": false}, "s": "tab\there \"q\" \\ \/ \u00e9 \ud83d\ude80 ü",
             "empty": {}, "none": [], "nested": [[[{"x": "y"}]]], "big": 12345678901234}
            """#
        #expect(try JSONValue.parse(text) == (try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))))
        #expect(try JSONValue.parse(text)["s"]?.stringValue == "tab\there \"q\" \\ / é 🚀 ü")
        #expect(try JSONValue.parse("  42 ") == .number(42))
        #expect(try JSONValue.parse(#""only""#) == .string("only"))
    }

    /// Every JSON document among the shared samples.
    @Test(.enabled(if: SharedSamples.available, Comment(rawValue: SharedSamples.absentMessage)))
    func readsEveryJSONSampleAsFoundationDoes() throws {
        let files = SharedSamples.files(under: SharedSamples.samples, nameContaining: ".json")
        #expect(files.count >= 10)
        for file in files {
            let data = try Data(contentsOf: SharedSamples.samples.appendingPathComponent(file))
            guard let expected = try? JSONDecoder().decode(JSONValue.self, from: data) else { continue }
            #expect(try JSONValue.parse(data) == expected, "\(file)")
        }
    }

    static let malformed: [(String, String)] = [
        ("", "unexpected end"), ("{", "expected a member name"), (#"{"a" 1}"#, "expected ':'"), (#"{"a": 1,}"#, "expected a member name"),
        ("[1,]", "unexpected character"), ("[1 2]", "expected ',' or ']'"), ("01", "unexpected text after"), ("1.", "digits after '.'"),
        (".5", "unexpected character"), ("-", "a number needs digits"), ("1e", "exponent"), ("1e999", "out of range"),
        ("tru", "unexpected end"), ("nul!", "invalid literal"), (#""abc"#, "unexpected end inside a string"),
        ("\"a\u{01}b\"", "control character"), (#""\x""#, "invalid escape"), (#""\u12G4""#, "invalid \\u escape"),
        (#""\ud83d""#, "lone UTF-16 surrogate"), (#""\ude80""#, "lone UTF-16 surrogate"), ("{} {}", "unexpected text after"),
        ("NaN", "unexpected character"), ("{'a': 1}", "expected a member name"),
    ]

    @Test(arguments: zip(malformed.map(\.0), malformed.map(\.1)))
    func malformedTextIsAnErrorWithItsPlace(_ text: String, _ expected: String) {
        do {
            let value = try JSONValue.parse(text)
            Issue.record("parsed as \(value)")
        } catch let error as JSONParseError {
            #expect(error.message.contains(expected), "\(error)")
            #expect(error.offset >= 0 && error.offset <= text.utf8.count)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func invalidUTF8AndDeepNestingAreErrorsNotCrashes() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Data([0x22, 0xFF, 0xFE, 0x22])) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Data([0x22, 0x5C, 0x6E, 0xC3, 0x22])) }
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
        let ok = String(repeating: "[", count: JSONValue.maxDepth) + String(repeating: "]", count: JSONValue.maxDepth)
        #expect((try? JSONValue.parse(ok)) != nil)
    }
}

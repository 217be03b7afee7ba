import Foundation
import SkyportCore
import Testing

@Suite struct TextBytesTests {
    static let texts = [
        "", " ", "\t", "\n", "a", " a", "a ", "\ta\n", "\u{A0}a\u{A0}", "\u{2028}a\u{2029}", "\u{85}a\u{85}", "\u{3000}a",
        "a\u{200B}", "é", "e\u{301}", " e\u{301} ", "\u{301}", "~x~", "\u{7F}a\u{7F}", "\u{1}a", "😀", " 😀 ", "a b",
        "\r\n  text with inner  spaces \r\n", String(repeating: "x", count: 40), " " + String(repeating: "y", count: 40) + "\u{A0}",
    ]

    /// The same answers as Foundation's, for text that needs trimming and text that does not.
    @Test(arguments: TextBytesTests.texts)
    func trimmingIsFoundations(_ text: String) {
        #expect(text.trimmingWhitespace() == text.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(text.trimmingSpaces() == text.trimmingCharacters(in: .whitespaces))
        let sub = ("<" + text + ">").dropFirst().dropLast()
        #expect(sub.trimmingWhitespace() == sub.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(sub.trimmingSpaces() == sub.trimmingCharacters(in: .whitespaces))
    }

    @Test(arguments: TextBytesTests.texts)
    func sameBytesIsByteEquality(_ text: String) {
        for other in Self.texts {
            #expect(text.hasSameUTF8(as: other) == Array(text.utf8).elementsEqual(other.utf8))
        }
        #expect(text.hasSameUTF8(as: String(decoding: Array(text.utf8), as: UTF8.self)))
    }

    /// Canonically equivalent texts are equal Strings but not the same bytes.
    @Test func canonicalEquivalentsDiffer() {
        #expect("é" == "e\u{301}")
        #expect(!"é".hasSameUTF8(as: "e\u{301}"))
        let bridged = NSString(string: "caf\u{E9} au lait, long enough not to be a small string") as String
        #expect(bridged.hasSameUTF8(as: "caf\u{E9} au lait, long enough not to be a small string"))
    }
}

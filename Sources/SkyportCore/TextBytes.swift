import Foundation

extension String {
    /// Whether the two texts are the same UTF-8 bytes. `==` also holds for texts that are only canonically equivalent
    /// (`é` and `e\u{301}`), which stored forms must keep apart; `utf8.elementsEqual` walks both views a byte at a time,
    /// a few percent of the broker's CPU when an offer set's messages and rejections are packed under load.
    public func hasSameUTF8(as other: String) -> Bool {
        let count = utf8.count
        guard count == other.utf8.count else { return false }
        guard count > 0 else { return true }
        let same = utf8.withContiguousStorageIfAvailable { a in
            other.utf8.withContiguousStorageIfAvailable { b in memcmp(a.baseAddress!, b.baseAddress!, count) == 0 }
        }
        return same.flatMap { $0 } ?? utf8.elementsEqual(other.utf8)
    }
}

extension String {
    /// `trimmingCharacters(in: .whitespacesAndNewlines)`, returning the text as it is, without Foundation's bridging,
    /// when it begins and ends with printable ASCII (most do: a request's every field passes through here).
    public func trimmingWhitespace() -> String {
        TextEnds.plain(utf8) ? self : trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `trimmingCharacters(in: .whitespaces)`, with the same shortcut.
    public func trimmingSpaces() -> String {
        TextEnds.plain(utf8) ? self : trimmingCharacters(in: .whitespaces)
    }
}

extension Substring {
    /// `String.trimmingWhitespace()`.
    public func trimmingWhitespace() -> String {
        TextEnds.plain(utf8) ? String(self) : trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `String.trimmingSpaces()`.
    public func trimmingSpaces() -> String {
        TextEnds.plain(utf8) ? String(self) : trimmingCharacters(in: .whitespaces)
    }
}

private enum TextEnds {
    /// Whether the first and last bytes are printable ASCII, neither a space: then no white space or line break (each
    /// either ASCII at most 0x20, or bytes of 0x80 and above) is at either end. Empty text has no plain ends.
    static func plain(_ utf8: some BidirectionalCollection<UInt8>) -> Bool {
        guard let first = utf8.first, let last = utf8.last else { return false }
        return (0x21...0x7E).contains(first) && (0x21...0x7E).contains(last)
    }
}

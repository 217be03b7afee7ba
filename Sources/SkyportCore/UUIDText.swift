import Foundation

extension UUID {
    /// The identifier spelled as `uuidString` spells it (8-4-4-4-12 upper-case hex digits). Foundation's `uuidString`
    /// prints each of the sixteen bytes through `snprintf`, and an offer request spells its identifiers dozens of
    /// times (its rows, their documents, the answer's URLs): that formatting was 1.5% of the broker's CPU.
    public var text: String { Self.spell(uuid, letters: UInt8(ascii: "A")) }

    /// `text` in lower case (as `uuidString.lowercased()`, without the second pass): the form in URLs and links.
    public var lowercasedText: String { Self.spell(uuid, letters: UInt8(ascii: "a")) }

    private static func digit(_ nibble: UInt8, _ letters: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : letters + nibble - 10
    }

    private static func spell(_ uuid: uuid_t, letters: UInt8) -> String {
        withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { out in
                var o = 0
                for (i, byte) in bytes.enumerated() {
                    if i == 4 || i == 6 || i == 8 || i == 10 {
                        out[o] = UInt8(ascii: "-")
                        o += 1
                    }
                    out[o] = digit(byte >> 4, letters)
                    out[o + 1] = digit(byte & 0x0F, letters)
                    o += 2
                }
                return o
            }
        }
    }
}

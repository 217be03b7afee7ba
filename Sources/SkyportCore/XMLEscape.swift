import Foundation

/// Escapes text for XML 1.0 character data or attribute values: the five entities, CR (and TAB and LF in attributes)
/// as character references, and characters XML 1.0 does not allow dropped. Shared by every XML writer.
public enum XMLEscape {
    public static func escape(_ text: String, attribute: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\r": out += "&#13;"
            case "\t" where attribute: out += "&#9;"
            case "\n" where attribute: out += "&#10;"
            case "\t", "\n", "\u{20}"..."\u{D7FF}", "\u{E000}"..."\u{FFFD}", "\u{10000}"...: out.unicodeScalars.append(scalar)
            default: break   // C0 controls, U+FFFE, U+FFFF: not allowed in XML 1.0
            }
        }
        return out
    }
}

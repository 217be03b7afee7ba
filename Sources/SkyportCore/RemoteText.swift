/// Words that came from elsewhere (a facility's answer to a probe, another broker's messages or error body), made
/// safe to keep and show: one line, printable, short.
public enum RemoteText {
    /// Longest text kept, in characters.
    public static let limit = 300
    /// Longest text shown to callers who are not operators (a short reason).
    public static let shortLimit = 200

    /// `text` on one line (control characters and runs of white space become one space), cut at `limit` characters
    /// with an ellipsis.
    public static func clip(_ text: String, limit: Int = RemoteText.limit) -> String {
        var out = ""
        var space = false
        for ch in text {
            if ch.isWhitespace || ch.unicodeScalars.allSatisfy({ $0.properties.generalCategory == .control || $0.properties.generalCategory == .format }) {
                space = !out.isEmpty
                continue
            }
            if space {
                out.append(" ")
                space = false
            }
            out.append(ch)
            if out.count >= limit { return out + "…" }
        }
        return out
    }

    /// The first HTTP status the text names (`HTTP 503`, `answered 500`), if any.
    public static func httpStatus(_ text: String) -> Int? {
        let words = text.split(whereSeparator: { !$0.isNumber && !$0.isLetter })
        for (i, w) in words.enumerated() where w.count == 3 && w.allSatisfy(\.isNumber) {
            guard let n = Int(w), (100...599).contains(n), i > 0 else { continue }
            // `HTTP 500`, `answered 500`; not a URL's `http://127.0.0.1`.
            let before = words[i - 1]
            if before == "HTTP" || before == "answered" { return n }
        }
        return nil
    }
}

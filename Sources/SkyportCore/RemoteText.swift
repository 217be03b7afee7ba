/// Words that came from elsewhere (a facility's answer to a probe, another broker's messages or error body), made
/// safe to keep and show: one line, printable, short.
public enum RemoteText {
    /// Longest text kept, in characters.
    public static let limit = 300
    /// Longest text shown to callers who are not operators (a short reason).
    public static let shortLimit = 200

    /// `text` on one line (control characters and runs of white space become one space), cut at `limit` characters
    /// with an ellipsis. Linear in the text, with a fast path for what is already clean: matching clips every
    /// rejection's detail on every request.
    public static func clip(_ text: String, limit: Int = RemoteText.limit) -> String {
        if isClean(text, limit: limit) { return text }
        var out = ""
        var count = 0
        var space = false
        for ch in text {
            if ch.isWhitespace || ch.unicodeScalars.allSatisfy({ $0.properties.generalCategory == .control || $0.properties.generalCategory == .format }) {
                space = count > 0
                continue
            }
            if space {
                out.append(" ")
                count += 1
                space = false
            }
            out.append(ch)
            count += 1
            if count >= limit { return out + "…" }
        }
        return out
    }

    /// Printable ASCII with single inner spaces, shorter than `limit`: what `clip` would return unchanged.
    static func isClean(_ text: String, limit: Int) -> Bool {
        let bytes = text.utf8
        guard bytes.count < limit else { return false }
        var previousSpace = true
        for b in bytes {
            if b == 0x20 {
                if previousSpace { return false }
                previousSpace = true
            } else if b > 0x20 && b < 0x7f {
                previousSpace = false
            } else {
                return false
            }
        }
        return !previousSpace || bytes.isEmpty
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

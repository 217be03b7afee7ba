/// The longest text a client may store in one field, in characters (Unicode code points, as JSON Schema's `maxLength`
/// counts them; documented in the README and, as `maxLength`, in the OpenAPI document). A longer value is an error naming the field (422 for documents, 400 for UWS
/// parameters), so what an anonymous caller can make the broker keep stays small.
public enum FieldLimits {
    /// Names: a request's `name`/`meta.name`, a data item's name, the software's name and version, list items
    /// such as codemeta keywords.
    public static let name = 256
    /// A TAP query (`executable.query`).
    public static let query = 65_536
    /// Any other text field (URLs, ids, paths, messages, checksums, descriptions).
    public static let text = 4_096
    /// Most items in a codemeta list (keywords, languages, operating systems, runtime platforms).
    public static let listItems = 100
    /// A UWS parameter's name.
    public static let uwsParameterName = 64
    /// A UWS parameter's value (`request`, `software` and `basket` hold whole documents, whose fields are bounded
    /// in turn).
    public static let uwsParameter = 65_536

    /// The bound for a field, by its dotted path.
    public static func maxLength(for field: String) -> Int {
        let last = field.split(separator: ".").last.map(String.init) ?? field
        if last == "name" { return name }
        if last == "query" { return query }
        return text
    }

    /// Why `value` is too long for `field`, or nil.
    public static func problem(_ value: String, field: String, limit: Int? = nil) -> String? {
        let max = limit ?? maxLength(for: field)
        let length = value.unicodeScalars.count
        return length > max ? "is \(length) characters long: at most \(max) are allowed" : nil
    }
}

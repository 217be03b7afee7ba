import Foundation

/// Walks one client document, collecting every field error and note on the way; the request parsers share it.
/// Getters return nil for an absent or null field, and record an error (and return nil) for a value of the wrong type.
struct DocumentReader {
    var errors = FieldErrors()
    var notes: [RequestNote] = []
    /// What the document may say (the ExecutionBroker schemas allow it) but Skyport cannot do: answered with
    /// `result: NO` and a message naming the field, not with an HTTP error.
    var refusals: [RequestNote] = []

    /// A value that breaks the document's types or Skyport's own fields: the request is refused with a 4xx.
    mutating func error(_ field: String, _ message: String) { errors.add(field, message) }

    /// A well-formed value Skyport cannot honour: the request gets no offers, and a message naming the field.
    mutating func refuse(_ field: String, _ message: String) { refusals.append(RequestNote(.warning, field, message)) }

    mutating func note(_ level: RequestNote.Level, _ field: String, _ message: String) {
        notes.append(RequestNote(level, field, message))
    }

    /// Whether an error was already recorded for the field (to avoid saying "required" after "not a URL").
    func hasError(_ field: String) -> Bool { errors.all.contains { $0.field == field } || refusals.contains { $0.field == field } }

    /// Throws every error found, if any.
    func check() throws {
        var all = errors
        for r in refusals { all.add(r.field, r.message) }
        try all.check()
    }

    /// Throws the errors only (the ExecutionBroker parser answers refusals with `result: NO`).
    func checkTypes() throws { try errors.check() }

    // MARK: Typed getters

    mutating func object(_ value: JSONValue?, _ field: String) -> [String: JSONValue]? {
        guard let value, !value.isNull else { return nil }
        if let o = value.objectValue { return o }
        error(field, "must be an object")
        return nil
    }

    mutating func array(_ value: JSONValue?, _ field: String) -> [JSONValue]? {
        guard let value, !value.isNull else { return nil }
        if let a = value.arrayValue { return a }
        error(field, "must be an array")
        return nil
    }

    /// A string, trimmed; an empty string counts as absent. Longer than `FieldLimits.maxLength(for: field)`: an error.
    mutating func string(_ value: JSONValue?, _ field: String) -> String? {
        guard let value, !value.isNull else { return nil }
        guard let s = value.stringValue else {
            error(field, "must be a string")
            return nil
        }
        if let problem = FieldLimits.problem(s, field: field) {
            error(field, problem)
            return nil
        }
        let t = s.trimmingWhitespace()
        return t.isEmpty ? nil : t
    }

    /// A string, number or boolean as text (whole numbers without a decimal point).
    mutating func scalarText(_ value: JSONValue?, _ field: String) -> String? {
        guard let value, !value.isNull else { return nil }
        guard let text = Self.text(of: value) else {
            error(field, "must be a string, number or boolean")
            return nil
        }
        if let problem = FieldLimits.problem(text, field: field) {
            error(field, problem)
            return nil
        }
        return text
    }

    /// A string as written: not trimmed, an empty one kept (for fields whose rule, a pattern in the spec, is checked
    /// on the text itself); null is absent, any other type an error.
    mutating func written(_ value: JSONValue?, _ field: String, limit: Int? = nil) -> String? {
        guard let value, !value.isNull else { return nil }
        guard let s = value.stringValue else {
            error(field, "must be a string")
            return nil
        }
        if let problem = FieldLimits.problem(s, field: field, limit: limit) {
            error(field, problem)
            return nil
        }
        return s
    }

    /// A list of strings as written (see `written`): a null or non-string item is an error naming it.
    mutating func writtenItems(_ value: JSONValue?, _ field: String) -> [String]? {
        array(value, field)?.enumerated().compactMap { i, item in
            if item.isNull { error("\(field)[\(i)]", "must be a string") }
            return written(item, "\(field)[\(i)]")
        }
    }

    /// A list of strings; a single string counts as a one-item list.
    mutating func strings(_ value: JSONValue?, _ field: String) -> [String] {
        guard let value, !value.isNull else { return [] }
        if case .string = value { return scalarText(value, field).map { [$0] } ?? [] }
        guard let items = array(value, field) else { return [] }
        return items.enumerated().compactMap { i, item in scalarText(item, "\(field)[\(i)]") }
    }

    /// A whole number (a JSON number or a string holding one).
    mutating func int(_ value: JSONValue?, _ field: String) -> Int? {
        guard let value, !value.isNull else { return nil }
        // A whole number too large to hold is read as the largest (every bound refuses it then, naming it).
        if case .number(let d) = value, d.rounded() == d, abs(d) >= 9.0e15 { return d > 0 ? Int(9.0e15) : -Int(9.0e15) }
        guard let n = value.intValue else {
            error(field, "must be a whole number")
            return nil
        }
        return n
    }

    /// One end of a cores, memory or storage range: a whole number from 1 to 10,000,000.
    mutating func bound(_ value: JSONValue?, _ field: String) -> Int? {
        guard let n = int(value, field) else { return nil }
        return checkedBound(n, field)
    }

    mutating func checkedBound(_ n: Int, _ field: String) -> Int? {
        if n < 0 {
            refuse(field, "must not be negative (got \(n))")
        } else if n == 0 {
            refuse(field, "must be at least 1")
        } else if n > Self.absurd {
            refuse(field, "\(n) is absurdly large (the limit is 10,000,000)")
        } else {
            return n
        }
        return nil
    }

    /// A `{min, max}` range; a bare number is read as the minimum.
    mutating func range(_ value: JSONValue?, _ field: String) -> ResourceRange? {
        guard let value, !value.isNull else { return nil }
        if case .number = value {
            note(.info, field, "a bare number was read as the minimum")
            return bound(value, "\(field).min").map { ResourceRange(min: $0) }
        }
        guard let o = object(value, field) else { return nil }
        return checkedRange(min: bound(o["min"], "\(field).min"), max: bound(o["max"], "\(field).max"), field)
    }

    /// A range from two already-checked ends; an error when min exceeds max.
    mutating func checkedRange(min: Int?, max: Int?, _ field: String, minName: String = "min", maxName: String = "max")
        -> ResourceRange?
    {
        if let min, let max, min > max {
            refuse("\(field).\(minName)", "\(minName) \(min) is greater than \(maxName) \(max)")
        }
        if min == nil, max == nil { return nil }
        return ResourceRange(min: min, max: max)
    }

    static let absurd = 10_000_000

    /// The text of a string, number or boolean; nil for anything else.
    static func text(of value: JSONValue) -> String? {
        switch value {
        case .string(let s):
            return s.trimmingWhitespace()
        case .number(let n):
            return n.rounded() == n && abs(n) < 9.0e15 ? String(Int64(n)) : String(n)
        case .bool(let b):
            return b ? "true" : "false"
        default:
            return nil
        }
    }
}

/// Kind URIs of the ExecutionBroker's three schema generations, reduced to a comparable name.
enum KindName {
    /// The last segment of a kind URI, lower-cased, less a file suffix and a version:
    /// `.../types/data/simple-data-resource-1.0` and `.../kinds/data/simple-data-resource.yaml` both give
    /// `simple-data-resource`.
    static func of(_ uri: String) -> String {
        var tail = Substring(uri.trimmingSpaces().lowercased())
        if let cut = tail.lastIndex(where: { $0 == "/" || $0 == ":" }) { tail = tail[tail.index(after: cut)...] }
        for suffix in [".yaml", ".yml", ".json"] where tail.hasSuffix(suffix) { tail = tail.dropLast(suffix.count) }
        if let dash = tail.lastIndex(of: "-"), tail.index(after: dash) != tail.endIndex,
            tail[tail.index(after: dash)...].allSatisfy({ $0.isNumber || $0 == "." })
        {
            tail = tail[..<dash]
        }
        return String(tail)
    }
}

extension Array where Element == RequestNote {
    /// The same notes with their fields placed under `prefix` (`software.keywords`).
    func prefixed(_ prefix: String) -> [RequestNote] {
        map { RequestNote($0.level, $0.field.isEmpty ? prefix : "\(prefix).\($0.field)", $0.message) }
    }
}

import Foundation

/// Checks a document against a JSON Schema of the API's own OpenAPI 3.1 document, naming every field at fault. The
/// server checks each request body against the schema the spec gives it before reading it, so what the spec forbids
/// is refused, with the same words for every operation (the handlers' own checks then add what a schema cannot say).
///
/// The keywords are the ones `specs/openapi.yaml` uses: `type`, `enum`, `const`, `properties`, `required`,
/// `additionalProperties`, `items`, `minItems`, `maxItems`, `minLength`, `maxLength` (in code points), `pattern`
/// (see `SpecPattern` for the dialect), `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `allOf`,
/// `anyOf`, `oneOf`, `not`, `if`/`then`/`else`, `dependentRequired`, `$ref` (to `#/components/schemas/…`) and the
/// format `date-time`. Other keywords are annotations.
public struct SchemaCheck: Sendable {
    /// The OpenAPI document (for `$ref`).
    private let document: JSONValue
    private let patterns: [String: Pattern]
    /// `#/components/schemas/X` → its schema, resolved once.
    private let components: [String: JSONValue]
    /// The spec's patterns this platform's regular expressions cannot compile (a test holds it empty: one that does
    /// not compile would let everything through).
    public var uncompilable: [String] { patterns.filter { $0.value.regex == nil }.map(\.key).sorted() }
    /// Patterns decided by a function instead (see `deciding`).
    private var decided: [String: @Sendable (String) -> Bool] = [:]

    public init(document: JSONValue) {
        self.document = document
        var found: Set<String> = []
        Self.collectPatterns(document, into: &found)
        patterns = Dictionary(uniqueKeysWithValues: found.map { ($0, Pattern($0)) })
        components = Dictionary(uniqueKeysWithValues: (document["components"]?["schemas"]?.objectValue ?? [:]).map {
            ("#/components/schemas/" + $0.key, $0.value)
        })
    }

    /// This check with `pattern` decided by `rule` rather than by the regular expression: for a pattern that states
    /// a default the server's configuration can change (which URLs the egress rule lets in).
    public func deciding(_ pattern: String, by rule: @escaping @Sendable (String) -> Bool) -> SchemaCheck {
        var copy = self
        copy.decided[pattern] = rule
        return copy
    }

    /// The schema at a JSON pointer in the document (`#/components/schemas/ExecutionRequest`), nil when absent.
    public func schema(at pointer: String) -> JSONValue? {
        if let component = components[pointer] { return component }
        guard pointer.hasPrefix("#/") else { return nil }
        var node: JSONValue? = document
        for raw in pointer.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) {
            let key = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            node = node?[key] ?? node?.arrayValue.flatMap { a in Int(key).flatMap { $0 < a.count ? a[$0] : nil } }
        }
        return node
    }

    /// Every way `value` breaks `schema`, each naming its field (`compute.gpus`, `endpoints[0].url`; the root is
    /// `body`); empty when it conforms.
    public func problems(_ value: JSONValue, _ schema: JSONValue) -> [FieldError] {
        var out: [FieldError] = []
        check(value, schema, path: "", name: nil, into: &out, depth: 0)
        return out.map { FieldError($0.field.isEmpty ? "body" : $0.field, $0.message) }
    }

    // MARK: - Evaluation

    private func check(_ value: JSONValue, _ schema: JSONValue, path: String, name: String?, into out: inout [FieldError], depth: Int) {
        guard depth < 64, case .object(let s) = schema else { return }
        var name = name
        if let ref = s["$ref"]?.stringValue, let target = self.schema(at: ref) {
            let component = ref.hasPrefix("#/components/schemas/") ? String(ref.dropFirst(21)) : nil
            check(value, target, path: path, name: component, into: &out, depth: depth + 1)
        }
        if let title = s["title"]?.stringValue { name = title }

        if let types = s["type"] {
            let allowed = types.arrayValue?.compactMap(\.stringValue) ?? types.stringValue.map { [$0] } ?? []
            if !allowed.isEmpty, !allowed.contains(where: { Self.has(value, type: $0) }) {
                out.append(FieldError(path, "must be " + allowed.map(Self.phrase).joined(separator: " or ")))
                return
            }
        }
        if let options = s["enum"]?.arrayValue, !options.contains(value) {
            let shown = options.prefix(24).map(Self.show).joined(separator: ", ")
            out.append(FieldError(path, "must be one of: \(shown)\(options.count > 24 ? ", …" : "")"))
        }
        if let constant = s["const"], constant != value { out.append(FieldError(path, "must be \(Self.show(constant))")) }

        switch value {
        case .string(let text): checkString(text, s, path: path, name: name, into: &out)
        case .number(let n): checkNumber(n, s, path: path, into: &out)
        case .array(let items): checkArray(items, s, path: path, into: &out, depth: depth)
        case .object(let members): checkObject(members, s, path: path, into: &out, depth: depth)
        case .null, .bool: break
        }

        for part in s["allOf"]?.arrayValue ?? [] { check(value, part, path: path, name: name, into: &out, depth: depth + 1) }
        if let branches = s["anyOf"]?.arrayValue {
            // The first branch that passes settles it; the problems of all are kept only when none does.
            var results: [[FieldError]] = []
            for branch in branches {
                let found = attempt(value, branch, path: path, name: name, depth: depth)
                if found.isEmpty { results = []; break }
                results.append(found)
            }
            if !results.isEmpty { out += closest(results, branches, value) }
        }
        if let branches = s["oneOf"]?.arrayValue {
            let results = branches.map { attempt(value, $0, path: path, name: name, depth: depth) }
            let passing = results.filter(\.isEmpty).count
            if passing == 0 { out += closest(results, branches, value) }
            if passing > 1 { out.append(FieldError(path, "matches more than one of the forms it may take; give one")) }
        }
        if let negated = s["not"], attempt(value, negated, path: path, name: name, depth: depth).isEmpty {
            // `not: {required: [x]}` says x may not be given here.
            if let keys = negated["required"]?.arrayValue?.compactMap(\.stringValue), keys.count == 1, negated.objectValue?.count == 1 {
                out.append(FieldError(Self.join(path, keys[0]), "is not allowed here"))
            } else {
                out.append(FieldError(path, "is not allowed in this form"))
            }
        }
        if let condition = s["if"] {
            let branch = attempt(value, condition, path: path, name: name, depth: depth).isEmpty ? s["then"] : s["else"]
            if let branch { check(value, branch, path: path, name: name, into: &out, depth: depth + 1) }
        }
    }

    private func attempt(_ value: JSONValue, _ schema: JSONValue, path: String, name: String?, depth: Int) -> [FieldError] {
        var found: [FieldError] = []
        check(value, schema, path: path, name: name, into: &found, depth: depth + 1)
        return found
    }

    /// The problems of the branch the value came closest to: one whose type it has, with the fewest problems.
    private func closest(_ results: [[FieldError]], _ branches: [JSONValue], _ value: JSONValue) -> [FieldError] {
        let ranked = zip(results, branches).sorted { a, b in
            let (ta, tb) = (typeFits(value, a.1), typeFits(value, b.1))
            return ta != tb ? ta : a.0.count < b.0.count
        }
        return ranked.first?.0 ?? []
    }

    private func typeFits(_ value: JSONValue, _ schema: JSONValue) -> Bool {
        var s = schema
        if let ref = s["$ref"]?.stringValue, let target = self.schema(at: ref) { s = target }
        guard let types = s["type"] else { return true }
        let allowed = types.arrayValue?.compactMap(\.stringValue) ?? types.stringValue.map { [$0] } ?? []
        return allowed.contains { Self.has(value, type: $0) }
    }

    private func checkString(_ text: String, _ s: [String: JSONValue], path: String, name: String?, into out: inout [FieldError]) {
        let length = text.unicodeScalars.count
        if let min = s["minLength"]?.intValue, length < min {
            out.append(FieldError(path, min == 1 ? "must not be empty" : "must be at least \(min) characters long"))
        }
        if let max = s["maxLength"]?.intValue, length > max { out.append(FieldError(path, "is \(length) characters long: at most \(max) are allowed")) }
        if let pattern = s["pattern"]?.stringValue, !(decided[pattern]?(text) ?? patterns[pattern]?.matches(text) ?? true) {
            let what = name.map { " \("AEIOU".contains($0.prefix(1)) ? "an" : "a") \($0)" } ?? " of the form the spec gives"
            let hint = s["description"]?.stringValue.map { ": " + Self.firstSentence($0) } ?? ""
            out.append(FieldError(path, "'\(text.prefix(100))' is not\(what)\(hint)"))
        }
        switch s["format"]?.stringValue {
        case "date-time"?:
            if Timestamp.parse(text) == nil { out.append(FieldError(path, "'\(text.prefix(100))' is not an RFC 3339 date-time such as 2026-06-01T10:00:00Z")) }
        default: break
        }
    }

    private func checkNumber(_ n: Double, _ s: [String: JSONValue], path: String, into out: inout [FieldError]) {
        if let min = s["minimum"]?.doubleValue, n < min { out.append(FieldError(path, "must be at least \(Self.show(.number(min)))")) }
        if let max = s["maximum"]?.doubleValue, n > max { out.append(FieldError(path, "must be at most \(Self.show(.number(max)))")) }
        if let min = s["exclusiveMinimum"]?.doubleValue, n <= min { out.append(FieldError(path, "must be more than \(Self.show(.number(min)))")) }
        if let max = s["exclusiveMaximum"]?.doubleValue, n >= max { out.append(FieldError(path, "must be less than \(Self.show(.number(max)))")) }
    }

    private func checkArray(_ items: [JSONValue], _ s: [String: JSONValue], path: String, into out: inout [FieldError], depth: Int) {
        if let min = s["minItems"]?.intValue, items.count < min { out.append(FieldError(path, "must have at least \(min) item\(min == 1 ? "" : "s")")) }
        if let max = s["maxItems"]?.intValue, items.count > max { out.append(FieldError(path, "has \(items.count) items: at most \(max) are allowed")) }
        if let itemSchema = s["items"] {
            for (i, item) in items.enumerated() { check(item, itemSchema, path: "\(path)[\(i)]", name: nil, into: &out, depth: depth + 1) }
        }
    }

    private func checkObject(_ members: [String: JSONValue], _ s: [String: JSONValue], path: String, into out: inout [FieldError], depth: Int) {
        let properties = s["properties"]?.objectValue ?? [:]
        for key in s["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[key] == nil {
            out.append(FieldError(Self.join(path, key), "is required"))
        }
        for (key, rule) in s["dependentRequired"]?.objectValue ?? [:] where members[key] != nil {
            for needed in rule.arrayValue?.compactMap(\.stringValue) ?? [] where members[needed] == nil {
                out.append(FieldError(Self.join(path, needed), "is required with \(key)"))
            }
        }
        for key in members.keys.sorted() {
            let member = members[key]!
            if let rule = properties[key] {
                check(member, rule, path: Self.join(path, key), name: nil, into: &out, depth: depth + 1)
            } else if let extra = s["additionalProperties"] {
                if extra == .bool(false) {
                    out.append(FieldError(Self.join(path, key), "unknown field"))
                } else if case .object = extra {
                    check(member, extra, path: Self.join(path, key), name: nil, into: &out, depth: depth + 1)
                }
            }
        }
    }

    // MARK: - Words

    private static func has(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object), ("number", .number): true
        case ("integer", .number(let n)): n.isFinite && n.rounded() == n
        default: false
        }
    }

    private static func phrase(_ type: String) -> String {
        switch type {
        case "null": "null"
        case "boolean": "true or false"
        case "integer": "a whole number"
        case "number": "a number"
        case "array": "a list"
        case "object": "an object"
        default: "a \(type)"
        }
    }

    private static func show(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): s
        case .number(let n): n.rounded() == n && abs(n) < 1e15 ? String(Int(n)) : String(n)
        case .bool(let b): String(b)
        case .null: "null"
        default: String(decoding: value.jsonBytes, as: UTF8.self)
        }
    }

    private static func firstSentence(_ text: String) -> String {
        let line = text.split(separator: "\n").first.map(String.init) ?? text
        if let end = line.range(of: ". ") { return String(line[..<end.lowerBound]) }
        return line.hasSuffix(".") ? String(line.dropLast()) : line
    }

    private static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private static func collectPatterns(_ node: JSONValue, into found: inout Set<String>) {
        switch node {
        case .object(let o):
            if let p = o["pattern"]?.stringValue { found.insert(p) }
            for v in o.values { collectPatterns(v, into: &found) }
        case .array(let a):
            for v in a { collectPatterns(v, into: &found) }
        default: break
        }
    }

    /// A compiled `pattern` (immutable, so shared freely).
    private struct Pattern: @unchecked Sendable {
        let regex: NSRegularExpression?
        init(_ text: String) { regex = try? NSRegularExpression(pattern: text, options: SpecPattern.options) }
        /// JSON Schema's `pattern` is not anchored: a match anywhere will do. (ICU's `$`, as Python's, also matches
        /// before a final line break.)
        func matches(_ text: String) -> Bool {
            guard let regex else { return true }
            return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
        }
    }
}

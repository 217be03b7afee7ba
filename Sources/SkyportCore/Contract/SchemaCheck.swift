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
///
/// Schemas are compiled once (`compile`): every request body is checked, and looking each keyword up in the
/// schema's dictionaries for every node of every body was most of the check's cost.
public struct SchemaCheck: Sendable {
    /// The OpenAPI document (for `schema(at:)`).
    private let document: JSONValue
    /// Every `$ref` target in the document, compiled, by position (a `$ref` holds its target's position: schemas may
    /// refer to themselves), and the positions by the `$ref`'s text.
    private let targets: [Node]
    private let targetIndex: [String: Int]
    /// Every pattern in the document, compiled once.
    private let patterns: [String: Pattern]
    /// The spec's patterns this platform's regular expressions cannot compile (a test holds it empty: one that does
    /// not compile would let everything through).
    public let uncompilable: [String]
    /// Patterns decided by a function instead (see `deciding`).
    private var decided: [String: @Sendable (String) -> Bool] = [:]

    /// A schema made ready for checking (`compile`), with the document's compiled `$ref` targets it refers to.
    public struct Schema: Sendable {
        fileprivate let node: Node
        fileprivate let targets: [Node]
    }

    public init(document: JSONValue) {
        self.document = document
        var found: Set<String> = []
        Self.strings(under: "pattern", in: document, into: &found)
        var patterns: [String: Pattern] = [:]
        for text in found { patterns[text] = Pattern(text) }
        self.patterns = patterns
        uncompilable = patterns.filter { $0.value.regex == nil }.map(\.key).sorted()
        var refs: Set<String> = []
        Self.strings(under: "$ref", in: document, into: &refs)
        let resolved = refs.sorted().compactMap { ref in Self.lookup(ref, in: document).map { (ref, $0) } }
        var index: [String: Int] = [:]
        for (i, target) in resolved.enumerated() { index[target.0] = i }
        targetIndex = index
        let compiler = Compiler(document: document, targetIndex: index, patterns: patterns)
        targets = resolved.map { compiler.node($0.1, depth: 0) }
    }

    /// This check with `pattern` decided by `rule` rather than by the regular expression: for a pattern that states
    /// a default the server's configuration can change (which URLs the egress rule lets in).
    public func deciding(_ pattern: String, by rule: @escaping @Sendable (String) -> Bool) -> SchemaCheck {
        var copy = self
        copy.decided[pattern] = rule
        return copy
    }

    /// The schema at a JSON pointer in the document (`#/components/schemas/ExecutionRequest`), nil when absent.
    public func schema(at pointer: String) -> JSONValue? { Self.lookup(pointer, in: document) }

    /// `schema` made ready for checking; its `$ref`s into the document are resolved once.
    public func compile(_ schema: JSONValue) -> Schema {
        Schema(node: Compiler(document: document, targetIndex: targetIndex, patterns: patterns).node(schema, depth: 0), targets: targets)
    }

    /// Every way `value` breaks `schema`, each naming its field (`compute.gpus`, `endpoints[0].url`; the root is
    /// `body`); empty when it conforms.
    public func problems(_ value: JSONValue, _ schema: Schema) -> [FieldError] {
        var out: [FieldError] = []
        Evaluation(targets: schema.targets, decided: decided).check(value, schema.node, path: "", name: nil, into: &out, depth: 0)
        return out.map { FieldError($0.field.isEmpty ? "body" : $0.field, $0.message) }
    }

    /// As `problems(_:_:)`, compiling `schema` first (for a schema checked once).
    public func problems(_ value: JSONValue, _ schema: JSONValue) -> [FieldError] { problems(value, compile(schema)) }

    // MARK: - Compiled schemas

    /// One schema object with its keywords read out (a schema that is not an object, such as `true`, is an empty
    /// one: it allows anything).
    fileprivate final class Node: Sendable {
        /// `$ref`: the position of a target the document refers to, or (in a schema from elsewhere) a part of the
        /// document compiled in place; with the name of the component it is in, if it is in one.
        enum Reference: Sendable {
            case target(Int, name: String?)
            case inline(Node, name: String?)
        }

        enum Additional: Sendable {
            case allowed
            case forbidden
            case schema(Node)
        }

        let reference: Reference?
        let title: String?
        /// nil without `type`; empty when `type` holds no type name.
        let types: [String]?
        let options: [JSONValue]?
        let optionsMessage: String
        let constant: JSONValue?
        let constantMessage: String
        let minLength: Int?
        let maxLength: Int?
        let pattern: (text: String, compiled: Pattern?)?
        /// The first sentence of `description`, to explain a pattern.
        let hint: String
        let dateTime: Bool
        let minimum: Double?
        let maximum: Double?
        let exclusiveMinimum: Double?
        let exclusiveMaximum: Double?
        let minItems: Int?
        let maxItems: Int?
        let items: Node?
        let properties: [String: Node]
        let required: [String]
        let dependentRequired: [(key: String, needed: [String])]
        let additional: Additional
        let allOf: [Node]
        let anyOf: [Node]?
        let oneOf: [Node]?
        let not: Node?
        /// `not: {required: [x]}` alone: x may not be given here.
        let forbiddenKey: String?
        let condition: (test: Node, then: Node?, otherwise: Node?)?

        init(_ s: [String: JSONValue], reference: Reference?, compile: (JSONValue) -> Node, patterns: [String: Pattern]) {
            self.reference = reference
            title = s["title"]?.stringValue
            types = s["type"].map { t in t.arrayValue?.compactMap(\.stringValue) ?? t.stringValue.map { [$0] } ?? [] }
            options = s["enum"]?.arrayValue
            if let options {
                let shown = options.prefix(24).map(SchemaCheck.show).joined(separator: ", ")
                optionsMessage = "must be one of: \(shown)\(options.count > 24 ? ", …" : "")"
            } else {
                optionsMessage = ""
            }
            constant = s["const"]
            constantMessage = constant.map { "must be \(SchemaCheck.show($0))" } ?? ""
            minLength = s["minLength"]?.intValue
            maxLength = s["maxLength"]?.intValue
            pattern = s["pattern"]?.stringValue.map { ($0, patterns[$0] ?? Pattern($0)) }
            hint = s["description"]?.stringValue.map { ": " + SchemaCheck.firstSentence($0) } ?? ""
            dateTime = s["format"]?.stringValue == "date-time"
            minimum = s["minimum"]?.doubleValue
            maximum = s["maximum"]?.doubleValue
            exclusiveMinimum = s["exclusiveMinimum"]?.doubleValue
            exclusiveMaximum = s["exclusiveMaximum"]?.doubleValue
            minItems = s["minItems"]?.intValue
            maxItems = s["maxItems"]?.intValue
            items = s["items"].map(compile)
            properties = (s["properties"]?.objectValue ?? [:]).mapValues(compile)
            required = s["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
            dependentRequired = (s["dependentRequired"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.map {
                ($0.key, $0.value.arrayValue?.compactMap(\.stringValue) ?? [])
            }
            switch s["additionalProperties"] {
            case .bool(false)?: additional = .forbidden
            case let extra? where extra.objectValue != nil: additional = .schema(compile(extra))
            default: additional = .allowed
            }
            allOf = (s["allOf"]?.arrayValue ?? []).map(compile)
            anyOf = s["anyOf"]?.arrayValue?.map(compile)
            oneOf = s["oneOf"]?.arrayValue?.map(compile)
            not = s["not"].map(compile)
            if let negated = s["not"], let keys = negated["required"]?.arrayValue?.compactMap(\.stringValue), keys.count == 1,
                negated.objectValue?.count == 1 {
                forbiddenKey = keys[0]
            } else {
                forbiddenKey = nil
            }
            condition = s["if"].map { (compile($0), s["then"].map(compile), s["else"].map(compile)) }
        }
    }

    /// Turns schemas into `Node`s: a `$ref` to a target of the document's own `$ref`s becomes its position; another
    /// part of the document (referred to only by a schema from elsewhere) is compiled in place: its own `$ref`s are
    /// the document's, so that ends.
    private struct Compiler {
        let document: JSONValue
        let targetIndex: [String: Int]
        let patterns: [String: Pattern]

        func node(_ schema: JSONValue, depth: Int) -> Node {
            guard depth < 64, case .object(let s) = schema else {
                return Node([:], reference: nil, compile: { _ in preconditionFailure("an empty schema has no subschemas") }, patterns: [:])
            }
            var reference: Node.Reference?
            if let ref = s["$ref"]?.stringValue {
                let prefix = "#/components/schemas/"
                let name = ref.hasPrefix(prefix) ? String(ref.dropFirst(prefix.count)) : nil
                if let i = targetIndex[ref] {
                    reference = .target(i, name: name)
                } else if let target = SchemaCheck.lookup(ref, in: document) {
                    reference = .inline(node(target, depth: depth + 1), name: name)
                }
            }
            return Node(s, reference: reference, compile: { node($0, depth: depth + 1) }, patterns: patterns)
        }
    }

    // MARK: - Evaluation

    /// One check of a value: the compiled targets its schema refers to, and the patterns decided by functions.
    private struct Evaluation {
        let targets: [Node]
        let decided: [String: @Sendable (String) -> Bool]

        func check(_ value: JSONValue, _ s: Node, path: String, name: String?, into out: inout [FieldError], depth: Int) {
            guard depth < 64 else { return }
            var name = name
            switch s.reference {
            case .target(let i, let component)?: check(value, targets[i], path: path, name: component, into: &out, depth: depth + 1)
            case .inline(let target, let component)?: check(value, target, path: path, name: component, into: &out, depth: depth + 1)
            case nil: break
            }
            if let title = s.title { name = title }

            if let allowed = s.types, !allowed.isEmpty, !allowed.contains(where: { SchemaCheck.has(value, type: $0) }) {
                out.append(FieldError(path, "must be " + allowed.map(SchemaCheck.phrase).joined(separator: " or ")))
                return
            }
            if let options = s.options, !options.contains(value) { out.append(FieldError(path, s.optionsMessage)) }
            if let constant = s.constant, constant != value { out.append(FieldError(path, s.constantMessage)) }

            switch value {
            case .string(let text): checkString(text, s, path: path, name: name, into: &out)
            case .number(let n): checkNumber(n, s, path: path, into: &out)
            case .array(let items): checkArray(items, s, path: path, into: &out, depth: depth)
            case .object(let members): checkObject(members, s, path: path, into: &out, depth: depth)
            case .null, .bool: break
            }

            for part in s.allOf { check(value, part, path: path, name: name, into: &out, depth: depth + 1) }
            if let branches = s.anyOf {
                // The first branch that passes settles it; the problems of all are kept only when none does.
                var results: [[FieldError]] = []
                for branch in branches {
                    let found = attempt(value, branch, path: path, name: name, depth: depth)
                    if found.isEmpty { results = []; break }
                    results.append(found)
                }
                if !results.isEmpty { out += closest(results, branches, value) }
            }
            if let branches = s.oneOf {
                let results = branches.map { attempt(value, $0, path: path, name: name, depth: depth) }
                let passing = results.filter(\.isEmpty).count
                if passing == 0 { out += closest(results, branches, value) }
                if passing > 1 { out.append(FieldError(path, "matches more than one of the forms it may take; give one")) }
            }
            if let negated = s.not, attempt(value, negated, path: path, name: name, depth: depth).isEmpty {
                if let key = s.forbiddenKey {
                    out.append(FieldError(SchemaCheck.join(path, key), "is not allowed here"))
                } else {
                    out.append(FieldError(path, "is not allowed in this form"))
                }
            }
            if let condition = s.condition {
                let branch = attempt(value, condition.test, path: path, name: name, depth: depth).isEmpty ? condition.then : condition.otherwise
                if let branch { check(value, branch, path: path, name: name, into: &out, depth: depth + 1) }
            }
        }

        private func attempt(_ value: JSONValue, _ schema: Node, path: String, name: String?, depth: Int) -> [FieldError] {
            var found: [FieldError] = []
            check(value, schema, path: path, name: name, into: &found, depth: depth + 1)
            return found
        }

        /// The problems of the branch the value came closest to: one whose type it has, with the fewest problems.
        private func closest(_ results: [[FieldError]], _ branches: [Node], _ value: JSONValue) -> [FieldError] {
            let ranked = zip(results, branches).sorted { a, b in
                let (ta, tb) = (typeFits(value, a.1), typeFits(value, b.1))
                return ta != tb ? ta : a.0.count < b.0.count
            }
            return ranked.first?.0 ?? []
        }

        private func typeFits(_ value: JSONValue, _ schema: Node) -> Bool {
            var s = schema
            switch schema.reference {
            case .target(let i, _)?: s = targets[i]
            case .inline(let target, _)?: s = target
            case nil: break
            }
            guard let allowed = s.types else { return true }
            return allowed.contains { SchemaCheck.has(value, type: $0) }
        }

        private func checkString(_ text: String, _ s: Node, path: String, name: String?, into out: inout [FieldError]) {
            if s.minLength != nil || s.maxLength != nil {
                let length = text.unicodeScalars.count
                if let min = s.minLength, length < min {
                    out.append(FieldError(path, min == 1 ? "must not be empty" : "must be at least \(min) characters long"))
                }
                if let max = s.maxLength, length > max { out.append(FieldError(path, "is \(length) characters long: at most \(max) are allowed")) }
            }
            if let pattern = s.pattern, !(decided[pattern.text]?(text) ?? pattern.compiled?.matches(text) ?? true) {
                let what = name.map { " \("AEIOU".contains($0.prefix(1)) ? "an" : "a") \($0)" } ?? " of the form the spec gives"
                out.append(FieldError(path, "'\(text.prefix(100))' is not\(what)\(s.hint)"))
            }
            if s.dateTime, Timestamp.parse(text) == nil {
                out.append(FieldError(path, "'\(text.prefix(100))' is not an RFC 3339 date-time such as 2026-06-01T10:00:00Z"))
            }
        }

        private func checkNumber(_ n: Double, _ s: Node, path: String, into out: inout [FieldError]) {
            if let min = s.minimum, n < min { out.append(FieldError(path, "must be at least \(SchemaCheck.show(.number(min)))")) }
            if let max = s.maximum, n > max { out.append(FieldError(path, "must be at most \(SchemaCheck.show(.number(max)))")) }
            if let min = s.exclusiveMinimum, n <= min { out.append(FieldError(path, "must be more than \(SchemaCheck.show(.number(min)))")) }
            if let max = s.exclusiveMaximum, n >= max { out.append(FieldError(path, "must be less than \(SchemaCheck.show(.number(max)))")) }
        }

        private func checkArray(_ items: [JSONValue], _ s: Node, path: String, into out: inout [FieldError], depth: Int) {
            if let min = s.minItems, items.count < min { out.append(FieldError(path, "must have at least \(min) item\(min == 1 ? "" : "s")")) }
            if let max = s.maxItems, items.count > max { out.append(FieldError(path, "has \(items.count) items: at most \(max) are allowed")) }
            if let itemSchema = s.items {
                for (i, item) in items.enumerated() { check(item, itemSchema, path: "\(path)[\(i)]", name: nil, into: &out, depth: depth + 1) }
            }
        }

        private func checkObject(_ members: [String: JSONValue], _ s: Node, path: String, into out: inout [FieldError], depth: Int) {
            for key in s.required where members[key] == nil {
                out.append(FieldError(SchemaCheck.join(path, key), "is required"))
            }
            for (key, needed) in s.dependentRequired where members[key] != nil {
                for other in needed where members[other] == nil {
                    out.append(FieldError(SchemaCheck.join(path, other), "is required with \(key)"))
                }
            }
            for key in members.keys.sorted() {
                let member = members[key]!
                if let rule = s.properties[key] {
                    check(member, rule, path: SchemaCheck.join(path, key), name: nil, into: &out, depth: depth + 1)
                } else {
                    switch s.additional {
                    case .forbidden: out.append(FieldError(SchemaCheck.join(path, key), "unknown field"))
                    case .schema(let extra): check(member, extra, path: SchemaCheck.join(path, key), name: nil, into: &out, depth: depth + 1)
                    case .allowed: break
                    }
                }
            }
        }
    }

    // MARK: - Words

    fileprivate static func has(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object), ("number", .number): true
        case ("integer", .number(let n)): n.isFinite && n.rounded() == n
        default: false
        }
    }

    fileprivate static func phrase(_ type: String) -> String {
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

    fileprivate static func show(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): s
        case .number(let n): n.rounded() == n && abs(n) < 1e15 ? String(Int(n)) : String(n)
        case .bool(let b): String(b)
        case .null: "null"
        default: String(decoding: value.jsonBytes, as: UTF8.self)
        }
    }

    fileprivate static func firstSentence(_ text: String) -> String {
        let line = text.split(separator: "\n").first.map(String.init) ?? text
        if let end = line.range(of: ". ") { return String(line[..<end.lowerBound]) }
        return line.hasSuffix(".") ? String(line.dropLast()) : line
    }

    fileprivate static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// A JSON pointer's target in `document`; a component is also found by its name as written.
    fileprivate static func lookup(_ pointer: String, in document: JSONValue) -> JSONValue? {
        let prefix = "#/components/schemas/"
        if pointer.hasPrefix(prefix), let component = document["components"]?["schemas"]?.objectValue?[String(pointer.dropFirst(prefix.count))] {
            return component
        }
        guard pointer.hasPrefix("#/") else { return nil }
        var node: JSONValue? = document
        for raw in pointer.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) {
            let key = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            node = node?[key] ?? node?.arrayValue.flatMap { a in Int(key).flatMap { $0 < a.count ? a[$0] : nil } }
        }
        return node
    }

    /// Every string held by `key` anywhere in `node` (the document's `pattern`s, its `$ref`s).
    private static func strings(under key: String, in node: JSONValue, into found: inout Set<String>) {
        switch node {
        case .object(let o):
            if let text = o[key]?.stringValue { found.insert(text) }
            for v in o.values { strings(under: key, in: v, into: &found) }
        case .array(let a):
            for v in a { strings(under: key, in: v, into: &found) }
        default: break
        }
    }

    /// A compiled `pattern` (immutable, so shared freely).
    fileprivate struct Pattern: @unchecked Sendable {
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

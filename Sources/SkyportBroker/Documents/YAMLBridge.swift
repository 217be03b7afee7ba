import Foundation
import SkyportCore
import Yams

/// Converts between YAML and `JSONValue`, so that YAML request bodies go through exactly the same decoding
/// and validation as JSON ones, and responses can be written as YAML.
public enum YAMLBridge {
    /// Limits that keep a hostile document (deep nesting, alias bombs) from costing more than its size suggests.
    static let maxNodes = 200_000
    static let maxDepth = 64

    public struct TooComplex: Error {}

    /// Parses a YAML document. Scalars keep their YAML 1.1 core types (null, bool, int, float, string);
    /// timestamps stay strings.
    public static func parse(_ text: String) throws -> JSONValue {
        guard let node = try Yams.compose(yaml: text) else { return .null }
        var budget = maxNodes
        return try convert(node, depth: 0, budget: &budget)
    }

    /// The line (from 1) of the YAML text where the field a validation error names is written (`endpoints[0].url`,
    /// `limits.cores`): its value, or, for a field the document lacks, the nearest enclosing one. Nil when the text is
    /// not YAML.
    public static func line(of field: String, in text: String) -> Int? {
        guard let root = try? Yams.compose(yaml: text) else { return nil }
        var node = root
        var line = root.mark?.line
        // `a.b[2].c` → a, b, 2, c.
        let steps = field.split(whereSeparator: { $0 == "." || $0 == "[" }).map { $0.hasSuffix("]") ? String($0.dropLast()) : String($0) }
        for step in steps {
            let next: Node?
            switch node {
            case .mapping(let mapping): next = mapping[step]
            case .sequence(let sequence):
                next = Int(step).flatMap { i in i >= 0 && i < sequence.count ? sequence[sequence.index(sequence.startIndex, offsetBy: i)] : nil }
            default: next = nil
            }
            guard let next else { break }
            node = next
            line = next.mark?.line ?? line
        }
        return line
    }

    private static func convert(_ node: Node, depth: Int, budget: inout Int) throws -> JSONValue {
        budget -= 1
        guard budget >= 0, depth <= maxDepth else { throw TooComplex() }
        switch node {
        case .scalar(let scalar):
            return scalarValue(scalar, node: node)
        case .sequence(let seq):
            return .array(try seq.map { try convert($0, depth: depth + 1, budget: &budget) })
        case .mapping(let map):
            var object: [String: JSONValue] = [:]
            for (key, value) in map {
                object[key.string ?? String(describing: key)] = try convert(value, depth: depth + 1, budget: &budget)
            }
            return .object(object)
        case .alias:
            throw TooComplex()
        }
    }

    private static func scalarValue(_ scalar: Node.Scalar, node: Node) -> JSONValue {
        // Quoted scalars are strings whatever they look like.
        if scalar.style == .singleQuoted || scalar.style == .doubleQuoted || scalar.style == .literal || scalar.style == .folded {
            return .string(scalar.string)
        }
        if node.null != nil { return .null }
        if let b = node.bool { return .bool(b) }
        if let i = integer(node) { return .number(Double(i)) }
        if let f = node.float, f.isFinite { return .number(f) }
        return .string(scalar.string)
    }

    /// Writes a value as a YAML document, keys sorted.
    public static func serialize(_ value: JSONValue) throws -> String {
        try Yams.serialize(node: node(value), sortKeys: false)
    }

    private static func node(_ value: JSONValue) -> Node {
        switch value {
        case .null: return Node("null", Tag(.null))
        case .bool(let b): return Node(b ? "true" : "false", Tag(.bool))
        case .number(let n):
            if n.rounded() == n, abs(n) < 9.0e15 { return Node(String(Int64(n)), Tag(.int)) }
            return Node(String(n), Tag(.float))
        case .string(let s):
            return Node(s, Tag(.str), needsQuotes(s) ? .doubleQuoted : .any)
        case .array(let a): return Node(a.map(node))
        case .object(let o): return Node(o.keys.sorted().map { (Node($0), node(o[$0]!)) })
        }
    }

    /// A string that YAML would read back as something else (a number, a bool, a date, null) is quoted.
    /// Judged as the plain scalar it would be written as: Yams reads `~`, `null`, `Null` and `NULL` as null only
    /// in plain style, so a node of unspecified style would let them through unquoted (found by FuzzYAML).
    private static func needsQuotes(_ s: String) -> Bool {
        if s.isEmpty { return true }
        let n = Node(s, Tag(.implicit), .plain)
        return n.bool != nil || integer(n) != nil || n.float != nil || n.null != nil || n.timestamp != nil
    }

    /// `node.int`, without its trap. Yams reads YAML 1.1 sexagesimal integers (`1:30` is 90) with unchecked
    /// arithmetic, so a plain scalar of twelve or more `:`-separated numbers (`1:2:3:4:5:6:7:8:9:10:11:12`), or of
    /// large ones, overflowed and crashed the process (found by FuzzYAML). Such scalars are read here the same way,
    /// with overflow checked: one that does not fit is not an integer (it is then read as a float or a string).
    static func integer(_ node: Node) -> Int? {
        guard let scalar = node.scalar else { return nil }
        guard scalar.string.contains(":") else { return node.int }
        guard scalar.style == .any || scalar.style == .plain else { return nil }
        var text = Substring(scalar.string.replacingOccurrences(of: "_", with: ""))
        let negative = text.first == "-"
        if text.first == "-" || text.first == "+" { text = text.dropFirst() }
        guard !text.hasPrefix("0") else { return nil }  // Yams reads these in base 2, 8 or 16, where ':' is no digit
        var value = 0
        for part in text.split(separator: ":", omittingEmptySubsequences: false) {
            guard let digit = Int(part, radix: 10) else { return nil }
            let (shifted, o1) = value.multipliedReportingOverflow(by: 60)
            let (sum, o2) = shifted.addingReportingOverflow(digit)
            guard !o1, !o2 else { return nil }
            value = sum
        }
        guard negative else { return value }
        let (negated, overflow) = 0.subtractingReportingOverflow(value)
        return overflow ? nil : negated
    }
}

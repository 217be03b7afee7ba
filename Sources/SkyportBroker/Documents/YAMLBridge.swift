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
        if let i = node.int { return .number(Double(i)) }
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
    private static func needsQuotes(_ s: String) -> Bool {
        if s.isEmpty { return true }
        let n = Node(s)
        return n.bool != nil || n.int != nil || n.float != nil || n.null != nil || n.timestamp != nil
    }
}

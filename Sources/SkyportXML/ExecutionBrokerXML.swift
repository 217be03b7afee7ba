import Foundation
import SkyportCore

/// The ExecutionBroker documents in the spec's XML media type. The spec (OpenAPI 3.1, `application/xml` beside JSON
/// and YAML) defines no XSD and no namespace, only OpenAPI `xml` hints, which this follows:
/// - roots `offers-request` (a request), `offers-response` (an offer set), `execution` (a session);
/// - a component's `kind` is an attribute;
/// - a list repeats its property's element (`<locations>a</locations><locations>b</locations>`), except `offers`,
///   which is wrapped (`<offers><execution kind="...">...</execution></offers>`);
/// - a name–value map (`environment`, `values`, `parameters`) holds one `<entry key="NAME">value</entry>` per name
///   (the spec gives maps no XML form; names need not be XML names).
/// Reading types values by the spec's schemas: the lists it defines are lists even with one item, `min`, `max`,
/// `port`, `datasize`, `calib_level` and `content_length` are numbers, `privileged` and `access` booleans.
public enum ExecutionBrokerXML {
    public static let mediaTypes = ["application/xml", "text/xml"]

    static let lists: Set<String> = [
        "locations", "command", "ports", "addresses", "volumes", "costs", "metrics", "replicas", "messages", "data", "offers",
        "connectors", "results", "notes", "rejected", "reasons", "steps", "runtimes", "environments", "images", "rses", "basket",
    ]
    static let maps: Set<String> = ["environment", "values", "parameters"]
    static let numbers: Set<String> = ["min", "max", "port", "datasize", "calib_level", "content_length", "size", "gpus", "passed", "tried", "total", "maxrec"]
    static let booleans: Set<String> = ["privileged", "access"]
    /// Elements that hold an object: empty, they are an empty object, not an empty text.
    static let objects: Set<String> = [
        "executable", "compute", "schedule", "requested", "meta", "image", "platform", "network", "internal", "external", "environment",
        "size", "cores", "memory", "gpus", "software", "rucio", "ivoa", "skao", "obscore", "datalink", "checksum", "values", "basket",
    ]

    // MARK: Writing

    /// The document as XML under `root`.
    public static func write(_ value: JSONValue, root: String) -> String {
        var out = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
        element(root, value, into: &out)
        out.append("\n")
        return out
    }

    private static func element(_ name: String, _ value: JSONValue, into out: inout String) {
        switch value {
        case .null:
            return
        case .array(let items):
            if name == "offers" {
                out.append("<offers>")
                for item in items { element("execution", item, into: &out) }
                out.append("</offers>")
            } else {
                for item in items { element(name, item, into: &out) }
            }
        case .object(let o) where maps.contains(name) && o.values.allSatisfy({ $0.objectValue == nil && $0.arrayValue == nil }):
            out.append("<\(name)>")
            for key in o.keys.sorted() {
                guard let text = scalar(o[key]!) else { continue }
                out.append("<entry key=\"\(XMLEscape.escape(key, attribute: true))\">\(XMLEscape.escape(text))</entry>")
            }
            out.append("</\(name)>")
        case .object(let o):
            out.append("<\(name)")
            if let kind = o["kind"]?.stringValue { out.append(" kind=\"\(XMLEscape.escape(kind, attribute: true))\"") }
            out.append(">")
            for key in o.keys.sorted() where !(key == "kind" && o[key]?.stringValue != nil) {
                element(elementName(key), o[key]!, into: &out)
            }
            out.append("</\(name)>")
        default:
            out.append("<\(name)>\(XMLEscape.escape(scalar(value) ?? ""))</\(name)>")
        }
    }

    private static func scalar(_ value: JSONValue) -> String? {
        switch value {
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n.rounded() == n && abs(n) < 9_007_199_254_740_992 ? String(Int64(n)) : "\(n)"
        default: return nil
        }
    }

    /// A key as an element name: keys are the spec's names (XML names already); anything else is made one.
    private static func elementName(_ key: String) -> String {
        let ok = !key.isEmpty && key.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)) }
            && !(key.first!.isNumber || key.first == "-" || key.first == ".")
        return ok ? key : "_" + key.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) && $0.isASCII ? String($0) : "_" }.joined()
    }

    // MARK: Reading

    /// A document read from XML as the JSON value the request parsers read (its root element's name is not checked:
    /// `offers-request` is the spec's). Throws `XMLReadError` for XML that is not well-formed (or declares entities).
    public static func read(_ data: Data, maxBytes: Int = XMLDoc.defaultMaxBytes) throws -> JSONValue {
        let doc = try XMLDoc(data: data, maxBytes: maxBytes)
        guard let root = doc.root else { throw XMLReadError("the XML document has no root element") }
        return value(of: root, parent: nil)
    }

    private static func value(of node: XMLNode, parent: String?) -> JSONValue {
        let name = node.name
        let children = node.children
        let kind = node.attribute("kind")
        if maps.contains(name), !children.isEmpty, children.allSatisfy({ $0.name == "entry" }) {
            return .object(Dictionary(children.compactMap { e in e.attribute("key").map { ($0, JSONValue.string(e.text)) } }, uniquingKeysWith: { a, _ in a }))
        }
        if children.isEmpty, kind == nil {
            let text = node.text.trimmingWhitespace()
            if text.isEmpty, objects.contains(name) { return .object([:]) }
            if numbers.contains(name), let n = Double(text), n.isFinite, text.allSatisfy({ $0.isNumber || "+-.eE".contains($0) }) { return .number(n) }
            if booleans.contains(name), text == "true" || text == "false" { return .bool(text == "true") }
            return .string(text)
        }
        var o: [String: JSONValue] = [:]
        if let kind { o["kind"] = .string(kind) }
        var order: [String] = []
        var grouped: [String: [XMLNode]] = [:]
        for child in children {
            if grouped[child.name] == nil { order.append(child.name) }
            grouped[child.name, default: []].append(child)
        }
        for key in order {
            let nodes = grouped[key]!
            if key == "offers", nodes.count == 1 {
                o[key] = .array(nodes[0].children.map { value(of: $0, parent: key) })
                continue
            }
            // A data resource's `storage` names one storage resource; everywhere else `storage` is a list.
            let isList = (lists.contains(key) || key == "storage" && name != "data") || nodes.count > 1
            o[key] = isList ? .array(nodes.map { value(of: $0, parent: name) }) : value(of: nodes[0], parent: name)
        }
        return .object(o)
    }
}

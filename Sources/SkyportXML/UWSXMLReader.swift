import Foundation
import SkyportCore

/// A document that is not a usable UWS job or job list; the message says what was found instead.
public struct UWSXMLError: Error, Equatable, CustomStringConvertible {
    /// What the document was, or what is wrong with it.
    public let message: String

    /// An error with the given message.
    public init(_ message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}

/// Reads UWS 1.0/1.1 `uws:job` and `uws:jobs` documents, whatever prefixes they use.
public enum UWSXML {
    /// The UWS namespace, shared by UWS 1.0 and 1.1.
    public static let namespace = "http://www.ivoa.net/xml/UWS/v1.0"
    /// The size cap for UWS documents: 8 MiB.
    public static let maxBytes = 8 << 20

    static let xlink = "http://www.w3.org/1999/xlink"
    static let xsi = "http://www.w3.org/2001/XMLSchema-instance"
    private static let jobOrder = ["jobId", "runId", "ownerId", "phase", "quote", "creationTime", "startTime", "endTime",
                                   "executionDuration", "destruction", "parameters", "results", "errorSummary", "jobInfo"]
    private static let jobRefOrder = ["phase", "runId", "ownerId", "creationTime"]

    /// Reads a `uws:job` document.
    public static func job(from data: Data) throws -> UWSJob {
        let root = try root(of: data, expecting: "job")
        let f = try fields(of: root, order: jobOrder, required: ["jobId", "phase"])
        guard let jobId = value(f["jobId"]), !jobId.isEmpty else { throw UWSXMLError("uws:jobId is empty") }
        var job = UWSJob(
            jobId: jobId, runId: value(f["runId"]), ownerId: value(f["ownerId"]), phase: phase(f["phase"]),
            quote: try date(f["quote"]), creationTime: try date(f["creationTime"]), startTime: try date(f["startTime"]),
            endTime: try date(f["endTime"]), executionDuration: try integer(f["executionDuration"]),
            destruction: try date(f["destruction"]))
        job.parameters = try (f["parameters"]?.children ?? []).filter { $0.isIn(namespace: namespace) }.map(parameter)
        job.results = try (f["results"]?.children ?? []).filter { $0.isIn(namespace: namespace) }.map(result)
        if let summary = f["errorSummary"] {
            let message = summary.children.first { $0.isIn(namespace: namespace) && $0.name == "message" }
            job.errorMessage = message?.text.trimmingWhitespace() ?? ""
            job.errorType = summary.attribute("type")
            job.hasErrorDetail = try boolean(summary.attribute("hasDetail"), "uws:errorSummary/@hasDetail", line: summary.line)
        }
        return job
    }

    /// Reads a `uws:jobs` job list.
    public static func jobList(from data: Data) throws -> [UWSJobRef] {
        let root = try root(of: data, expecting: "jobs")
        return try root.children.filter { $0.isIn(namespace: namespace) }.map { ref in
            guard ref.name == "jobref" else { throw UWSXMLError("unexpected \(ref.qualifiedName) in uws:jobs (line \(ref.line))") }
            guard let id = ref.attribute("id"), !id.isEmpty else { throw UWSXMLError("uws:jobref without id (line \(ref.line))") }
            let f = try fields(of: ref, order: jobRefOrder, required: ["phase"])
            return UWSJobRef(id: id, href: ref.attribute("href", namespaceURI: xlink), phase: phase(f["phase"]),
                             runId: value(f["runId"]), ownerId: value(f["ownerId"]), creationTime: try date(f["creationTime"]))
        }
    }

    /// Parses `data` and checks that its root is `uws:<name>`, saying what the document was otherwise.
    private static func root(of data: Data, expecting name: String) throws -> XMLNode {
        let doc: XMLDoc
        do {
            doc = try XMLDoc(data: data, maxBytes: maxBytes)
        } catch {
            let head = String(decoding: data.prefix(512), as: UTF8.self).lowercased()
            if head.contains("<html") || head.contains("<!doctype html") {
                throw UWSXMLError("expected a uws:\(name) document, got an HTML page that is not well-formed XML")
            }
            throw UWSXMLError("expected a uws:\(name) document, but it could not be read as XML: \(error)")
        }
        guard let root = doc.root else { throw UWSXMLError("expected a uws:\(name) document, got no root element") }
        guard root.namespaceURI == namespace, root.name == name else {
            let ns = root.namespaceURI.map { " in namespace \($0)" } ?? ""
            throw UWSXMLError("expected a uws:\(name) document, got <\(root.qualifiedName)>\(ns)")
        }
        return root
    }

    /// The UWS children of `node` by local name, checked against the schema order and for required elements.
    private static func fields(of node: XMLNode, order: [String], required: [String]) throws -> [String: XMLNode] {
        var found: [String: XMLNode] = [:]
        var last = -1
        for child in node.children where child.isIn(namespace: namespace) {
            guard let index = order.firstIndex(of: child.name) else {
                throw UWSXMLError("unexpected uws:\(child.name) in uws:\(node.name) (line \(child.line))")
            }
            guard index > last else {
                throw UWSXMLError("uws:\(child.name) is repeated or out of order in uws:\(node.name) (line \(child.line)); "
                                  + "the order is \(order.joined(separator: ", "))")
            }
            last = index
            found[child.name] = child
        }
        if let missing = required.first(where: { found[$0] == nil }) {
            throw UWSXMLError("uws:\(node.name) has no uws:\(missing) (line \(node.line))")
        }
        return found
    }

    /// The trimmed text of an element; nil when absent, `xsi:nil="true"` or empty.
    private static func value(_ node: XMLNode?) -> String? {
        guard let node else { return nil }
        if let isNil = node.attribute("nil", namespaceURI: xsi)?.trimmed, isNil == "true" || isNil == "1" { return nil }
        let text = node.text.trimmed
        return text.isEmpty ? nil : text
    }

    private static func phase(_ node: XMLNode?) -> UWSPhase {
        value(node).flatMap { UWSPhase(rawValue: $0.uppercased()) } ?? .unknown
    }

    private static func date(_ node: XMLNode?) throws -> Date? {
        guard let node, let text = value(node) else { return nil }
        // xs:dateTime allows a missing zone; UWS servers mean UTC.
        if let date = Timestamp.parse(text) ?? Timestamp.parse(text + "Z") { return date }
        throw UWSXMLError("uws:\(node.name) '\(text.prefix(40))' is not an ISO 8601 timestamp (line \(node.line))")
    }

    private static func integer(_ node: XMLNode?) throws -> Int? {
        guard let node, let text = value(node) else { return nil }
        guard let number = Int(text) else {
            throw UWSXMLError("uws:\(node.name) '\(text.prefix(40))' is not an integer (line \(node.line))")
        }
        return number
    }

    private static func boolean(_ text: String?, _ what: String, line: Int) throws -> Bool {
        switch text?.trimmed {
        case nil, "false", "0": return false
        case "true", "1": return true
        case let other?: throw UWSXMLError("\(what) '\(other.prefix(40))' is not a boolean (line \(line))")
        }
    }

    private static func parameter(_ node: XMLNode) throws -> UWSParameter {
        guard node.name == "parameter", let id = node.attribute("id") else {
            throw UWSXMLError("expected uws:parameter with an id, got \(node.qualifiedName) (line \(node.line))")
        }
        let byReference = try boolean(node.attribute("byReference"), "uws:parameter/@byReference", line: node.line)
        // A by-reference value is a URL, so surrounding whitespace is layout; a literal value is kept as written.
        return UWSParameter(id: id, value: byReference ? node.text.trimmed : node.text, byReference: byReference)
    }

    private static func result(_ node: XMLNode) throws -> UWSResult {
        guard node.name == "result", let id = node.attribute("id") else {
            throw UWSXMLError("expected uws:result with an id, got \(node.qualifiedName) (line \(node.line))")
        }
        guard let href = node.attribute("href", namespaceURI: xlink)?.trimmed, !href.isEmpty else {
            throw UWSXMLError("uws:result '\(id.prefix(40))' has no xlink:href (line \(node.line))")
        }
        var size: Int64?
        if let text = node.attribute("size")?.trimmed {
            guard let bytes = Int64(text) else {
                throw UWSXMLError("uws:result/@size '\(text.prefix(40))' is not an integer (line \(node.line))")
            }
            size = bytes
        }
        return UWSResult(id: id, href: href, mimeType: node.attribute("mime-type"), size: size)
    }
}

extension String {
    /// Without leading and trailing white space: the scalars Foundation's `.whitespacesAndNewlines` holds here (the
    /// Unicode White_Space ones and U+200B), without its detour through NSString (10% of the broker's CPU when it read
    /// a job list of 10,000 entries four times a second). Text with none to trim is returned as it is.
    var trimmed: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.isTrimmedSpace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.isTrimmedSpace })!
        if first == scalars.startIndex && last == scalars.index(before: scalars.endIndex) { return self }
        return String(scalars[first...last])
    }
}

extension Unicode.Scalar {
    /// One of the scalars `String.trimmed` removes.
    var isTrimmedSpace: Bool {
        switch value {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200B, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: true
        default: false
        }
    }
}

import CLibXML2
import Foundation
import SkyportCore

/// A document that could not be read as XML, or an XPath query that failed, with libxml2's message and line.
public struct XMLReadError: Error, Equatable, CustomStringConvertible {
    /// What went wrong, in libxml2's words when it said something.
    public let message: String
    /// 1-based line in the document, when libxml2 reported one.
    public let line: Int?

    /// An error with a message and an optional line number.
    public init(_ message: String, line: Int? = nil) {
        self.message = message
        self.line = line
    }

    /// The message, followed by the line when known.
    public var description: String { line.map { "\(message) (line \($0))" } ?? message }
}

/// A parsed XML document owning its libxml2 tree; network access, DTD loading and entity substitution are off.
///
/// Not `Sendable`: a libxml2 tree must be used by one task at a time, so keep each `XMLDoc` inside the task that parsed it.
public final class XMLDoc {
    /// The size cap used when none is given: 16 MiB.
    public static let defaultMaxBytes = 16 << 20

    private static let parserReady: Void = { xmlInitParser() }()
    private static let options = Int32(bitPattern: XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue)

    let doc: xmlDocPtr

    /// Parses `data`, refusing documents over `maxBytes`, malformed or not namespace-well-formed XML, and any DTD that declares entities.
    public init(data: Data, maxBytes: Int = XMLDoc.defaultMaxBytes) throws {
        _ = Self.parserReady
        guard data.count <= min(maxBytes, Int(Int32.max)) else {
            throw XMLReadError("document of \(data.count) bytes exceeds the \(maxBytes)-byte limit")
        }
        guard !data.isEmpty else { throw XMLReadError("empty document") }
        guard let ctxt = xmlNewParserCtxt() else { throw XMLReadError("libxml2 could not allocate a parser") }
        defer { xmlFreeParserCtxt(ctxt) }
        // Keep the first error (later ones are usually knock-on effects); a structured handler also keeps stderr quiet.
        let first = FirstError()
        ctxt.pointee._private = Unmanaged.passUnretained(first).toOpaque()
        ctxt.pointee.sax?.pointee.serror = { ctx, err in
            guard let err, err.pointee.level.rawValue >= XML_ERR_ERROR.rawValue,
                  let box = ctx?.assumingMemoryBound(to: xmlParserCtxt.self).pointee._private else { return }
            let first = Unmanaged<FirstError>.fromOpaque(box).takeUnretainedValue()
            if first.error == nil { first.error = XMLDoc.error(err, fallback: "malformed XML") }
        }
        // Stop at the first entity declaration, before any entity is expanded (billion laughs, external entities).
        ctxt.pointee.sax?.pointee.entityDecl = { ctx, _, _, _, _, _ in xmlStopParser(ctx?.assumingMemoryBound(to: xmlParserCtxt.self)) }
        let parsed = withExtendedLifetime(first) {
            data.withUnsafeBytes { raw in
                xmlCtxtReadMemory(ctxt, raw.bindMemory(to: CChar.self).baseAddress, Int32(raw.count), nil, nil, Self.options)
            }
        }
        let refused = XMLReadError("documents whose DOCTYPE declares entities are refused")
        guard ctxt.pointee.errNo != Int32(XML_ERR_USER_STOP.rawValue) else {
            if let parsed { xmlFreeDoc(parsed) }
            throw refused
        }
        guard let parsed, ctxt.pointee.wellFormed != 0, ctxt.pointee.nsWellFormed != 0 else {
            if let parsed { xmlFreeDoc(parsed) }
            throw first.error ?? Self.error(xmlCtxtGetLastError(ctxt), fallback: "malformed XML")
        }
        if let subset = parsed.pointee.intSubset, Self.declaresEntities(subset) {
            xmlFreeDoc(parsed)
            throw refused
        }
        doc = parsed
    }

    deinit { xmlFreeDoc(doc) }

    /// The root element, if the document has one.
    public var root: XMLNode? { xmlDocGetRootElement(doc).map { XMLNode(owner: self, ptr: $0) } }

    /// The nodes selected by `xpath` (namespace nodes left out), with `namespaces` (prefix → URI) registered for this query, from `node` or the document.
    public func nodes(_ xpath: String, namespaces: [String: String] = [:], from node: XMLNode? = nil) throws -> [XMLNode] {
        try evaluate(xpath, namespaces: namespaces, from: node) { obj in
            guard obj.pointee.type == XPATH_NODESET, let set = obj.pointee.nodesetval, let tab = set.pointee.nodeTab else { return [] }
            // Namespace nodes are xmlNs structs in disguise (only `type` is shared), so they are not wrapped.
            return (0..<Int(set.pointee.nodeNr)).compactMap { i in
                tab[i].flatMap { $0.pointee.type == XML_NAMESPACE_DECL ? nil : XMLNode(owner: self, ptr: $0) }
            }
        }
    }

    /// The string values of what `xpath` selects: each node's text content, or the single value of a string, number or boolean expression.
    public func strings(_ xpath: String, namespaces: [String: String] = [:], from node: XMLNode? = nil) throws -> [String] {
        try evaluate(xpath, namespaces: namespaces, from: node) { obj in
            if obj.pointee.type == XPATH_NODESET {
                guard let set = obj.pointee.nodesetval, let tab = set.pointee.nodeTab else { return [] }
                return (0..<Int(set.pointee.nodeNr)).compactMap { tab[$0].map { takeString(xmlNodeGetContent($0)) ?? "" } }
            }
            return [takeString(xmlXPathCastToString(obj)) ?? ""]
        }
    }

    private func evaluate<T>(_ xpath: String, namespaces: [String: String], from node: XMLNode?, _ read: (xmlXPathObjectPtr) -> T) throws -> T {
        guard node.map({ $0.owner === self }) ?? true else { throw XMLReadError("XPath context node belongs to another document") }
        guard let ctx = xmlXPathNewContext(doc) else { throw XMLReadError("libxml2 could not allocate an XPath context") }
        defer { xmlXPathFreeContext(ctx) }
        ctx.pointee.error = { _, _ in }   // keep XPath errors off stderr; they are read from ctx.lastError
        if let node { ctx.pointee.node = node.ptr }
        for (prefix, uri) in namespaces {
            guard withXMLChars(prefix, { p in withXMLChars(uri) { u in xmlXPathRegisterNs(ctx, p, u) } }) == 0 else {
                throw XMLReadError("cannot register XPath namespace prefix '\(prefix)'")
            }
        }
        guard let obj = withXMLChars(xpath, { xmlXPathEvalExpression($0, ctx) }) else {
            throw Self.error(&ctx.pointee.lastError, fallback: "invalid XPath expression", prefix: "XPath \(xpath): ")
        }
        defer { xmlXPathFreeObject(obj) }
        return read(obj)
    }

    private static func declaresEntities(_ dtd: xmlDtdPtr) -> Bool {
        var child = dtd.pointee.children
        while let node = child {
            if node.pointee.type == XML_ENTITY_DECL { return true }
            child = node.pointee.next
        }
        return false
    }

    private static func error(_ err: UnsafePointer<xmlError>?, fallback: String, prefix: String = "") -> XMLReadError {
        guard let err, let cmsg = err.pointee.message else { return XMLReadError(prefix + fallback) }
        let message = String(cString: cmsg).trimmingWhitespace()
        return XMLReadError(prefix + (message.isEmpty ? fallback : message), line: err.pointee.line > 0 ? Int(err.pointee.line) : nil)
    }
}

/// Collects the first parser error (the parser context points at it while parsing).
private final class FirstError {
    var error: XMLReadError?
}

/// An element (or other node) of an `XMLDoc`; it keeps its document alive.
public struct XMLNode {
    let owner: XMLDoc
    let ptr: xmlNodePtr

    /// The local name, without prefix.
    public var name: String { ptr.pointee.name.map { String(cString: $0) } ?? "" }

    /// The namespace URI, or nil when the node is in no namespace.
    public var namespaceURI: String? { ptr.pointee.ns?.pointee.href.map { String(cString: $0) } }

    /// Whether the node is in the namespace `uri` (compared in place: no string is made per node, which counts when a
    /// job list of 10,000 entries is read four times a second).
    public func isIn(namespace uri: String) -> Bool {
        guard let href = ptr.pointee.ns?.pointee.href else { return false }
        return uri.withCString { strcmp(UnsafeRawPointer(href).assumingMemoryBound(to: CChar.self), $0) == 0 }
    }

    /// The name as written, `prefix:local` when the node has a prefix.
    public var qualifiedName: String {
        guard let prefix = ptr.pointee.ns?.pointee.prefix else { return name }
        return "\(String(cString: prefix)):\(name)"
    }

    /// The line the node starts on.
    public var line: Int { Int(xmlGetLineNo(ptr)) }

    /// The concatenated text of the node and its descendants.
    public var text: String { takeString(xmlNodeGetContent(ptr)) ?? "" }

    /// The element children, in document order.
    public var children: [XMLNode] {
        var result: [XMLNode] = []
        var child = ptr.pointee.children
        while let node = child {
            if node.pointee.type == XML_ELEMENT_NODE { result.append(XMLNode(owner: owner, ptr: node)) }
            child = node.pointee.next
        }
        return result
    }

    /// The value of the attribute `name` in namespace `namespaceURI` (nil: an unprefixed attribute), or nil if absent.
    /// The namespace URI a prefix (nil: the default namespace) is bound to on this node, if any.
    public func namespace(forPrefix prefix: String?) -> String? {
        guard let prefix else { return xmlSearchNs(owner.doc, ptr, nil).flatMap { $0.pointee.href.map { String(cString: $0) } } }
        return withXMLChars(prefix) { p in xmlSearchNs(owner.doc, ptr, p).flatMap { $0.pointee.href.map { String(cString: $0) } } }
    }

    public func attribute(_ name: String, namespaceURI: String? = nil) -> String? {
        withXMLChars(name) { n in
            guard let ns = namespaceURI else { return takeString(xmlGetNoNsProp(ptr, n)) }
            return withXMLChars(ns) { takeString(xmlGetNsProp(ptr, n, $0)) }
        }
    }
}

/// Converts a libxml2-allocated string to Swift and frees it.
private func takeString(_ chars: UnsafeMutablePointer<xmlChar>?) -> String? {
    guard let chars else { return nil }
    defer { skyport_xml_free(chars) }
    return String(cString: chars)
}

/// Calls `body` with `text` as a NUL-terminated `xmlChar` string.
private func withXMLChars<R>(_ text: String, _ body: (UnsafePointer<xmlChar>) throws -> R) rethrows -> R {
    try text.withCString { try $0.withMemoryRebound(to: xmlChar.self, capacity: text.utf8.count + 1, body) }
}

import Foundation
import SkyportCore
import SkyportXML

/// A registry answer Skyport could not use: unreadable, not the document asked for, an OAI-PMH error, or a harvest cut short.
public struct RegistryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: String, Sendable, Hashable {
        /// Not well-formed XML, or refused by the XML reader (entities, size).
        case malformed
        /// Well-formed, or an HTML page, but not the document expected (OAI-PMH, VOResource, VOSI capabilities).
        case unexpectedDocument = "unexpected-document"
        /// The registry answered with an OAI-PMH `<error code="...">`.
        case oaiError = "oai-error"
        /// The harvest stopped at the page or record cap, or the registry repeated a resumption token.
        case limitExceeded = "limit-exceeded"
    }

    public var kind: Kind
    public var message: String
    /// The OAI-PMH error code (`badResumptionToken`, `badArgument`...), for `oaiError`.
    public var oaiCode: String?

    public init(_ kind: Kind, _ message: String, oaiCode: String? = nil) {
        self.kind = kind
        self.message = message
        self.oaiCode = oaiCode
    }

    public var description: String { oaiCode.map { "OAI-PMH error \($0): \(message)" } ?? "\(kind.rawValue): \(message)" }
}

/// One page of an OAI-PMH `ListRecords` (or a `GetRecord` answer).
public struct OAIPage: Sendable, Hashable {
    public var records: [OAIRecord]
    /// The token for the next page; nil or empty on the last page.
    public var resumptionToken: String?
    public var completeListSize: Int?
    public var cursor: Int?

    public init(records: [OAIRecord], resumptionToken: String? = nil, completeListSize: Int? = nil, cursor: Int? = nil) {
        self.records = records
        self.resumptionToken = resumptionToken
        self.completeListSize = completeListSize
        self.cursor = cursor
    }
}

/// What an OAI-PMH `Identify` says that a harvester needs.
public struct OAIIdentify: Sendable, Hashable {
    public var repositoryName: String
    /// `YYYY-MM-DD` or `YYYY-MM-DDThh:mm:ssZ`.
    public var granularity: String
    public var earliestDatestamp: Date?

    /// Whether `from=` may carry a time (otherwise only a day).
    public var supportsSeconds: Bool { granularity.contains("hh") }
}

/// A document read from a registry: an OAI-PMH page, a standalone VOResource record, or a VOSI capabilities list.
public enum RegistryDocument: Sendable, Hashable {
    case oaiPage(OAIPage)
    case resource(RegistryResource)
    case capabilities([RegistryCapability])
}

/// Reads OAI-PMH pages with `metadataPrefix=ivo_vor`, VOResource records and VOSI capabilities with libxml2.
/// `xsi:type` values are resolved through the namespace declarations in scope, so any prefix works.
public enum VOResourceXML {
    public static let oaiNamespace = "http://www.openarchives.org/OAI/2.0/"
    public static let xsiNamespace = "http://www.w3.org/2001/XMLSchema-instance"
    public static let vosiCapabilitiesFamily = "http://www.ivoa.net/xml/vosicapabilities"

    /// Reads any of the three registry documents, by its root element.
    public static func document(_ data: Data) throws -> RegistryDocument {
        let doc = try read(data)
        guard let root = doc.root else { throw RegistryError(.unexpectedDocument, "document has no root element") }
        if root.name == "OAI-PMH", root.namespaceURI == oaiNamespace { return .oaiPage(try page(root)) }
        if root.name.lowercased() == "resource" { return .resource(try resource(root, fallbackID: nil)) }
        if isCapabilities(root) { return .capabilities(root.children.filter { $0.name == "capability" }.map(capability)) }
        throw unexpected(root, expected: "an OAI-PMH answer, a VOResource record or a VOSI capabilities document")
    }

    /// Reads an OAI-PMH `ListRecords` or `GetRecord` answer; `noRecordsMatch` is an empty page, any other OAI error throws.
    public static func oaiPage(_ data: Data) throws -> OAIPage {
        let doc = try read(data)
        guard let root = doc.root, root.name == "OAI-PMH", root.namespaceURI == oaiNamespace else {
            throw unexpected(doc.root, expected: "an OAI-PMH answer")
        }
        return try page(root)
    }

    /// Reads an OAI-PMH `Identify` answer.
    public static func identify(_ data: Data) throws -> OAIIdentify {
        let doc = try read(data)
        guard let root = doc.root, root.name == "OAI-PMH", root.namespaceURI == oaiNamespace else {
            throw unexpected(doc.root, expected: "an OAI-PMH Identify answer")
        }
        try throwOAIError(root)
        guard let identify = oai(root, "Identify").first else { throw RegistryError(.unexpectedDocument, "OAI-PMH answer without Identify") }
        return OAIIdentify(
            repositoryName: text(oai(identify, "repositoryName").first) ?? "",
            granularity: text(oai(identify, "granularity").first) ?? "YYYY-MM-DD",
            earliestDatestamp: text(oai(identify, "earliestDatestamp").first).flatMap(RegistryDate.parse))
    }

    /// Reads a VOSI capabilities document (`{base}/capabilities`).
    public static func capabilities(_ data: Data) throws -> [RegistryCapability] {
        let doc = try read(data)
        guard let root = doc.root, isCapabilities(root) else { throw unexpected(doc.root, expected: "a VOSI capabilities document") }
        return root.children.filter { $0.name == "capability" }.map(capability)
    }

    // MARK: - Reading

    static func read(_ data: Data) throws -> XMLDoc {
        do { return try XMLDoc(data: data) } catch let error as XMLReadError {
            let head = String(decoding: data.prefix(512), as: UTF8.self).lowercased()
            if head.contains("<html") || head.contains("<!doctype html") {
                throw RegistryError(.unexpectedDocument, "expected XML from the registry, got an HTML page: \(snippet(data))")
            }
            throw RegistryError(.malformed, "not readable XML: \(error)")
        }
    }

    static func isCapabilities(_ root: XMLNode) -> Bool {
        root.name == "capabilities" && QualifiedName(namespace: root.namespaceURI, local: root.name).namespaceFamily == vosiCapabilitiesFamily
    }

    static func unexpected(_ root: XMLNode?, expected: String) -> RegistryError {
        guard let root else { return RegistryError(.unexpectedDocument, "empty document; expected \(expected)") }
        if root.name.lowercased() == "html" { return RegistryError(.unexpectedDocument, "expected \(expected), got an HTML page") }
        let name = QualifiedName(namespace: root.namespaceURI, local: root.name)
        return RegistryError(.unexpectedDocument, "expected \(expected), got a <\(name)> document")
    }

    static func page(_ root: XMLNode) throws -> OAIPage {
        if let error = oai(root, "error").first, error.attribute("code") == "noRecordsMatch" { return OAIPage(records: []) }
        try throwOAIError(root)
        guard let list = oai(root, "ListRecords").first ?? oai(root, "GetRecord").first else {
            throw RegistryError(.unexpectedDocument, "OAI-PMH answer without ListRecords or GetRecord")
        }
        var page = OAIPage(records: oai(list, "record").map(record))
        if let token = oai(list, "resumptionToken").first {
            let value = token.text.trimmingWhitespace()
            page.resumptionToken = value.isEmpty ? nil : value
            page.completeListSize = token.attribute("completeListSize").flatMap { Int($0) }
            page.cursor = token.attribute("cursor").flatMap { Int($0) }
        }
        return page
    }

    static func throwOAIError(_ root: XMLNode) throws {
        guard let error = oai(root, "error").first else { return }
        let code = error.attribute("code") ?? "unknown"
        let message = error.text.trimmingWhitespace()
        throw RegistryError(.oaiError, message.isEmpty ? "the registry reported \(code)" : message, oaiCode: code)
    }

    static func record(_ node: XMLNode) -> OAIRecord {
        let headerNode = oai(node, "header").first
        let identifier = text(headerNode.flatMap { oai($0, "identifier").first }) ?? ""
        let header = OAIRecordHeader(
            identifier: identifier,
            datestamp: text(headerNode.flatMap { oai($0, "datestamp").first }).flatMap(RegistryDate.parse),
            isDeleted: headerNode?.attribute("status") == "deleted",
            setSpecs: headerNode.map { oai($0, "setSpec").compactMap(text) } ?? [])
        guard let metadata = oai(node, "metadata").first, let root = metadata.children.first else {
            return OAIRecord(header: header, resource: nil, problem: header.isDeleted ? nil : "record has no metadata")
        }
        do {
            return OAIRecord(header: header, resource: try resource(root, fallbackID: identifier.isEmpty ? nil : identifier))
        } catch {
            return OAIRecord(header: header, resource: nil, problem: "\(error)")
        }
    }

    static func resource(_ node: XMLNode, fallbackID: String?) throws -> RegistryResource {
        guard node.name.lowercased() == "resource" else {
            throw RegistryError(.unexpectedDocument, "metadata holds <\(node.qualifiedName)>, not a VOResource record (was metadataPrefix ivo_vor?)")
        }
        guard let id = text(child(node, "identifier")) ?? fallbackID else {
            throw RegistryError(.unexpectedDocument, "VOResource record without an identifier")
        }
        let content = child(node, "content")
        return RegistryResource(
            ivoid: FacilityID(id), resourceType: xsiType(node), title: text(child(node, "title")) ?? "",
            description: text(content.flatMap { child($0, "description") }) ?? "",
            status: node.attribute("status").flatMap { RegistryResourceStatus(rawValue: $0.lowercased()) } ?? .active,
            created: node.attribute("created").flatMap(RegistryDate.parse),
            updated: node.attribute("updated").flatMap(RegistryDate.parse),
            capabilities: node.children.filter { $0.name == "capability" }.map(capability))
    }

    static func capability(_ node: XMLNode) -> RegistryCapability {
        RegistryCapability(
            standardID: node.attribute("standardID").map { $0.trimmingWhitespace() },
            type: xsiType(node), description: text(child(node, "description")),
            interfaces: node.children.filter { $0.name == "interface" }.map(interface),
            executionDuration: child(node, "executionDuration").map(limit),
            outputLimit: child(node, "outputLimit").map(limit),
            retentionPeriod: child(node, "retentionPeriod").map(limit))
    }

    static func interface(_ node: XMLNode) -> RegistryInterface {
        RegistryInterface(
            type: xsiType(node), role: node.attribute("role"), version: node.attribute("version"),
            accessURLs: node.children.filter { $0.name == "accessURL" }.compactMap { url in
                text(url).map { AccessURL(url: $0, use: url.attribute("use").flatMap { AccessURLUse(rawValue: $0.lowercased()) }) }
            },
            securityMethods: node.children.filter { $0.name == "securityMethod" }.map { $0.attribute("standardID") ?? "" })
    }

    static func limit(_ node: XMLNode) -> RegistryLimit {
        let def = child(node, "default")
        let hard = child(node, "hard")
        return RegistryLimit(
            defaultValue: text(def).flatMap { Int($0) }, hard: text(hard).flatMap { Int($0) },
            unit: hard?.attribute("unit") ?? def?.attribute("unit"))
    }

    // MARK: - Helpers

    /// Children in the OAI-PMH namespace with a local name.
    static func oai(_ node: XMLNode, _ name: String) -> [XMLNode] {
        node.children.filter { $0.name == name && $0.namespaceURI == oaiNamespace }
    }

    /// The first child with a local name: VOResource children are unqualified, but some registries qualify them.
    static func child(_ node: XMLNode, _ name: String) -> XMLNode? {
        node.children.first { $0.name == name }
    }

    /// Trimmed text content; nil when empty.
    static func text(_ node: XMLNode?) -> String? {
        guard let t = node?.text.trimmingWhitespace(), !t.isEmpty else { return nil }
        return t
    }

    /// The node's `xsi:type`, resolved by the namespace its prefix is bound to where it appears.
    static func xsiType(_ node: XMLNode) -> QualifiedName? {
        guard let raw = node.attribute("type", namespaceURI: xsiNamespace)?.trimmingWhitespace(), !raw.isEmpty else {
            return nil
        }
        return node.resolve(qname: raw)
    }

    /// What a body was, without quoting it: a registry's (or an internal host's) answer is not echoed to whoever
    /// reads the harvest result.
    static func snippet(_ data: Data) -> String {
        "\(data.count) bytes, not shown"
    }
}

extension XMLNode {
    /// Resolves a QName value (`vs:ParamHTTP`) through the namespace declarations in scope on this node;
    /// an unknown prefix keeps the local name with no namespace.
    func resolve(qname: String) -> QualifiedName {
        let parts = qname.split(separator: ":", maxSplits: 1)
        let prefix = parts.count == 2 ? String(parts[0]) : nil
        let local = String(parts.last ?? Substring(qname))
        let ns = namespace(forPrefix: prefix)
        return QualifiedName(namespace: ns?.isEmpty == true ? nil : ns, local: local)
    }
}

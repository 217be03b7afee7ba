import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SkyportBroker
import SkyportCore
import SkyportXML

/// How documents cross the HTTP edge: request bodies in JSON, YAML or (the ExecutionBroker's) XML (by
/// `Content-Type`), responses in JSON or YAML (by `Accept`), and the ExecutionBroker's offer sets and sessions in XML
/// too; decoding errors turned into field-named 4xx answers.
public enum Representation {
    public enum Format: Sendable { case json, yaml, xml }

    static let yamlTypes = ["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"]

    /// The format of a request body, from its `Content-Type`; 415 for anything else (XML only where `xml` allows it:
    /// the ExecutionBroker's requests).
    static func bodyFormat(_ request: Request, xml: Bool = false) throws -> Format {
        guard let raw = request.headers[.contentType] else { return .json }
        let type = raw.split(separator: ";").first.map { $0.trimmingSpaces().lowercased() } ?? ""
        if type == "application/json" || type.hasSuffix("+json") || type == "text/json" { return .json }
        if yamlTypes.contains(type) { return .yaml }
        if xml, ExecutionBrokerXML.mediaTypes.contains(type) || type.hasSuffix("+xml") { return .xml }
        throw APIError(
            .unsupportedMediaType, code: "unsupported-media-type",
            "Content-Type '\(raw)' is not supported: send application/json or application/yaml\(xml ? " (or application/xml)" : "")")
    }

    /// The format the client asked for in `Accept`: YAML when it names a YAML type before any JSON type.
    public static func responseFormat(_ request: Request) -> Format {
        guard let accept = request.headers[.accept]?.lowercased() else { return .json }
        for part in accept.split(separator: ",") {
            let type = part.split(separator: ";").first.map { $0.trimmingSpaces() } ?? ""
            if yamlTypes.contains(type) { return .yaml }
            if ExecutionBrokerXML.mediaTypes.contains(type) { return .xml }
            if type == "application/json" || type == "*/*" || type == "application/*" { return .json }
        }
        return .json
    }

    /// Reads the whole body (up to `limit` bytes, else 413) and parses it as a JSON or YAML document.
    static func readDocument(_ request: Request, limit: Int) async throws -> JSONValue {
        try await readDocumentAndBytes(request, limit: limit).document
    }

    /// The parsed document and the body's bytes as they came.
    static func readDocumentAndBytes(_ request: Request, limit: Int, xml: Bool = false) async throws -> (document: JSONValue, bytes: Data) {
        let format = try bodyFormat(request, xml: xml)
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "body-too-large", "the request body is larger than \(limit) bytes")
        }
        if buffer.readableBytes == 0 { throw APIError.badRequest("the request body is empty", field: "body") }
        let bytes = Data(buffer: buffer)
        switch format {
        case .json:
            do { return (try JSONValue.parse(bytes), bytes) }
            catch { throw APIError.badRequest("malformed JSON: \(describe(error))", field: "body") }
        case .yaml:
            guard let text = String(data: bytes, encoding: .utf8) else {
                throw APIError.badRequest("the YAML body is not UTF-8", field: "body")
            }
            do { return (try YAMLBridge.parse(text), bytes) }
            catch is YAMLBridge.TooComplex {
                throw APIError.badRequest("the YAML document is too deeply nested or uses aliases", field: "body")
            } catch {
                throw APIError.badRequest("malformed YAML: \(String(describing: error).prefix(300))", field: "body")
            }
        case .xml:
            do { return (try ExecutionBrokerXML.read(bytes, maxBytes: limit), bytes) }
            catch { throw APIError.badRequest("malformed XML: \(String(describing: error).prefix(300))", field: "body") }
        }
    }

    static func describe(_ error: any Error) -> String { Documents.describe(error) }

    private static let encoder = CanonicalJSON.encoder()

    /// A response holding an already-encoded canonical JSON document (re-encoded as YAML if the client asked).
    public static func response(json: String, status: HTTPResponse.Status = .ok, for request: Request) throws -> Response {
        switch responseFormat(request) {
        case .json, .xml:
            return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
        case .yaml:
            let yaml = try YAMLBridge.serialize(try JSONValue.parse(json))
            return Response(status: status, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: yaml)))
        }
    }

    /// A response holding a document that writes its own JSON (no `JSONEncoder`), in the format the request asked for;
    /// in XML (under `xmlRoot`) only for the documents that have an XML form.
    static func response(
        writing value: some JSONWritable, status: HTTPResponse.Status = .ok, for request: Request, headers: HTTPFields = [:],
        xmlRoot: String? = nil
    ) throws -> Response {
        var fields = headers
        switch responseFormat(request) {
        case .xml where xmlRoot != nil:
            fields[.contentType] = "application/xml"
            let xml = ExecutionBrokerXML.write(try JSONValue.parse(Data(value.jsonBytes)), root: xmlRoot!)
            return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: xml)))
        case .json, .xml:
            fields[.contentType] = "application/json"
            return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: value.jsonBytes)))
        case .yaml:
            let yaml = try YAMLBridge.serialize(try JSONValue.parse(Data(value.jsonBytes)))
            fields[.contentType] = "application/yaml"
            return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: yaml)))
        }
    }

    /// A response holding `value` in the format the request asked for.
    public static func response<T: Encodable>(
        _ value: T, status: HTTPResponse.Status = .ok, for request: Request, headers: HTTPFields = [:]
    ) throws -> Response {
        let json = try encoder.encode(value)
        var fields = headers
        switch responseFormat(request) {
        case .json, .xml:
            fields[.contentType] = "application/json"
            return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: json)))
        case .yaml:
            let yaml = try YAMLBridge.serialize(try JSONValue.parse(json))
            fields[.contentType] = "application/yaml"
            return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: yaml)))
        }
    }
}

import Foundation
import Hummingbird
import MultipartKit
import NIOCore
import SkyportCore

/// A submitted HTML form: `application/x-www-form-urlencoded` or `multipart/form-data` (a form with a file), its
/// fields by name and its uploaded files.
struct WebForm: Sendable {
    var fields: [String: [String]] = [:]
    /// Uploaded files by field name: their bytes (an empty file input sends none).
    var files: [String: Data] = [:]

    /// The first value of a field, trimmed; nil when absent or blank.
    subscript(_ name: String) -> String? {
        guard let value = fields[name]?.first?.trimmingWhitespace(), !value.isEmpty else { return nil }
        return value
    }

    /// Reads the body of a form post (at most `limit` bytes: 413 beyond).
    static func read(_ request: Request, limit: Int) async throws -> WebForm {
        let buffer = try await request.body.collect(upTo: limit)
        let type = request.headers[.contentType]?.lowercased() ?? ""
        if type.hasPrefix("multipart/form-data") {
            guard let boundary = Self.boundary(request.headers[.contentType] ?? "") else {
                throw APIError.badRequest("a multipart/form-data body needs its boundary", field: "Content-Type")
            }
            return try multipart(buffer, boundary: boundary)
        }
        guard type.isEmpty || type.hasPrefix("application/x-www-form-urlencoded") else {
            throw APIError(.unsupportedMediaType, code: "unsupported-media-type", "a form is sent as application/x-www-form-urlencoded or multipart/form-data")
        }
        return urlEncoded(String(buffer: buffer))
    }

    static func urlEncoded(_ text: String) -> WebForm {
        var form = WebForm()
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            let name = decode(parts[0])
            form.fields[name, default: []].append(parts.count > 1 ? decode(parts[1]) : "")
        }
        return form
    }

    static func boundary(_ contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let parts = parameter.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingSpaces().lowercased() == "boundary" else { continue }
            let value = parts[1].trimmingSpaces().trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            return value.isEmpty ? nil : value
        }
        return nil
    }

    /// Parts with a file name are files; the others are fields (as UTF-8 text).
    static func multipart(_ body: ByteBuffer, boundary: String) throws -> WebForm {
        let parser = MultipartParser(boundary: boundary)
        var form = WebForm()
        var disposition = ""
        var bytes = ByteBuffer()
        parser.onHeader = { name, value in
            if name.lowercased() == "content-disposition" { disposition = value }
        }
        parser.onBody = { chunk in bytes.writeBuffer(&chunk) }
        parser.onPartComplete = {
            let parameters = Self.dispositionParameters(disposition)
            if let name = parameters["name"] {
                if parameters["filename"] != nil {
                    if bytes.readableBytes > 0 { form.files[name] = Data(bytes.readableBytesView) }
                } else {
                    form.fields[name, default: []].append(String(buffer: bytes))
                }
            }
            disposition = ""
            bytes.clear()
        }
        do {
            try parser.execute(body)
        } catch {
            throw APIError.badRequest("the multipart/form-data body could not be read: \(error)", field: "body")
        }
        return form
    }

    /// `form-data; name="codemeta_file"; filename="codemeta.json"` → name and filename.
    static func dispositionParameters(_ value: String) -> [String: String] {
        var found: [String: String] = [:]
        for part in value.split(separator: ";").dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            found[pair[0].trimmingSpaces().lowercased()] =
                pair[1].trimmingSpaces().trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return found
    }
}

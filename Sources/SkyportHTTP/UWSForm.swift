import Foundation
import Hummingbird
import NIOCore
import SkyportCore

/// UWS parameters from a query string or an `application/x-www-form-urlencoded` body, names in lower case
/// (UWS parameter names are case-insensitive).
struct UWSForm {
    private(set) var pairs: [(name: String, value: String)] = []
    /// Values given without a name (`=x`): ignored where unknown parameters are, refused where they are refused.
    private(set) var nameless: [String] = []

    /// Parses `a=1&B=two+words`; 400 for malformed percent-encoding.
    init(encoded text: String) throws {
        for part in text.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = try Self.decode(kv[0], field: "parameter name").lowercased()
            let value = kv.count > 1 ? try Self.decode(kv[1], field: name.isEmpty ? "parameter" : name) : ""
            if name.isEmpty {
                if !value.isEmpty { nameless.append(value) }
                continue
            }
            pairs.append((name, value))
        }
    }

    /// The request's query parameters, then those of its form-encoded body (up to `limit` bytes, else 413).
    static func read(_ request: Request, limit: Int) async throws -> UWSForm {
        var form = try UWSForm(encoded: request.uri.query ?? "")
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "body-too-large", "the request body is larger than \(limit) bytes")
        }
        guard buffer.readableBytes > 0 else { return form }
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingSpaces().lowercased()
        guard type == nil || type == "application/x-www-form-urlencoded" else {
            throw APIError(
                .unsupportedMediaType, code: "unsupported-media-type",
                "Content-Type '\(request.headers[.contentType] ?? "")' is not supported: UWS parameters are sent as application/x-www-form-urlencoded")
        }
        let body = try UWSForm(encoded: String(buffer: buffer))
        form.pairs += body.pairs
        form.nameless += body.nameless
        return form
    }

    /// Every value given for `name` (lower case), in order.
    func values(_ name: String) -> [String] { pairs.filter { $0.name == name }.map(\.value) }

    /// The one value of `name` (lower case), nil when absent; 400 naming `field` when it is given more than once.
    func single(_ name: String, field: String) throws -> String? {
        let all = values(name)
        guard all.count <= 1 else { throw APIError.badRequest("\(field) is given \(all.count) times: give it once", field: field) }
        return all.first
    }

    private static func decode(_ raw: Substring, field: String) throws -> String {
        guard let text = raw.replacingOccurrences(of: "+", with: " ").removingPercentEncoding else {
            throw APIError.badRequest("\(field): malformed percent-encoding", field: field)
        }
        return text
    }

    /// An ISO-8601 instant; one without a zone designator is UTC (as pyvo sends `DESTRUCTION`).
    static func time(_ text: String) -> Date? {
        let t = text.trimmingSpaces()
        guard !t.isEmpty else { return nil }
        return Timestamp.parse(t) ?? Timestamp.parse(t + "Z")
    }
}

import Foundation
import SkyportCore

/// Reads the documents clients and operators write (requests, facilities, UWS job parameters, the CLI's files)
/// from JSON or YAML text, through the same one-pass JSON reader and the bounded YAML bridge.
public enum Documents {
    /// Parses a JSON or YAML document.
    public static func parse(_ data: Data, yaml: Bool) throws -> JSONValue {
        if yaml {
            guard let text = String(data: data, encoding: .utf8) else { throw FieldError("body", "is not UTF-8") }
            return try YAMLBridge.parse(text)
        }
        return try JSONValue.parse(data)
    }

    /// JSON or YAML text (JSON when it starts with `{` or `[`) as a document; a `BrokerError.badParameter` naming
    /// `parameter` when it is neither.
    public static func parseText(_ text: String, parameter: String, yamlAllowed: Bool = true) throws -> JSONValue {
        let trimmed = text.drop { $0.isWhitespace }
        let yaml = yamlAllowed && !(trimmed.hasPrefix("{") || trimmed.hasPrefix("["))
        do {
            return try parse(Data(text.utf8), yaml: yaml)
        } catch {
            throw BrokerError.badParameter(field: parameter, message: "\(parameter) is not valid \(yaml ? "YAML" : "JSON"): \(describe(error))")
        }
    }

    /// A parse error in a few words (at most 300 characters).
    public static func describe(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let ctx) = error {
            if let underlying = ctx.underlyingError { return String(describing: underlying).prefix(300).description }
            return ctx.debugDescription
        }
        if error is YAMLBridge.TooComplex { return "the document is too deeply nested or uses aliases" }
        return String(describing: error).prefix(300).description
    }
}

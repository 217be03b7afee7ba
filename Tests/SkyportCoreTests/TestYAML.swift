import Foundation
import SkyportCore

/// The subset of YAML the ExecutionBroker transcripts use, read into a `JSONValue` (tests only; the core has no
/// YAML parser): block mappings and sequences, plain, quoted and block (`|`, `>`) scalars, one-line flow lists,
/// and comments. Anchors, tags, multi-document streams and multi-line flow collections are not supported.
enum TestYAML {
    struct Failure: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var description: String { "YAML line \(line): \(message)" }
    }

    static func parse(_ text: String) throws -> JSONValue {
        var parser = Parser(lines: text.components(separatedBy: "\n").map { $0.replacingOccurrences(of: "\t", with: "    ") })
        parser.skipBlank()
        guard let first = parser.current else { return .null }
        let value = try parser.node(indent: first.indent)
        parser.skipBlank()
        if parser.current != nil { throw Failure(line: parser.index + 1, message: "unexpected text after the document") }
        return value
    }

    /// Parses a JSON or YAML file by its suffix.
    static func load(_ url: URL) throws -> JSONValue {
        let data = try Data(contentsOf: url)
        if url.pathExtension.lowercased() == "json" { return try JSONDecoder().decode(JSONValue.self, from: data) }
        return try parse(String(decoding: data, as: UTF8.self))
    }

    private struct Parser {
        var lines: [String]
        var index = 0

        var current: (indent: Int, text: Substring)? {
            guard index < lines.count else { return nil }
            let line = lines[index]
            let indent = line.prefix(while: { $0 == " " }).count
            return (indent, line.dropFirst(indent))
        }

        mutating func skipBlank() {
            while let line = current, line.text.isEmpty || line.text.hasPrefix("#") || line.text == "---" { index += 1 }
        }

        mutating func node(indent: Int) throws -> JSONValue {
            skipBlank()
            guard let line = current, line.indent == indent else { return .null }
            if line.text == "-" || line.text.hasPrefix("- ") { return try sequence(indent: indent) }
            return try mapping(indent: indent)
        }

        mutating func sequence(indent: Int) throws -> JSONValue {
            var items: [JSONValue] = []
            while true {
                skipBlank()
                guard let line = current, line.indent == indent, line.text == "-" || line.text.hasPrefix("- ") else { break }
                let rest = line.text.dropFirst().drop(while: { $0 == " " })
                if rest.isEmpty {
                    index += 1
                    skipBlank()
                    items.append(try current.map { $0.indent > indent ? try node(indent: $0.indent) : .null } ?? .null)
                } else if splitKey(rest) != nil {
                    // "- key: value": the item is a mapping starting at the column after the dash.
                    let column = indent + (line.text.count - rest.count)
                    lines[index] = String(repeating: " ", count: column) + rest
                    items.append(try mapping(indent: column))
                } else {
                    index += 1
                    items.append(try value(String(rest), indent: indent))
                }
            }
            return .array(items)
        }

        mutating func mapping(indent: Int) throws -> JSONValue {
            var object: [String: JSONValue] = [:]
            while true {
                skipBlank()
                guard let line = current, line.indent == indent else { break }
                guard !line.text.hasPrefix("- ") else { break }
                guard let (key, rest) = splitKey(line.text) else {
                    throw Failure(line: index + 1, message: "expected 'key: value', found '\(line.text)'")
                }
                index += 1
                if rest.isEmpty {
                    skipBlank()
                    if let next = current, next.indent > indent {
                        object[key] = try node(indent: next.indent)
                    } else if let next = current, next.indent == indent, next.text.hasPrefix("- ") {
                        object[key] = try sequence(indent: indent)
                    } else {
                        object[key] = .null
                    }
                } else {
                    object[key] = try value(rest, indent: indent)
                }
            }
            return .object(object)
        }

        /// The key and the rest of a `key: value` line, outside quotes; nil when the line is no mapping entry.
        func splitKey(_ text: Substring) -> (String, String)? {
            var quote: Character?
            var i = text.startIndex
            while i < text.endIndex {
                let c = text[i]
                if let q = quote {
                    if c == q { quote = nil }
                } else if c == "\"" || c == "'", i == text.startIndex {
                    quote = c
                } else if c == ":" {
                    let next = text.index(after: i)
                    if next == text.endIndex || text[next] == " " {
                        let key = Self.unquote(text[..<i].trimmingCharacters(in: .whitespaces))
                        let rest = text[next...].trimmingCharacters(in: .whitespaces)
                        return (key, rest.hasPrefix("#") ? "" : rest)
                    }
                } else if c == "#", i > text.startIndex, text[text.index(before: i)] == " " {
                    return nil
                }
                i = text.index(after: i)
            }
            return nil
        }

        /// A scalar, a one-line flow list, or a block scalar (`|`, `|-`, `>`, `>-`) whose lines follow.
        mutating func value(_ text: String, indent: Int) throws -> JSONValue {
            if let style = text.first, style == "|" || style == ">", text.count <= 2 {
                return .string(block(folded: style == ">", strip: text.hasSuffix("-"), indent: indent))
            }
            if text.hasPrefix("[") {
                guard text.hasSuffix("]") else { throw Failure(line: index, message: "multi-line flow lists are not supported") }
                let inner = text.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                if inner.isEmpty { return .array([]) }
                return .array(inner.split(separator: ",").map { Self.scalar($0.trimmingCharacters(in: .whitespaces)) })
            }
            if text == "{}" { return .object([:]) }
            return Self.scalar(text)
        }

        mutating func block(folded: Bool, strip: Bool, indent: Int) -> String {
            var body: [String] = []
            var blockIndent: Int?
            while index < lines.count {
                let line = lines[index]
                let lineIndent = line.prefix(while: { $0 == " " }).count
                if line.trimmingCharacters(in: .whitespaces).isEmpty {
                    body.append("")
                } else {
                    guard lineIndent > indent else { break }
                    let base = blockIndent ?? lineIndent
                    blockIndent = base
                    body.append(String(line.dropFirst(min(base, lineIndent))))
                }
                index += 1
            }
            while body.last == "" { body.removeLast() }
            var text = ""
            for (i, line) in body.enumerated() {
                if i > 0 { text += folded && !line.isEmpty && !body[i - 1].isEmpty && !line.hasPrefix(" ") ? " " : "\n" }
                text += line
            }
            return strip ? text : text + "\n"
        }

        static func scalar(_ raw: String) -> JSONValue {
            var text = raw
            if let first = text.first, first == "\"" || first == "'" {
                return .string(unquote(text))
            }
            if let comment = text.range(of: " #") { text = String(text[..<comment.lowerBound]) }
            text = text.trimmingCharacters(in: .whitespaces)
            switch text {
            case "", "~", "null", "Null", "NULL": return .null
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            default: break
            }
            let numeric = text.allSatisfy { $0.isNumber || "+-.eE".contains($0) } && text.first?.isLetter == false
            if numeric, let n = Double(text) { return .number(n) }
            return .string(text)
        }

        static func unquote(_ text: String) -> String {
            guard let first = text.first, first == "\"" || first == "'", text.count >= 2, text.last == first else { return text }
            let inner = String(text.dropFirst().dropLast())
            if first == "'" { return inner.replacingOccurrences(of: "''", with: "'") }
            return inner.replacingOccurrences(of: "\\\"", with: "\"").replacingOccurrences(of: "\\n", with: "\n")
                .replacingOccurrences(of: "\\\\", with: "\\")
        }
    }
}

/// Where the shared samples live: `$SKYPORT_SHARED`, else `shared/` beside the project (found from this file's real
/// path, so the scratch package's symlinks lead to the same place).
enum SharedSamples {
    static let root: URL = {
        if let env = ProcessInfo.processInfo.environment["SKYPORT_SHARED"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        let thisFile = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        let project = thisFile.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return project.deletingLastPathComponent().appendingPathComponent("shared")
    }()

    static var samples: URL { root.appendingPathComponent("samples") }
    static var transcripts: URL { samples.appendingPathComponent("executionbroker/transcripts") }
    static var codemeta: URL { samples.appendingPathComponent("codemeta") }
    static var basket: URL { samples.appendingPathComponent("basket") }

    static var available: Bool { FileManager.default.fileExists(atPath: transcripts.path) }
    static var absentMessage: String { "shared samples absent at \(samples.path) (set SKYPORT_SHARED to the shared/ folder)" }

    /// Paths relative to `base` of every file under it whose name contains `fragment`, sorted.
    static func files(under base: URL, nameContaining fragment: String) -> [String] {
        guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { return [] }
        let prefix = base.resolvingSymlinksInPath().path + "/"
        return walker.compactMap { $0 as? URL }
            .filter { $0.lastPathComponent.contains(fragment) }
            .map { $0.resolvingSymlinksInPath().path.replacingOccurrences(of: prefix, with: "") }
            .sorted()
    }
}

import Foundation

/// A document that writes its own JSON: its `Encodable` form as `CanonicalJSON.encoder()` writes it (keys sorted,
/// nil optionals left out), with times in the writer's `dates` form.
public protocol JSONWritable {
    func write(to json: inout JSONWriter)
}

extension JSONWritable {
    /// The document as UTF-8 JSON bytes.
    public var jsonBytes: [UInt8] {
        var writer = JSONWriter()
        write(to: &writer)
        return writer.bytes
    }
}

/// Writes JSON straight into bytes, byte for byte as `CanonicalJSON.encoder()` (swift-foundation's `JSONEncoder`,
/// sorted keys, slashes unescaped) writes it: `"` and `\` escaped, control characters as `\b \t \n \f \r` or
/// `\u00XX` (lower-case hex), everything else (U+2028, U+2029, DEL, non-ASCII) as it is. Keys are written in the
/// order the caller writes them, so a caller writes them sorted (by UTF-8 bytes, as the encoder sorts), and leaves out
/// an optional that is nil as synthesized `Codable` does. For the documents served most (offer sets and sessions):
/// rendering an offer set's ~50 rejections through `JSONEncoder` was a fifth of the broker's CPU under load.
public struct JSONWriter {
    /// How times are written: as the API writes them (`Timestamp.format`), or as the store keeps them (seconds since
    /// 1970, JSONEncoder's `.secondsSince1970`).
    public enum DateForm: Sendable { case timestamp, secondsSince1970 }

    public private(set) var bytes: [UInt8]
    public let dates: DateForm
    /// Whether the container being written has no member yet (no comma before the next one).
    private var first = true
    /// Whether a key was just written (the value follows it without a comma).
    private var afterKey = false

    public init(capacity: Int = 4_096, dates: DateForm = .timestamp) {
        self.dates = dates
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    // MARK: containers

    // The containers and the generic members are inlinable, so that the modules that write documents (the views, the
    // store) get them specialized for their own types and closures: called across modules unspecialized, each element
    // went through value witnesses and metadata lookups, a fifth of the cost of writing an offer set's rejections.

    @inlinable public mutating func object(_ members: (inout JSONWriter) -> Void) {
        open(UInt8(ascii: "{"))
        members(&self)
        close(UInt8(ascii: "}"))
    }

    @inlinable public mutating func array(_ elements: (inout JSONWriter) -> Void) {
        open(UInt8(ascii: "["))
        elements(&self)
        close(UInt8(ascii: "]"))
    }

    @inlinable public mutating func array<S: Sequence>(_ items: S, _ element: (inout JSONWriter, S.Element) -> Void) {
        array { w in for item in items { element(&w, item) } }
    }

    /// A member's key, written as it is (keys written this way are the code's own names, which need no escaping).
    public mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    /// A key from data (a dictionary's), escaped.
    public mutating func key(_ name: String) {
        separate()
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    // MARK: values

    public mutating func string(_ value: String) {
        separate()
        appendQuoted(value)
    }

    public mutating func int(_ value: Int) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    public mutating func int(_ value: Int64) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    public mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: value ? "true".utf8 : "false".utf8)
    }

    @inlinable public mutating func value(_ value: some JSONWritable) {
        value.write(to: &self)
    }

    /// A value written already (one JSON value, by a `JSONWriter` or the encoder).
    public mutating func json(_ value: [UInt8]) {
        separate()
        bytes.append(contentsOf: value)
    }

    // MARK: members (key and value; a nil optional writes nothing)

    public mutating func field(_ name: StaticString, _ value: String?) {
        guard let value else { return }
        key(name)
        string(value)
    }

    public mutating func field(_ name: StaticString, _ value: Int?) {
        guard let value else { return }
        key(name)
        int(value)
    }

    public mutating func field(_ name: StaticString, _ value: Int64?) {
        guard let value else { return }
        key(name)
        int(value)
    }

    /// A time, in the writer's `dates` form.
    public mutating func field(_ name: StaticString, _ value: Date?) {
        guard let value else { return }
        key(name)
        switch dates {
        case .timestamp: string(Timestamp.format(value))
        case .secondsSince1970:
            separate()
            bytes.append(contentsOf: value.timeIntervalSince1970.description.utf8)
        }
    }

    @inlinable public mutating func field(_ name: StaticString, _ value: (some JSONWritable)?) {
        guard let value else { return }
        key(name)
        value.write(to: &self)
    }

    public mutating func field(_ name: StaticString, _ values: [String]?) {
        guard let values else { return }
        key(name)
        array(values) { $0.string($1) }
    }

    @inlinable public mutating func field(_ name: StaticString, _ values: [some JSONWritable]?) {
        guard let values else { return }
        key(name)
        array(values) { $1.write(to: &$0) }
    }

    public mutating func field(_ name: StaticString, _ value: Bool?) {
        guard let value else { return }
        key(name)
        bool(value)
    }

    /// A number, as `number` writes it.
    public mutating func field(_ name: StaticString, number value: Double?) {
        guard let value else { return }
        key(name)
        number(value)
    }

    /// A member whose value is JSON written already (by `JSONEncoder`, for a part of a document not written by hand).
    public mutating func field(_ name: StaticString, json value: [UInt8]?) {
        guard let value else { return }
        key(name)
        json(value)
    }

    /// A dictionary of strings, its keys sorted as the encoder sorts them.
    public mutating func field(_ name: StaticString, _ values: [String: String]?) {
        guard let values else { return }
        key(name)
        object { w in
            for (k, v) in values.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                w.key(k)
                w.string(v)
            }
        }
    }

    // MARK: bytes

    private mutating func separate() {
        if afterKey {
            afterKey = false
        } else if !first {
            bytes.append(UInt8(ascii: ","))
        }
        first = false
    }

    @usableFromInline mutating func open(_ byte: UInt8) {
        separate()
        bytes.append(byte)
        first = true
    }

    @usableFromInline mutating func close(_ byte: UInt8) {
        bytes.append(byte)
        first = false
    }

    private static let hex = Array("0123456789abcdef".utf8)

    private mutating func appendQuoted(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            var start = 0
            for i in utf8.indices {
                let b = utf8[i]
                guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i]))
                switch b {
                case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
                case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
                case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                default:
                    bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                              Self.hex[Int(b >> 4)], Self.hex[Int(b & 0xF)]])
                }
                start = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

extension JSONWriter {
    /// A number as `JSONValue` encodes one: whole numbers as integers, others in their shortest form.
    public mutating func number(_ value: Double) {
        separate()
        if value.rounded() == value, abs(value) < 9_007_199_254_740_992 {
            bytes.append(contentsOf: String(Int64(value)).utf8)
        } else if value.isFinite {
            bytes.append(contentsOf: "\(value)".utf8)
        } else {
            bytes.append(contentsOf: "null".utf8)
        }
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
    }
}

extension JSONValue: JSONWritable {
    /// Keys sorted, as `CanonicalJSON` writes them.
    public func write(to json: inout JSONWriter) {
        switch self {
        case .null: json.null()
        case .bool(let b): json.bool(b)
        case .number(let n): json.number(n)
        case .string(let s): json.string(s)
        case .array(let items): json.array(items) { w, item in item.write(to: &w) }
        case .object(let o):
            json.object { w in
                // Sorted by UTF-8 bytes, as the canonical encoder sorts them (the members themselves: no lookup by key).
                for (key, value) in o.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                    w.key(key)
                    value.write(to: &w)
                }
            }
        }
    }
}

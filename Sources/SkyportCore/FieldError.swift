/// One problem with one field of a document a client sent: the field is a dotted path (`endpoints[1].url`).
public struct FieldError: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// A document that failed validation, with every problem found (not only the first).
public struct ValidationFailure: Error, Sendable, Equatable {
    public var errors: [FieldError]
    public init(_ errors: [FieldError]) { self.errors = errors }
}

/// Collects field errors while a validator walks a document.
public struct FieldErrors: Sendable {
    public private(set) var all: [FieldError] = []
    public init() {}
    public mutating func add(_ field: String, _ message: String) { all.append(FieldError(field, message)) }
    public var isEmpty: Bool { all.isEmpty }
    public func check() throws { if !all.isEmpty { throw ValidationFailure(all) } }
}

import Foundation

/// An operator: someone who registers and manages facilities. Its token is held only as a hash.
public struct OperatorRecord: Sendable, Hashable, Codable {
    public var name: String
    public var created: Date

    public init(name: String, created: Date) {
        self.name = name
        self.created = created
    }

    /// Why an operator name is not acceptable, or nil.
    public static func nameProblem(_ name: String) -> String? {
        let ok = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._@")
        if name.isEmpty || name.count > 64 { return "an operator name has 1 to 64 characters" }
        if name.unicodeScalars.contains(where: { !ok.contains($0) }) { return "an operator name holds letters, digits, '-', '.', '_' and '@'" }
        return nil
    }
}

import Foundation

/// Operators and their hashed tokens, kept.
public protocol OperatorStore: Sendable {
    /// `StoreError.duplicate` when the name is taken.
    func insertOperator(_ record: OperatorRecord, tokenHash: String) async throws
    func operatorName(forTokenHash hash: String) async throws -> String?
    func operators() async throws -> [OperatorRecord]
    func removeOperator(named name: String) async throws -> Bool
}

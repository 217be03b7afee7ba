import Foundation
import SkyportCore

/// Facility operators and their tokens (the `skyport operator` commands): a token is shown once, only its hash kept.
public struct Operators: Sendable {
    let broker: Broker

    /// Adds an operator; returns its new token (shown once). `BrokerError.badParameter` for an unacceptable name,
    /// `StoreError.duplicate` when the name is taken.
    public func add(_ name: String) async throws -> String {
        if let problem = OperatorRecord.nameProblem(name) { throw BrokerError.badParameter(field: "name", message: problem) }
        let token = OperatorToken.generate()
        try await broker.store.insertOperator(OperatorRecord(name: name, created: broker.now()), tokenHash: OperatorToken.hash(token))
        return token
    }

    public func list() async throws -> [OperatorRecord] { try await broker.store.operators() }

    /// Removes an operator: its token stops working at once. False when there was none.
    public func remove(_ name: String) async throws -> Bool { try await broker.store.removeOperator(named: name) }
}

extension Broker {
    /// Facility operators and their tokens.
    public var operators: Operators { Operators(broker: self) }
}

import Foundation

/// Why a store refused a write.
public enum StoreError: Error, Sendable, Equatable {
    /// Something with this identity already exists.
    case duplicate(String)
    /// The thing to change does not exist.
    case notFound(String)
    /// The write contradicts what is stored (an idempotency key reused with another body).
    case conflict(String)
    /// The store cannot be reached or answered with an error.
    case unavailable(String)
}

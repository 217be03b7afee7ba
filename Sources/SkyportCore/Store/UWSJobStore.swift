import Foundation

/// Skyport's own UWS jobs, kept.
public protocol UWSJobStore: Sendable {
    /// Stores a new job; `StoreError.duplicate` when its id is taken.
    func insertUWSJob(_ job: UWSJobRecord) async throws
    func uwsJob(_ id: String) async throws -> UWSJobRecord?
    /// The jobs the query selects, newest first (ties by id, descending).
    func uwsJobs(_ query: UWSJobQuery) async throws -> [UWSJobListing]
    /// Applies `change` to the stored job in one transaction and returns the stored result; `StoreError.notFound` when
    /// there is none. An error thrown by `change` leaves the job as it was and is rethrown.
    func updateUWSJob(_ id: String, change: @Sendable (inout UWSJobRecord) throws -> Void) async throws -> UWSJobRecord
    /// Removes a job; false when there was none.
    func deleteUWSJob(_ id: String) async throws -> Bool
}

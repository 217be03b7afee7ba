import Foundation

/// The registries Skyport harvests, kept.
public protocol RegistrySourceStore: Sendable {
    /// Stores the source whole, replacing one with the same URL.
    func upsertRegistrySource(_ source: RegistrySource) async throws
    /// All sources, ordered by URL.
    func registrySources() async throws -> [RegistrySource]
    func registrySource(_ url: String) async throws -> RegistrySource?
    /// False when there was no such source.
    func deleteRegistrySource(_ url: String) async throws -> Bool
    /// Records a harvest attempt that started at `attempt`: `lastAttempt` and `lastResult` always, and `lastHarvest`
    /// set to `completed` when it is given (a complete, successful run); a failed run passes nil and leaves it as it was.
    /// `StoreError.notFound` when the source was removed meanwhile.
    func recordHarvest(url: String, attempt: Date, completed: Date?, result: String) async throws
}

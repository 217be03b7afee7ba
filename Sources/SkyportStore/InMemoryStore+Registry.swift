import Foundation
import SkyportCore

/// The registries Skyport harvests, in memory.
extension InMemoryStore {
    public func upsertRegistrySource(_ source: RegistrySource) async throws {
        registrySourcesByURL[source.url] = source
    }

    public func registrySources() async throws -> [RegistrySource] {
        registrySourcesByURL.values.sorted { $0.url < $1.url }
    }

    public func registrySource(_ url: String) async throws -> RegistrySource? { registrySourcesByURL[url] }

    public func deleteRegistrySource(_ url: String) async throws -> Bool {
        registrySourcesByURL.removeValue(forKey: url) != nil
    }

    public func recordHarvest(url: String, attempt: Date, completed: Date?, result: String) async throws {
        guard var source = registrySourcesByURL[url] else { throw StoreError.notFound("registry source \(url)") }
        source.record(attempt: attempt, completed: completed, result: result)
        registrySourcesByURL[url] = source
    }
}

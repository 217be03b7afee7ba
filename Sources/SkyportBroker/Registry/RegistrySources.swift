import Foundation
import Logging
import SkyportCore

/// The IVOA publishing registries Skyport harvests for facilities (OAI-PMH base URLs). Adding one rings the
/// harvest service, so that it is harvested at once.
public struct RegistrySources: Sendable {
    let broker: Broker

    public func list() async throws -> [RegistrySource] {
        try await broker.store.registrySources()
    }

    /// Adds a source (its URL already checked); returns it and whether it is new (an existing one is returned as it is).
    public func add(_ url: String, by owner: String, logger: Logger) async throws -> (source: RegistrySource, created: Bool) {
        if let existing = try await broker.store.registrySource(url) { return (existing, false) }
        let added = Date(timeIntervalSince1970: broker.now().timeIntervalSince1970.rounded(.down))
        let source = RegistrySource(url: url, addedBy: owner, added: added)
        try await broker.store.upsertRegistrySource(source)
        broker.registryHarvests?.ring()
        logger.info("registry source added", metadata: ["registry": .string(url), "operator": .string(owner)])
        return (source, true)
    }

    public func remove(_ url: String, by owner: String, logger: Logger) async throws {
        guard try await broker.store.deleteRegistrySource(url) else { throw BrokerError.notFound("registry source '\(url)'") }
        logger.info("registry source removed", metadata: ["registry": .string(url), "operator": .string(owner)])
    }
}

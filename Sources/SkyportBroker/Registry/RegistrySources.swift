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

    /// Adds a source (its URL already checked as an http(s) URL); returns it and whether it is new (an existing one
    /// is returned as it is). A URL the egress rule refuses is a 422 naming `url`.
    public func add(_ url: String, by owner: String, logger: Logger) async throws -> (source: RegistrySource, created: Bool) {
        if let refusal = broker.egress.check(url: url) {
            throw ValidationFailure([FieldError("url", "the broker does not call this URL: \(refusal)")])
        }
        if let existing = try await broker.store.registrySource(url) { return (existing, false) }
        let added = Date(timeIntervalSince1970: broker.now().timeIntervalSince1970.rounded(.down))
        let source = RegistrySource(url: url, addedBy: owner, added: added)
        try await broker.store.upsertRegistrySource(source)
        broker.registryHarvests?.ring()
        logger.info("registry source added", metadata: ["registry": .string(url), "operator": .string(owner)])
        return (source, true)
    }

    /// Removes a source the operator added; one another operator added, or the configuration
    /// (`SKYPORT_REGISTRY_SOURCES`), is not this operator's to remove.
    public func remove(_ url: String, by owner: String, logger: Logger) async throws {
        guard let source = try await broker.store.registrySource(url) else { throw BrokerError.notFound("registry source '\(url)'") }
        guard source.addedBy == owner else {
            throw BrokerError.forbidden(
                source.addedBy == FacilityCatalog.registryOwner
                    ? "registry source '\(url)' comes from the broker's configuration (SKYPORT_REGISTRY_SOURCES): it is removed there"
                    : "registry source '\(url)' was added by another operator")
        }
        guard try await broker.store.deleteRegistrySource(url) else { throw BrokerError.notFound("registry source '\(url)'") }
        logger.info("registry source removed", metadata: ["registry": .string(url), "operator": .string(owner)])
    }
}

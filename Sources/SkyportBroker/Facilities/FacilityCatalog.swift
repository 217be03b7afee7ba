import Foundation
import Logging
import SkyportCore

/// Facilities as operators keep them: register, replace, remove, refresh from VOSI; and as everyone reads them.
/// An operator changes only its own facilities; harvested ones (owned by `registry`) any operator may refresh.
public struct FacilityCatalog: Sendable {
    let broker: Broker

    /// The owner of harvested facilities.
    public static let registryOwner = "registry"

    /// The canonical JSON documents of the facilities the query selects, ordered by identifier; their access
    /// policies only when `showAccess` (for operators: who may use a facility is not for everyone to read).
    public func list(_ query: FacilityQuery, showAccess: Bool = true) async throws -> [String] {
        guard !showAccess else { return try await broker.store.facilitiesJSON(query) }
        return try await broker.store.facilityDocuments(query).map { try Self.publicDocument($0.facility, $0.document) }
    }

    /// A facility's document as anyone may read it: without its access policy (re-encoded only when it has one).
    static func publicDocument(_ facility: Facility, _ document: String) throws -> String {
        guard facility.access != nil, case .object(var object) = try CanonicalJSON.decode(JSONValue.self, document) else { return document }
        object["access"] = nil
        return try CanonicalJSON.encode(JSONValue.object(object))
    }

    /// A facility's canonical JSON document, with its last health check added as `health` (status, reason,
    /// checked, since) when it has been probed. The reason (what the probe found, clipped) and the access policy are
    /// shown to operators only (`probeDetails`).
    public func document(_ id: FacilityID, probeDetails: Bool = true) async throws -> String {
        let document: String
        if probeDetails {
            guard let stored = try await broker.store.facilityJSON(id) else { throw BrokerError.notFound("facility '\(id)'") }
            document = stored
        } else {
            guard let (facility, stored) = try await broker.store.facilityDocument(id) else { throw BrokerError.notFound("facility '\(id)'") }
            document = try Self.publicDocument(facility, stored)
        }
        var health = broker.health?.board[id]
        if !probeDetails, health?.reason != nil { health?.reason = "failed its last health check" }
        return try Self.withHealth(document, health)
    }

    /// A facility, for its registry record.
    public func facility(_ id: FacilityID) async throws -> Facility {
        guard let facility = try await broker.store.facility(id) else { throw BrokerError.notFound("facility '\(id)'") }
        return facility
    }

    /// Registers the facility an operator's document describes.
    public func register(_ document: JSONValue, by owner: String, logger: Logger) async throws -> Facility {
        let facility = try validate(document, pathID: nil, owner: owner, created: broker.now(), over: nil)
        try await broker.store.insertFacility(facility)
        logger.info("facility registered", metadata: ["facility": .string(facility.id.rawValue), "operator": .string(owner)])
        broker.audit.record(.facilityCreate, target: "facility:\(facility.id.rawValue)", by: "operator:" + owner, logger: logger)
        return facility
    }

    /// Replaces the operator's facility with what its document says (the identifier keeps its first spelling).
    public func replace(_ id: FacilityID, with document: JSONValue, by owner: String, logger: Logger) async throws -> Facility {
        let existing = try await facility(id)
        try Self.checkOwner(existing, owner)
        var facility = try validate(document, pathID: existing.id, owner: owner, created: existing.created, over: existing)
        facility.id = existing.id
        try await broker.store.replaceFacility(facility)
        logger.info("facility replaced", metadata: ["facility": .string(facility.id.rawValue), "operator": .string(owner)])
        broker.audit.record(.facilityReplace, target: "facility:\(facility.id.rawValue)", by: "operator:" + owner, logger: logger)
        return facility
    }

    /// Removes the operator's facility; one with live jobs is set to draining instead
    /// (`BrokerError.facilityHasLiveJobs`).
    public func remove(_ id: FacilityID, by owner: String, logger: Logger) async throws {
        let existing = try await facility(id)
        try Self.checkOwner(existing, owner)
        switch try await broker.store.removeFacility(id, now: broker.now()) {
        case .removed:
            logger.info("facility removed", metadata: ["facility": .string(existing.id.rawValue), "operator": .string(owner)])
            broker.audit.record(.facilityDelete, target: "facility:\(existing.id.rawValue)", by: "operator:" + owner, logger: logger)
        case .notFound:
            throw BrokerError.notFound("facility '\(id)'")
        case .drained(let live):
            broker.audit.record(
                .facilityDelete, target: "facility:\(existing.id.rawValue)", by: "operator:" + owner, detail: "draining: \(live) live job(s)", logger: logger)
            throw BrokerError.facilityHasLiveJobs(existing.id, live: live)
        }
    }

    /// Refreshes a facility from its VOSI capabilities (the URL its registry record names, else beside its uws job
    /// list), keeping what operators set, and stores it. The facility is unchanged when the service fails.
    public func refresh(_ id: FacilityID, by owner: String, logger: Logger) async throws -> Facility {
        let existing = try await facility(id)
        if existing.owner != Self.registryOwner { try Self.checkOwner(existing, owner) }
        guard let text = RegistryMapping.capabilitiesURL(of: existing), let url = URL(string: text) else {
            throw BrokerError.noCapabilitiesURL(existing.id)
        }
        guard let fetch = broker.capabilities else { throw BrokerError.refreshUnavailable }
        let capabilities: [RegistryCapability]
        do {
            capabilities = try await fetch(url)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw BrokerError.capabilitiesUnavailable(existing.id, url: text, reason: "\(error)")
        }
        // Read again: an operator may have written the facility while the service answered.
        let current = try await facility(existing.id)
        switch RegistryMapping.refresh(current, capabilities: capabilities, from: text, now: broker.now()) {
        case .failure(let reason):
            throw BrokerError.capabilitiesUnusable(url: text, reason: reason.description)
        case .success(let refreshed):
            try await broker.store.replaceFacility(refreshed)
            logger.info("facility refreshed", metadata: [
                "facility": .string(refreshed.id.rawValue), "operator": .string(owner), "capabilities": .string(text),
            ])
            return refreshed
        }
    }

    /// The facility an operator's document gives, with the provenance of what it wrote (`Facility.written`).
    func validate(_ document: JSONValue, pathID: FacilityID?, owner: String, created: Date, over existing: Facility?) throws -> Facility {
        let now = broker.now()
        let parsed = try FacilityDocument(document)
        let facility = try parsed.validated(pathID: pathID, owner: owner, created: created, now: now)
        let refused = facility.endpoints.enumerated().compactMap { i, endpoint in
            broker.egress.check(url: endpoint.url).map { FieldError("endpoints[\(i)].url", "the broker does not call this URL: \($0)") }
        }
        if !refused.isEmpty { throw ValidationFailure(refused) }
        return Facility.written(facility, fields: parsed.writtenFields, by: owner, over: existing, at: now)
    }

    static func checkOwner(_ facility: Facility, _ owner: String) throws {
        guard facility.owner == owner else { throw BrokerError.notOwner(facility.id) }
    }

    /// The stored document with the facility's last health check added as `health`; as stored when it has not
    /// been probed (or no health service runs).
    static func withHealth(_ document: String, _ health: FacilityHealth?) throws -> String {
        guard let health, case .object(var object) = try CanonicalJSON.decode(JSONValue.self, document) else { return document }
        var view: [String: JSONValue] = [
            "status": .string(health.status.rawValue),
            "checked": .string(Timestamp.format(health.checked)),
            "since": .string(Timestamp.format(health.since)),
        ]
        if let reason = health.reason { view["reason"] = .string(RemoteText.clip(reason)) }
        object["health"] = .object(view)
        return try CanonicalJSON.encode(JSONValue.object(object))
    }
}

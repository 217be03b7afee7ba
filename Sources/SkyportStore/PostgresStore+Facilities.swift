import Foundation
import PostgresNIO
import SkyportCore
import Synchronization

/// Facilities and operators in PostgreSQL. Facilities are read through one decoded, compiled snapshot (as in
/// SQLite), which a notification from any replica's change (the `facility_changed` trigger) makes stale.
extension PostgresStore {
    public func insertFacility(_ facility: Facility) async throws {
        let doc = try CanonicalJSON.encode(facility)
        do {
            try await run { conn in
                try await conn.exec("""
                    INSERT INTO facility (id_key, owner, status, document) VALUES (\(facility.id.key), \(facility.owner), \(facility.status.rawValue), \(doc))
                    """)
            }
        } catch where Self.isUniqueViolation(error) {
            throw StoreError.duplicate("facility \(facility.id)")
        }
        inbox.facilitiesChanged()
    }

    /// The snapshot, rebuilt when a notification said the facilities changed since it was made (or, while the
    /// listener is down, when the facility generation moved).
    func facilityCatalogue() async throws -> FacilityCatalogue { try await facilitySnapshot().catalogue }

    func currentCatalogue() async throws -> FacilityCatalogue? { try await currentSnapshot(mark: inbox.facilityInvalidations.load(ordering: .sequentiallyConsistent))?.catalogue }

    func facilityRow(_ id: FacilityID) async throws -> String? {
        try await run { conn in try await conn.one("SELECT document FROM facility WHERE id_key = \(id.key)", String.self) }
    }

    /// The cached snapshot if no notification (or, while the listener is down, no move of the generation) has made
    /// it stale since `mark`.
    private func currentSnapshot(mark: Int) async throws -> FacilitySnapshot? {
        guard let cached = facilityCache.withLock({ $0 }), cached.mark == mark else { return nil }
        if inbox.up.load(ordering: .sequentiallyConsistent) { return cached }
        let generation = try await run { conn in try await conn.one("SELECT n FROM facility_generation", Int64.self) } ?? 0
        return generation == cached.generation ? cached : nil
    }

    func facilitySnapshot() async throws -> FacilitySnapshot {
        let mark = inbox.facilityInvalidations.load(ordering: .sequentiallyConsistent)
        if let cached = try await currentSnapshot(mark: mark) { return cached }
        // One statement, so the generation and the documents are of one snapshot.
        let rows = try await run { conn in
            try await conn.rows(
                "SELECT g.n, f.document FROM facility_generation g LEFT JOIN facility f ON true ORDER BY f.id_key", (Int64, String?).self)
        }
        let snapshot = FacilitySnapshot(
            generation: rows.first?.0 ?? 0, mark: mark, catalogue: try FacilityCatalogue(documents: rows.compactMap(\.1)))
        facilityCache.withLock { cached in
            if (cached?.mark ?? -1) <= mark { cached = snapshot }
        }
        return snapshot
    }

    public func replaceFacility(_ facility: Facility) async throws {
        let doc = try CanonicalJSON.encode(facility)
        let n = try await run { conn in
            try await conn.exec("""
                UPDATE facility SET owner = \(facility.owner), status = \(facility.status.rawValue), document = \(doc)
                WHERE id_key = \(facility.id.key) RETURNING 1
                """)
        }
        inbox.facilitiesChanged()
        if n == 0 { throw StoreError.notFound("facility \(facility.id)") }
    }

    public func removeFacility(_ id: FacilityID, now: Date) async throws -> FacilityRemoval {
        defer { inbox.facilitiesChanged() }
        return try await transaction { conn in
            guard let doc = try await conn.one("SELECT document FROM facility WHERE id_key = \(id.key) FOR UPDATE", String.self) else {
                return .notFound
            }
            let live = try await conn.one(
                "SELECT count(*) FROM session WHERE facility_key = \(id.key) AND phase = ANY(\(SessionPhase.live.map(\.rawValue)))", Int.self) ?? 0
            if live > 0 {
                var facility = try CanonicalJSON.decode(Facility.self, doc)
                facility.status = .draining
                facility.modified = now
                try await conn.exec("""
                    UPDATE facility SET status = \(facility.status.rawValue), document = \(try CanonicalJSON.encode(facility)) WHERE id_key = \(id.key)
                    """)
                return .drained(liveJobs: live)
            }
            try await conn.exec("DELETE FROM facility WHERE id_key = \(id.key)")
            try await conn.exec("DELETE FROM facility_health WHERE facility_key = \(id.key)")   // kept as long as its facility
            return .removed
        }
    }

    // MARK: health

    public func sharedHealth() async throws -> [String: FacilityHealth]? {
        var out: [String: FacilityHealth] = [:]
        for (key, doc) in try await run({ conn in try await conn.rows("SELECT facility_key, document FROM facility_health", (String, String).self) }) {
            out[key] = try StoreCoding.decode(FacilityHealth.self, doc)
        }
        return out
    }

    public func publishHealth(_ health: FacilityHealth, of id: FacilityID) async throws {
        let doc = try StoreCoding.encode(health)
        try await run { conn in
            // A check is kept only over an older one (two replicas' checks can cross).
            try await conn.exec("""
                INSERT INTO facility_health (facility_key, checked, document) VALUES (\(id.key), \(health.checked.timeIntervalSince1970), \(doc))
                ON CONFLICT (facility_key) DO UPDATE SET checked = excluded.checked, document = excluded.document
                WHERE facility_health.checked <= excluded.checked
                """)
        }
    }

    // MARK: operators

    public func insertOperator(_ record: OperatorRecord, tokenHash: String) async throws {
        do {
            try await run { conn in
                try await conn.exec(
                    "INSERT INTO operator (name, token_hash, created) VALUES (\(record.name), \(tokenHash), \(record.created.timeIntervalSince1970))")
            }
        } catch where Self.isUniqueViolation(error) {
            throw StoreError.duplicate("operator \(record.name)")
        }
    }

    public func operatorName(forTokenHash hash: String) async throws -> String? {
        try await run { conn in try await conn.one("SELECT name FROM operator WHERE token_hash = \(hash)", String.self) }
    }

    public func operators() async throws -> [OperatorRecord] {
        try await run { conn in
            try await conn.rows("SELECT name, created FROM operator ORDER BY name", (String, Double).self)
                .map { OperatorRecord(name: $0.0, created: Date(timeIntervalSince1970: $0.1)) }
        }
    }

    public func removeOperator(named name: String) async throws -> Bool {
        try await run { conn in try await conn.exec("DELETE FROM operator WHERE name = \(name) RETURNING 1") > 0 }
    }

    // MARK: registry sources

    public func upsertRegistrySource(_ source: RegistrySource) async throws {
        let doc = try StoreCoding.encode(source)
        try await transaction { conn in
            try await conn.exec("""
                INSERT INTO registry_source (url, document) VALUES (\(source.url), \(doc))
                ON CONFLICT (url) DO UPDATE SET document = excluded.document
                """)
            // Every replica's harvester looks again (the one whose turn it is harvests).
            try await self.notify(conn, "r")
        }
    }

    public func registrySources() async throws -> [RegistrySource] {
        try await run { conn in try await conn.all("SELECT document FROM registry_source ORDER BY url", String.self) }
            .map { try StoreCoding.decode(RegistrySource.self, $0) }
    }

    public func registrySource(_ url: String) async throws -> RegistrySource? {
        try await run { conn in try await conn.one("SELECT document FROM registry_source WHERE url = \(url)", String.self) }
            .map { try StoreCoding.decode(RegistrySource.self, $0) }
    }

    public func deleteRegistrySource(_ url: String) async throws -> Bool {
        try await run { conn in try await conn.exec("DELETE FROM registry_source WHERE url = \(url) RETURNING 1") > 0 }
    }

    public func recordHarvest(url: String, attempt: Date, completed: Date?, result: String) async throws {
        try await transaction { conn in
            guard let doc = try await conn.one("SELECT document FROM registry_source WHERE url = \(url) FOR UPDATE", String.self) else {
                throw StoreError.notFound("registry source \(url)")
            }
            var source = try StoreCoding.decode(RegistrySource.self, doc)
            source.record(attempt: attempt, completed: completed, result: result)
            try await conn.exec("UPDATE registry_source SET document = \(try StoreCoding.encode(source)) WHERE url = \(url)")
        }
    }
}

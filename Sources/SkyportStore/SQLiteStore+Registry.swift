import Foundation
import GRDB
import SkyportCore

/// The registries Skyport harvests, in the `registry_source` table (one JSON document per URL).
extension SQLiteStore {
    public func upsertRegistrySource(_ source: RegistrySource) async throws {
        let doc = try StoreCoding.encode(source)
        try await writer.write { db in
            try db.execute(
                sql: "INSERT INTO registry_source (url, document) VALUES (?, ?) ON CONFLICT(url) DO UPDATE SET document = excluded.document",
                arguments: [source.url, doc])
        }
    }

    public func registrySources() async throws -> [RegistrySource] {
        let docs = try await writer.read { db in
            try String.fetchAll(db, sql: "SELECT document FROM registry_source ORDER BY url")
        }
        return try docs.map { try StoreCoding.decode(RegistrySource.self, $0) }
    }

    public func registrySource(_ url: String) async throws -> RegistrySource? {
        let doc = try await writer.read { db in
            try String.fetchOne(db, sql: "SELECT document FROM registry_source WHERE url = ?", arguments: [url])
        }
        return try doc.map { try StoreCoding.decode(RegistrySource.self, $0) }
    }

    public func deleteRegistrySource(_ url: String) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM registry_source WHERE url = ?", arguments: [url])
            return db.changesCount > 0
        }
    }

    public func recordHarvest(url: String, attempt: Date, completed: Date?, result: String) async throws {
        try await writer.write { db in
            guard let doc = try String.fetchOne(db, sql: "SELECT document FROM registry_source WHERE url = ?", arguments: [url]) else {
                throw StoreError.notFound("registry source \(url)")
            }
            var source = try StoreCoding.decode(RegistrySource.self, doc)
            source.record(attempt: attempt, completed: completed, result: result)
            try db.execute(
                sql: "UPDATE registry_source SET document = ? WHERE url = ?", arguments: [try StoreCoding.encode(source), url])
        }
    }
}

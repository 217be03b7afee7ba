import Foundation
import GRDB
@testable import SkyportStore
import Testing

/// The statements the broker runs every few seconds or minutes while requests wait for the writer (retention, offer
/// expiry) find their rows through an index: none reads a whole table. A purge of audit events that SQLite planned as
/// a walk of the table in `seq` order held the writer longer every minute as the table grew.
@Suite struct PeriodicQueryPlanTests {
    static let statements: [(String, String)] = [
        ("offer sets to delete", SQLiteStore.deletableOfferSetsSQL),
        ("UWS jobs to delete", SQLiteStore.deletableUWSJobsSQL),
        ("usage to delete", SQLiteStore.purgeUsageSQL),
        ("audit events to delete", SQLiteStore.purgeAuditSQL),
        ("offers to expire", SQLiteStore.expireOffersSQL),
    ]

    @Test(arguments: PeriodicQueryPlanTests.statements)
    func readsNoWholeTable(_ name: String, _ sql: String) async throws {
        let store = try SQLiteStore(path: ":memory:")
        let steps = try await Self.plan(sql, in: store)
        #expect(!steps.isEmpty)
        #expect(steps.allSatisfy { !$0.hasPrefix("SCAN ") }, "\(name) reads a whole table or index: \(steps)")
    }

    /// The check sees a walk of the table: the purge as it was written before.
    @Test func aWalkOfTheTableIsSeen() async throws {
        let store = try SQLiteStore(path: ":memory:")
        let steps = try await Self.plan("DELETE FROM audit WHERE seq IN (SELECT seq FROM audit WHERE time < ?1 ORDER BY seq LIMIT ?2)", in: store)
        #expect(steps.contains { $0.hasPrefix("SCAN ") }, "\(steps)")
    }

    /// The plan's steps, with the parameters written in as values like the broker's (SQLite plans a sort for a small
    /// `LIMIT` that it would not for the batch of 500): the limit the retention batch, any other a time.
    static func plan(_ sql: String, in store: SQLiteStore) async throws -> [String] {
        let bound = sql.replacingOccurrences(of: #"LIMIT (:batch|\?2)"#, with: "LIMIT 500", options: .regularExpression)
            .replacingOccurrences(of: #":[a-zA-Z]+|\?\d"#, with: "1796000000", options: .regularExpression)
        return try await store.writer.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + bound).map { $0["detail"] as String }
        }
    }
}

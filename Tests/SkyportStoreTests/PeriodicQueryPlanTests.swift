import Foundation
import GRDB
@testable import SkyportStore
import Testing

/// The statements the broker runs every few seconds or minutes while requests wait for the writer (retention, offer
/// expiry) find their rows through an index: none reads a whole table, and none sorts every row it finds. A purge of
/// audit events that SQLite planned as a walk of the table in `seq` order held the writer longer every minute as the
/// table grew.
@Suite struct PeriodicQueryPlanTests {
    static let time = 1_796_000_000.0
    /// Each statement with arguments bound as the broker binds them (the batch of 500, times).
    static let statements: [(String, String, StatementArguments)] = [
        ("offer sets to delete", SQLiteStore.deletableOfferSetsSQL,
         ["now": time, "offerCutoff": time - 86_400, "sessionCutoff": time - 30 * 86_400, "batch": 500]),
        ("UWS jobs to delete", SQLiteStore.deletableUWSJobsSQL, [time, 500]),
        ("usage to delete", SQLiteStore.purgeUsageSQL, [time, 500]),
        ("audit events to delete", SQLiteStore.purgeAuditSQL, [time, 500]),
        ("offers to expire", SQLiteStore.expireOffersSQL, [time]),
    ]

    @Test(arguments: PeriodicQueryPlanTests.statements)
    func readsNoWholeTable(_ name: String, _ sql: String, _ arguments: StatementArguments) async throws {
        let steps = try await Self.plan(sql, arguments)
        #expect(!steps.isEmpty)
        #expect(steps.allSatisfy { !$0.hasPrefix("SCAN ") && $0 != "USE TEMP B-TREE FOR ORDER BY" },
                "\(name) reads a whole table or index, or sorts all it finds: \(steps)")
    }

    /// The check sees a walk of the table: the audit purge as it was written before.
    @Test func aWalkOfTheTableIsSeen() async throws {
        let steps = try await Self.plan(
            "DELETE FROM audit WHERE seq IN (SELECT seq FROM audit WHERE time < ?1 ORDER BY seq LIMIT ?2)", [Self.time, 500])
        #expect(steps.contains { $0.hasPrefix("SCAN ") }, "\(steps)")
    }

    /// The steps of the statement's plan in a new file (the plan does not depend on the rows: the broker runs no ANALYZE).
    static func plan(_ sql: String, _ arguments: StatementArguments) async throws -> [String] {
        let store = try SQLiteStore(path: ":memory:")
        return try await store.writer.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] as String }
        }
    }
}

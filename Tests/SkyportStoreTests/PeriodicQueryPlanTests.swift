import Foundation
import GRDB
import SkyportCore
@testable import SkyportStore
import Testing

/// The statements the broker runs every few seconds or minutes while requests wait for the writer (retention, offer
/// expiry) find their rows through an index: none reads a whole table, and none sorts every row it finds. A purge of
/// audit events that SQLite planned as a walk of the table in `seq` order held the writer longer every minute as the
/// table grew.
@Suite struct PeriodicQueryPlanTests {
    static let time = 1_796_000_000.0
    /// Each statement with arguments bound as the broker binds them (a batch of 500, times).
    static let statements: [(String, String, StatementArguments)] = [
        ("offer sets to delete", SQLiteStore.deletableOfferSetsSQL,
         ["now": time, "offerCutoff": time - 86_400, "sessionCutoff": time - 30 * 86_400, "batch": 500]),
        ("UWS jobs to delete", SQLiteStore.deletableUWSJobsSQL, [time, 500]),
        ("usage to delete", SQLiteStore.purgeUsageSQL, [time, 500]),
        ("audit events to delete", SQLiteStore.purgeAuditSQL, [time, 500]),
        ("offers to expire", SQLiteStore.expireOffersSQL, [time]),
        ("the capacity ledger, read again after another process wrote", SQLiteStore.ledgerSQL, []),
        ("sessions never leased to claim", SQLiteStore.claimUnleasedSQL, [500]),
        ("sessions whose lease ran out to claim", SQLiteStore.claimLapsedSQL, [time, 500]),
    ]

    /// Statements that must read a partial index, one that holds only the sessions they look for (a session in any other
    /// phase, or with nothing to do, is never written to it).
    static let partialReads: [(String, String, StatementArguments, String)] = [
        ("jobs on a facility removed", SQLiteStore.liveJobsSQL, ["f"], "session_job_live"),
        ("sessions never leased to claim", SQLiteStore.claimUnleasedSQL, [500], "session_work"),
        ("sessions whose lease ran out to claim", SQLiteStore.claimLapsedSQL, [time, 500], "session_work"),
    ]

    @Test(arguments: PeriodicQueryPlanTests.statements)
    func readsNoWholeTable(_ name: String, _ sql: String, _ arguments: StatementArguments) async throws {
        let steps = try await Self.plan(sql, arguments)
        #expect(!steps.isEmpty)
        #expect(steps.allSatisfy { !$0.hasPrefix("SCAN ") && $0 != "USE TEMP B-TREE FOR ORDER BY" },
                "\(name) reads a whole table or index, or sorts all it finds: \(steps)")
    }

    @Test(arguments: PeriodicQueryPlanTests.partialReads)
    func readsItsPartialIndex(_ name: String, _ sql: String, _ arguments: StatementArguments, _ index: String) async throws {
        let steps = try await Self.plan(sql, arguments)
        #expect(steps.contains { $0.hasPrefix("SEARCH session USING ") && $0.contains("INDEX \(index) ") }, "\(name): \(steps)")
        #expect(steps.allSatisfy { !$0.hasPrefix("SCAN ") && $0 != "USE TEMP B-TREE FOR ORDER BY" }, "\(name): \(steps)")
    }

    /// The partial index holds the jobs that hold capacity, and the statements that read it spell its phase list.
    @Test func theJobIndexHoldsTheJobsThatHoldCapacity() async throws {
        #expect(SessionPhase.live == SessionPhase.booking.subtracting([.offered]))
        let indexed = SQLiteStore.jobPhases
        #expect(Set(SessionPhase.live.map { "'\($0.rawValue)'" }) == Set(indexed.dropFirst().dropLast().components(separatedBy: ", ")))
        let store = try SQLiteStore(path: ":memory:")
        let sql = try await store.writer.read { db in try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'session_job_live'") }
        #expect(sql?.hasSuffix("WHERE phase IN \(indexed)") == true)
        // What a facility's page lists: its jobs in the window, from that index (sorted after: a facility has few at once).
        let steps = try await Self.plan(SQLiteStore.jobsHoldingSQL, ["f", Self.time, Self.time + 3600, 5000])
        #expect(steps.contains { $0.hasPrefix("SEARCH session USING INDEX session_job_live ") }, "\(steps)")
    }

    /// The session table's indexes: each is one more b-tree written for every offer (an offer request inserts several
    /// sessions in the serialized write), so the table keeps only those its statements read, and the two that hold
    /// only some sessions say which.
    @Test func theSessionTableKeepsOnlyTheIndexesItsStatementsRead() async throws {
        let store = try SQLiteStore(path: ":memory:")
        let indexes = try await store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'session' AND sql IS NOT NULL")
                .map { ($0["name"] as String, $0["sql"] as String) }
        }
        #expect(indexes.map(\.0).sorted() == [
            "session_job_live", "session_offer_set", "session_owner_created", "session_phase_expires", "session_work",
        ])
        let partial = Dictionary(uniqueKeysWithValues: indexes).filter { $0.value.contains(" WHERE ") }
        #expect(partial.keys.sorted() == ["session_job_live", "session_work"])
        // Offers are in no index by facility: each would be one more leaf written per facility offered.
        #expect(partial["session_job_live"]?.contains("'OFFERED'") == false)
        #expect(partial["session_work"]?.hasSuffix("WHERE needs_work = 1") == true)
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

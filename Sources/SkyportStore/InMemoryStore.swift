import Foundation
import SkyportCore

/// A store that keeps everything in memory: fast tests, and nothing survives the process.
public actor InMemoryStore: BrokerStore {
    private var facilitiesByKey: [String: Facility] = [:]
    private var operatorsByName: [String: OperatorRecord] = [:]
    private var operatorByHash: [String: String] = [:]

    public nonisolated let kind = "memory"

    public init() {}

    public func ping() async throws {}

    public func insertFacility(_ facility: Facility) async throws {
        guard facilitiesByKey[facility.id.key] == nil else { throw StoreError.duplicate("facility \(facility.id)") }
        facilitiesByKey[facility.id.key] = facility
    }

    public func facility(_ id: FacilityID) async throws -> Facility? { facilitiesByKey[id.key] }

    public func facilities(_ query: FacilityQuery) async throws -> [Facility] {
        facilitiesByKey.values.filter(query.matches).sorted { $0.id.key < $1.id.key }
    }

    public func replaceFacility(_ facility: Facility) async throws {
        guard facilitiesByKey[facility.id.key] != nil else { throw StoreError.notFound("facility \(facility.id)") }
        facilitiesByKey[facility.id.key] = facility
    }

    public func removeFacility(_ id: FacilityID, now: Date) async throws -> FacilityRemoval {
        guard var facility = facilitiesByKey[id.key] else { return .notFound }
        let live = liveJobs(on: id)
        if live > 0 {
            facility.status = .draining
            facility.modified = now
            facilitiesByKey[id.key] = facility
            return .drained(liveJobs: live)
        }
        facilitiesByKey[id.key] = nil
        return .removed
    }

    /// Jobs still running on a facility; sessions arrive with the negotiation work.
    private func liveJobs(on id: FacilityID) -> Int { 0 }

    public func insertOperator(_ record: OperatorRecord, tokenHash: String) async throws {
        guard operatorsByName[record.name] == nil else { throw StoreError.duplicate("operator \(record.name)") }
        operatorsByName[record.name] = record
        operatorByHash[tokenHash] = record.name
    }

    public func operatorName(forTokenHash hash: String) async throws -> String? { operatorByHash[hash] }

    public func operators() async throws -> [OperatorRecord] { operatorsByName.values.sorted { $0.name < $1.name } }

    public func removeOperator(named name: String) async throws -> Bool {
        guard operatorsByName.removeValue(forKey: name) != nil else { return false }
        operatorByHash = operatorByHash.filter { $0.value != name }
        return true
    }
}

import Foundation
import SkyportCore

/// Retention in memory: the rules of `Retention` applied as they are.
extension InMemoryStore {
    public func purgeOfferSets(now: Date, policy: RetentionPolicy) async throws -> RetentionSweep {
        let linkedSets = Set(uwsJobsByID.values.compactMap(\.offerSet))
        let linkedSessions = Set(uwsJobsByID.values.compactMap(\.session))
        var deleted = RetentionSweep(batches: 1)
        // Oldest first, as the SQLite store takes them.
        for set in offerSets.values.sorted(by: { ($0.created, $0.id.text) < ($1.created, $1.id.text) }) {
            if deleted.offerSets >= policy.batch { break }
            let ids = sessionsBySet[set.id] ?? []
            let members = ids.compactMap { sessions[$0] }
            let linked = linkedSets.contains(set.id) || ids.contains(where: linkedSessions.contains)
            guard Retention.isDeletable(
                set, sessions: members, linked: linked, leases: { self.leases[$0]?.until }, now: now, policy: policy) else { continue }
            for id in ids {
                put(id, nil)
                leases[id] = nil
            }
            sessionsBySet[set.id] = nil
            offerSets[set.id] = nil
            if let key = set.idempotencyKey { idempotency[key] = nil }
            deleted.offerSets += 1
            deleted.sessions += members.count
        }
        if !deleted.isEmpty { changes.changedAll() }
        return deleted
    }

    public func purgeUWSJobs(now: Date, policy: RetentionPolicy) async throws -> RetentionSweep {
        let due = uwsJobsByID.values.filter { Retention.isDeletable($0, now: now, policy: policy) }
            .sorted { ($0.destruction ?? now, $0.id) < ($1.destruction ?? now, $1.id) }
            .prefix(policy.batch)
        for job in due {
            uwsJobsByID[job.id] = nil
            changes.changed(ChangeFeed.key(uwsJob: job.id))
        }
        return RetentionSweep(uwsJobs: due.count, batches: 1)
    }
}

import Foundation
import SkyportCore

/// Fixed instants for tests (no test reads the wall clock to make its data).
public enum TestDates {
    /// 2026-09-21T14:13:20Z.
    public static let epoch = Date(timeIntervalSince1970: 1_790_000_000)
}

extension Facility {
    /// A facility with defaults for everything a test does not care about: one UWS endpoint on an unreachable
    /// host named after `id`, accepting TAP queries, created and modified at `at`.
    public static func sample(
        _ id: String, name: String? = nil, description: String = "", status: FacilityStatus = .active, endpoints: [Endpoint]? = nil,
        accepts: [ExecutableKind] = [.tapQuery], limits: FacilityLimits = FacilityLimits(), capacity: FacilityCapacity = FacilityCapacity(),
        rses: [String] = [], owner: String = "test", at time: Date = TestDates.epoch, modified: Date? = nil
    ) -> Facility {
        Facility(
            id: FacilityID(id), name: name ?? id, description: description, status: status,
            endpoints: endpoints ?? [Endpoint(kind: .uws, url: "http://\(id.replacingOccurrences(of: "/", with: "-")).invalid/tap/async")],
            accepts: accepts, limits: limits, capacity: capacity, data: FacilityData(rses: rses), owner: owner,
            created: time, modified: modified ?? time)
    }
}

extension SessionRecord {
    /// A session with defaults for everything a test does not care about (an offered one-hour container slot).
    public static func sample(
        facility: String = "tap", facilityName: String? = nil, phase: SessionPhase = .offered, offerSet: UUID = UUID(),
        created: Date = TestDates.epoch, lifetime: TimeInterval = 300, cores: Int = 1, memory: Int = 1, start: Date? = nil,
        duration: ISODuration = ISODuration(seconds: 3_600), rank: Int = 0,
        executable: ExecutableRequest = ExecutableRequest(kind: .dockerContainer)
    ) -> SessionRecord {
        SessionRecord(
            id: UUID(), offerSet: offerSet, facility: FacilityID(facility), facilityName: facilityName ?? facility, phase: phase,
            created: created, expires: created.addingTimeInterval(lifetime), cores: cores, memory: memory, start: start ?? created,
            duration: duration, rank: rank, executable: executable)
    }
}

/// Facility documents as an operator POSTs them (JSON text).
public enum FacilityDocuments {
    /// A document with one endpoint of `kind` at `url` (`endpoint` adds fields to it, e.g. `launchTimeout`);
    /// `limits` and `capacity` are left out when nil.
    public static func json(
        id: String, name: String? = nil, kind: String, url: String, endpoint: [String: String] = [:], accepts: [String],
        limits: Limits? = nil, capacity: (cores: Int, memory: Int)? = nil, rses: [String]? = nil
    ) -> String {
        var endpointObject: [String: Any] = ["kind": kind, "url": url]
        for (key, value) in endpoint { endpointObject[key] = value }
        var document: [String: Any] = ["id": id, "name": name ?? id, "endpoints": [endpointObject], "accepts": accepts]
        if let limits { document["limits"] = limits.object }
        if let capacity { document["capacity"] = ["cores": capacity.cores, "memory": capacity.memory] }
        if let rses { document["data"] = ["rses": rses] }
        let data = try! JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    /// A facility's `limits` (any left nil is not sent).
    public struct Limits: Sendable {
        public var cores: Int?
        public var memory: Int?
        public var duration: String?
        public init(cores: Int? = nil, memory: Int? = nil, duration: String? = nil) {
            self.cores = cores
            self.memory = memory
            self.duration = duration
        }

        var object: [String: Any] {
            var o: [String: Any] = [:]
            if let cores { o["cores"] = cores }
            if let memory { o["memory"] = memory }
            if let duration { o["duration"] = duration }
            return o
        }
    }
}

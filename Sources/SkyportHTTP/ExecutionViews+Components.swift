import Foundation
import SkyportCore

/// A session's components as the ExecutionBroker shapes them: the request's own (kept whole by the parser) when it
/// was an ExecutionBroker document, else rebuilt from what Skyport understood (`RequestDocument`), and on each the
/// broker's `meta` (a stable uuid per session and component, its url, when it was made), `phase` and `schedule`.
struct SessionComponents {
    var executable: JSONValue
    var compute: JSONValue
    var storage: [JSONValue]?
    var data: [JSONValue]?

    init(session s: SessionRecord, url: String, phase: String, schedule: ExecutionViews.Schedule, components: RequestComponents?) {
        let scheduleJSON = JSONValue.object([
            "preparing": .object(["start": .string(schedule.preparing.start), "duration": .string(schedule.preparing.duration)]),
            "available": .object(["start": .string(schedule.available.start), "duration": .string(schedule.available.duration)]),
            "releasing": .object(["start": .string(schedule.releasing.start), "duration": .string(schedule.releasing.duration)]),
        ])
        let created = JSONValue.string(Timestamp.format(s.created))
        func owned(_ o: [String: JSONValue], _ path: String, lifecycle: Bool = true) -> JSONValue {
            var o = o
            var meta = o["meta"]?.objectValue ?? [:]
            meta["uuid"] = .string(Self.uuid(session: s.id, path: path))
            meta["url"] = .string("\(url)#\(Self.fragment(path))")
            meta["created"] = created
            o["meta"] = .object(meta)
            if lifecycle {
                o["phase"] = .string(phase)
                o["schedule"] = scheduleJSON
            }
            return .object(o)
        }

        var exec = components?.executable?.objectValue ?? RequestDocument.executable(s.executable)
        if exec["kind"] == nil {
            // A request that named no kind (a codemeta file that did not tell) runs as what its facility was chosen for.
            exec["kind"] = .string(s.executable.kind?.uri ?? ExecutableKind.jupyterNotebook.uri)
        }
        executable = owned(exec, "executable")

        var compute = components?.compute?.objectValue ?? [:]
        if compute["kind"] == nil { compute["kind"] = .string(SpecKinds.computeKind) }
        compute["cores"] = .object(["min": .number(Double(s.cores)), "max": .number(Double(s.cores))])
        compute["memory"] = .object(["min": .number(Double(s.memory)), "max": .number(Double(s.memory))])
        if let gpus = s.gpus { compute["gpus"] = .object(["min": .number(Double(gpus)), "max": .number(Double(gpus))]) }
        if let volumes = compute["volumes"]?.arrayValue {
            compute["volumes"] = .array(volumes.enumerated().map { i, v in
                v.objectValue.map { owned($0, "compute.volumes[\(i)]", lifecycle: false) } ?? v
            })
        }
        self.compute = owned(compute, "compute")

        let storage = components?.storage ?? []
        self.storage = storage.isEmpty ? nil : storage.enumerated().map { i, item in
            item.objectValue.map { owned($0, "storage[\(i)]") } ?? item
        }
        // The request's data items as written, then what the basket (or codemeta) added, as Skyport read them.
        let written = components?.data ?? []
        let data = written + (s.data ?? []).dropFirst(written.count).map(RequestDocument.dataItem)
        self.data = data.isEmpty ? nil : data.enumerated().map { i, item in
            item.objectValue.map { owned($0, "data[\(i)]") } ?? item
        }
    }

    /// A component path as a URL fragment (`data[2]` is `data.2`: brackets are not allowed there).
    static func fragment(_ path: String) -> String {
        guard path.utf8.contains(UInt8(ascii: "[")) else { return path }
        return path.replacingOccurrences(of: "[", with: ".").replacingOccurrences(of: "]", with: "")
    }

    /// A name-based uuid for one component of one session: the same on every read, without being stored
    /// (FNV-1a over the session's uuid and the component's path, laid out as a version-8 uuid).
    static func uuid(session: UUID, path: String) -> String {
        let id = session.text
        func fnv(_ seed: UInt64) -> UInt64 {
            var h = seed
            for b in id.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
            for b in path.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
            return h
        }
        var hi = fnv(0xCBF2_9CE4_8422_2325), lo = fnv(0x8422_2325_CBF2_9CE4)
        hi = (hi & ~0xF000) | 0x8000  // version 8
        lo = (lo & ~(0xC << 60)) | (0x8 << 60)  // RFC 4122 variant
        // 32 lower-case hex digits, grouped 8-4-4-4-12 (written directly: four of these are made per session shown).
        return String(unsafeUninitializedCapacity: 36) { out in
            var n = 0
            for word in [hi, lo] {
                for shift in stride(from: 60, through: 0, by: -4) {
                    if n == 8 || n == 13 || n == 18 || n == 23 { out[n] = UInt8(ascii: "-"); n += 1 }
                    out[n] = Self.hexDigits[Int(truncatingIfNeeded: word >> UInt64(shift)) & 0xF]
                    n += 1
                }
            }
            return n
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}

import Foundation
import SkyportCore

/// A session's components as the ExecutionBroker shapes them: the request's own (kept whole by the parser) when it
/// was an ExecutionBroker document, else rebuilt from what Skyport understood (`RequestDocument`), and on each the
/// broker's `meta` (a stable uuid per session and component, its url, when it was made), `phase` and `schedule`.
struct SessionComponents {
    var executable: ExecutionViews.Component
    var compute: ExecutionViews.Component
    var storage: [ExecutionViews.Component]?
    var data: [ExecutionViews.Component]?

    init(session s: SessionRecord, url: String, phase: String, schedule: ExecutionViews.Schedule, components: RequestComponents?) {
        let created = Timestamp.format(s.created)
        func overlay(_ path: String, lifecycle: Bool = true) -> ExecutionViews.Component.Owned {
            ExecutionViews.Component.Owned(
                uuid: Self.uuid(session: s.id, path: path), url: "\(url)#\(Self.fragment(path))", created: created,
                lifecycle: lifecycle ? .init(phase: phase, schedule: schedule) : nil)
        }
        func owned(_ o: [String: JSONValue], _ path: String, lifecycle: Bool = true) -> ExecutionViews.Component {
            ExecutionViews.Component(o, owned: overlay(path, lifecycle: lifecycle))
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
                v.objectValue.map { owned($0, "compute.volumes[\(i)]", lifecycle: false).merged } ?? v
            })
        }
        self.compute = owned(compute, "compute")

        let storage = components?.storage ?? []
        self.storage = storage.isEmpty ? nil : storage.enumerated().map { i, item in
            item.objectValue.map { owned($0, "storage[\(i)]") } ?? ExecutionViews.Component(item)
        }
        // The request's data items as written, then what the basket (or codemeta) added, as Skyport read them.
        let written = components?.data ?? []
        let data = written + (s.data ?? []).dropFirst(written.count).map(RequestDocument.dataItem)
        self.data = data.isEmpty ? nil : data.enumerated().map { i, item in
            item.objectValue.map { owned($0, "data[\(i)]") } ?? ExecutionViews.Component(item)
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

extension ExecutionViews {
    /// One of a session's components: the request's own value for it with what the broker owns overlaid on an object
    /// (`meta.uuid`, `meta.url` and `meta.created` beside the request's own `meta`, and for the components that have
    /// a lifecycle `phase` and `schedule`). Written straight from the parts, in key order, without making the merged
    /// object: the answer to every `POST /requests` has four per offer, and making them was a twentieth of its cost.
    struct Component: Encodable, JSONWritable {
        struct Owned {
            struct Lifecycle {
                var phase: String
                var schedule: Schedule
            }
            var uuid: String
            var url: String
            var created: String
            var lifecycle: Lifecycle?
        }

        /// The request's value (overlaid only when an object).
        var value: JSONValue
        var owned: Owned?

        init(_ value: JSONValue) { (self.value, owned) = (value, nil) }
        init(_ object: [String: JSONValue], owned: Owned) { (value, self.owned) = (.object(object), owned) }

        /// The component as one value (what is encoded, and what a volume inside `compute` is).
        var merged: JSONValue {
            guard case .object(var o) = value, let owned else { return value }
            var meta = o["meta"]?.objectValue ?? [:]
            meta["uuid"] = .string(owned.uuid)
            meta["url"] = .string(owned.url)
            meta["created"] = .string(owned.created)
            o["meta"] = .object(meta)
            if let lifecycle = owned.lifecycle {
                o["phase"] = .string(lifecycle.phase)
                let span = { (s: Schedule.Span) in JSONValue.object(["start": .string(s.start), "duration": .string(s.duration)]) }
                o["schedule"] = .object([
                    "preparing": span(lifecycle.schedule.preparing), "available": span(lifecycle.schedule.available),
                    "releasing": span(lifecycle.schedule.releasing),
                ])
            }
            return .object(o)
        }

        func encode(to encoder: any Encoder) throws { try merged.encode(to: encoder) }

        func write(to json: inout JSONWriter) {
            guard case .object(let o) = value, let owned else { return value.write(to: &json) }
            let lifecycle = owned.lifecycle
            var keys = o.keys.filter { $0 != "meta" && (lifecycle == nil || ($0 != "phase" && $0 != "schedule")) }
            keys.append("meta")
            if lifecycle != nil { keys += ["phase", "schedule"] }
            keys.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            json.object { w in
                for key in keys {
                    w.key(key)
                    switch key {
                    case "meta": Self.writeMeta(o["meta"]?.objectValue ?? [:], owned, to: &w)
                    case "phase" where lifecycle != nil: w.string(lifecycle!.phase)
                    case "schedule" where lifecycle != nil: lifecycle!.schedule.write(to: &w)
                    default: o[key]!.write(to: &w)
                    }
                }
            }
        }

        /// The request's `meta` with the broker's three members, in key order.
        private static func writeMeta(_ own: [String: JSONValue], _ owned: Owned, to json: inout JSONWriter) {
            guard !own.isEmpty else {
                json.object { w in
                    w.field("created", owned.created)
                    w.field("url", owned.url)
                    w.field("uuid", owned.uuid)
                }
                return
            }
            var meta = own
            meta["uuid"] = .string(owned.uuid)
            meta["url"] = .string(owned.url)
            meta["created"] = .string(owned.created)
            JSONValue.object(meta).write(to: &json)
        }
    }
}

import Foundation
import SkyportBroker
import SkyportCore

/// What the templates show, made from the records: plain values (strings, numbers, flags, lists of dictionaries),
/// so that a template decides nothing but layout.
enum WebViews {
    // MARK: Offer sets

    /// An offer set: what was understood, the offers best first, and every facility that cannot take it, grouped by
    /// reason.
    static func offerSet(_ set: OfferSetRecord, _ sessions: [SessionRecord], now: Date, audience: ReasonAudience) -> [String: Any] {
        let offers = sessions.filter { !$0.phase(at: now).isFinal || $0.phase(at: now) == .expired }.sorted { $0.rank < $1.rank }
        let live = offers.contains { $0.phase(at: now) == .offered }
        var values: [String: Any] = [
            "id": set.id.lowercasedText,
            "created": Timestamp.format(set.created),
            "normalised": normalised(set.request),
            "summary": summary(set.request),
            "notes": set.request.notes.map { ["level": $0.level.rawValue, "field": $0.field, "message": $0.message] },
            "offers": offers.enumerated().map { i, s in offer(s, position: i + 1, ranking: set.ranking, now: now) },
            "hasOffers": !offers.isEmpty,
            "live": live,
            "rejectionGroups": rejectionGroups(set.rejections, audience: audience),
            "rejectedCount": set.rejections.count,
            // The set's messages repeat the parser's notes (as the API's documents carry them): shown once, as notes.
            "messages": set.messages.filter { m in !set.request.notes.contains { "\($0.field): \($0.message)" == m.message } }
                .map { ["level": $0.level.rawValue, "message": $0.message] },
        ]
        if let funnel = set.funnel {
            values["funnel"] = [
                "total": funnel.total,
                "steps": funnel.steps.map { ["clause": $0.clause.rawValue, "passed": $0.passed, "empty": $0.passed == 0] },
            ] as [String: Any]
        }
        return values
    }

    /// The normalised request as YAML: what Skyport understood, in the words of the API.
    static func normalised(_ request: NormalisedRequest) -> String {
        guard let value = try? JSONValue.parse(Data(request.jsonBytes)), let yaml = try? YAMLBridge.serialize(value) else {
            return String(decoding: request.jsonBytes, as: UTF8.self)
        }
        return yaml
    }

    /// The request in one sentence: what runs, on what data, with what resources.
    static func summary(_ r: NormalisedRequest) -> String {
        let e = r.executable
        var what = e.kind?.rawValue ?? "an unknown kind of software"
        if let repository = e.repository { what += " from \(repository)" + (e.path.map { " (\($0))" } ?? "") }
        if let query = e.parameters["QUERY"] { what += ": \(query.prefix(120))" }
        var parts = [what]
        if !r.data.isEmpty { parts.append("\(r.data.count) data item(s)") }
        if let cores = r.cores { parts.append("cores \(cores.min.map { "≥ \($0)" } ?? "")\(cores.max.map { " ≤ \($0)" } ?? "")") }
        if let memory = r.memory { parts.append("memory \(memory.min.map { "≥ \($0)" } ?? "")\(memory.max.map { " ≤ \($0)" } ?? "") GiB") }
        if let duration = r.duration { parts.append("for \(duration)") }
        return parts.joined(separator: "; ") + "."
    }

    static func offer(_ s: SessionRecord, position: Int, ranking: RankOrder?, now: Date) -> [String: Any] {
        let phase = s.phase(at: now)
        var why = ["#\(position) by \(rankingWords(ranking ?? .locality))"]
        why.append("starts \(s.start <= now.addingTimeInterval(60) ? "now" : "at " + Timestamp.format(s.start))")
        if let staging = s.staging, staging > 0 { why.append("data staged in about \(Int(staging.rounded())) s") }
        return [
            "id": s.id.lowercasedText,
            "facility": s.facility.rawValue,
            "facilityName": s.facilityName,
            "facilityPath": facilityPath(s.facility),
            "start": Timestamp.format(s.start),
            "end": Timestamp.format(s.end),
            "cores": s.cores,
            "memory": s.memory,
            "duration": s.duration.description,
            "expires": Timestamp.format(s.expires),
            "expiresIn": max(0, Int(s.expires.timeIntervalSince(now))),
            "phase": phase.rawValue,
            "open": phase == .offered,
            "why": why.joined(separator: "; "),
        ]
    }

    static func rankingWords(_ order: RankOrder) -> String {
        switch order {
        case .locality: return "data locality (least staging, most data held, then headroom)"
        case .earliestStart: return "earliest start"
        case .resources: return "most headroom above what is asked"
        case .load: return "least load at the last health check"
        case .cost: return "lowest declared cost"
        }
    }

    /// The facilities a reason group names on the page; the rest are counted (a request thousands of facilities cannot
    /// take keeps its page small; every reason is in the API's offer set).
    static let shownPerGroup = 25

    /// Rejections grouped by their first reason, the largest group first.
    static func rejectionGroups(_ rejections: [MatchRejection], audience: ReasonAudience) -> [[String: Any]] {
        var groups: [MatchReasonCode: [MatchRejection]] = [:]
        for r in rejections {
            guard let first = r.reasons.first else { continue }
            groups[first.code, default: []].append(r)
        }
        return groups.sorted { ($0.value.count, $1.key.rawValue) > ($1.value.count, $0.key.rawValue) }.map { code, members in
            var group: [String: Any] = [
                "code": code.rawValue,
                "title": reasonTitle(code),
                "count": members.count,
                "facilities": members.prefix(shownPerGroup).map { r in
                    [
                        "facility": r.facility.rawValue,
                        "facilityPath": facilityPath(r.facility),
                        "reasons": r.reasons.map { $0.message(for: audience) }.joined(separator: "; "),
                    ]
                },
            ]
            // A section shows for any number, 0 too: set only when some are left out.
            if members.count > shownPerGroup { group["more"] = members.count - shownPerGroup }
            return group
        }
    }

    /// A reason code in plain words, as a group's heading.
    static func reasonTitle(_ code: MatchReasonCode) -> String {
        switch code {
        case .facilityNotActive: return "Not taking new work (draining or disabled)"
        case .kindNotAccepted: return "Does not run this kind of software"
        case .coresExceedLimit, .memoryExceedLimit, .durationExceedLimit, .gpusExceedLimit, .scratchExceedLimit:
            return "Asks for more than one job may have there"
        case .coresExceedCapacity, .memoryExceedCapacity, .gpusExceedCapacity: return "Asks for more than the facility has in all"
        case .dataNotColocated: return "Does not hold the data"
        case .facilityUnavailable: return "Failed its last health check"
        case .brokerNoOffers: return "Another broker had no offer"
        case .brokerLate: return "Another broker did not answer in time"
        case .brokerUnreachable: return "Another broker could not be reached"
        case .federationLoop: return "The request already passed through that broker"
        case .notAuthorized: return "Not open to you"
        case .architectureNotSupported: return "Runs no matching CPU architecture"
        case .gpuModelNotAvailable, .gpuMemoryTooSmall: return "Has no suitable GPU"
        case .runtimeNotAvailable, .environmentNotAvailable: return "Lacks the software environment"
        case .imageRegistryNotAllowed: return "May not pull the container image"
        }
    }

    // MARK: Sessions

    /// A session as its page and its live updates show it. `revealed`: the session as its owner sees it (with the
    /// notebook's token in its link), else the link is left out.
    static func session(_ s: SessionRecord, now: Date, mine: Bool) -> [String: Any] {
        let phase = s.phase(at: now)
        var values: [String: Any] = [
            "id": s.id.lowercasedText,
            "offerSet": s.offerSet.lowercasedText,
            "phase": phase.rawValue,
            "final": phase.isFinal,
            "facility": s.facility.rawValue,
            "facilityName": s.facilityName,
            "facilityPath": facilityPath(s.facility),
            "start": Timestamp.format(s.start),
            "cores": s.cores,
            "memory": s.memory,
            "duration": s.duration.description,
            "kind": s.executable.kind?.rawValue ?? "",
            "cancellable": [.accepted, .waiting, .preparing, .available, .running].contains(phase),
            "acceptable": phase == .offered,
            "results": (s.remote?.results ?? []).filter { $0.id != "notebook" && isWebLink($0.href) }.map { ["id": $0.id, "href": $0.href, "type": $0.mimeType ?? ""] },
        ]
        if let message = s.message { values["message"] = message }
        if let remote = s.remote {
            if let url = remote.url, isWebLink(url) { values["remoteLink"] = url }
            if let word = remote.remotePhase { values["remotePhase"] = word }
            if let progress = remote.progress { values["progress"] = progress }
            if let error = remote.error { values["error"] = error }
            if mine, let access = remote.access, isWebLink(access), [.available, .running].contains(phase) { values["notebookLink"] = access }
        }
        if !mine, s.remote?.access != nil, [.available, .running].contains(phase) { values["notebookHidden"] = true }
        return values
    }

    /// Whether a link a facility gave may be put on a page: http or https only.
    static func isWebLink(_ link: String) -> Bool {
        let lower = link.lowercased()
        return lower.hasPrefix("https://") || lower.hasPrefix("http://")
    }

    /// The line a progress log shows for a session as it is now: its phase, the facility's word and message.
    static func progressLine(_ view: [String: Any]) -> String {
        var parts = [view["phase"] as? String ?? ""]
        if let word = view["remotePhase"] as? String { parts.append(word) }
        if let progress = view["progress"] as? String {
            parts.append(progress)
        } else if let message = view["message"] as? String {
            parts.append(message)
        }
        return parts.joined(separator: " · ")
    }

    /// A session's view as the live updates send it (JSON).
    static func sessionEvent(_ view: [String: Any]) -> String {
        var object: [String: JSONValue] = [:]
        for key in ["id", "phase", "remotePhase", "progress", "message", "error", "remoteLink", "notebookLink"] {
            if let text = view[key] as? String { object[key] = .string(text) }
        }
        object["final"] = .bool(view["final"] as? Bool ?? false)
        object["cancellable"] = .bool(view["cancellable"] as? Bool ?? false)
        object["line"] = .string(progressLine(view))
        let results = (view["results"] as? [[String: String]] ?? []).map { r in
            JSONValue.object(["id": .string(r["id"] ?? ""), "href": .string(r["href"] ?? "")])
        }
        object["results"] = .array(results)
        return (try? CanonicalJSON.encode(JSONValue.object(object))) ?? "{}"
    }

    /// `/ui/facilities/<id>`, the identifier as one path segment (as the API's own location spells it).
    static func facilityPath(_ id: FacilityID) -> String { "/ui" + FacilityController.location(id) }
}

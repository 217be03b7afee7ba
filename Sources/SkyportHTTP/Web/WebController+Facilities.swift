import Foundation
import Hummingbird
import SkyportBroker
import SkyportCore

/// The facility pages: the catalogue, a page per facility with its capacity picture, and its operator's editing,
/// draining, disabling and refreshing.
extension WebController {
    static let pageSize = 50
    /// The most sessions a capacity picture is drawn from (its title says so when there are more).
    static let maxHolds = 5_000

    func registerFacilityPages(on routes: RouteCollection<SkyportRequestContext>) {
        routes.get("/ui/facilities") { request, context in try await page(request, context) { visit in try await catalogue(request, visit) } }
        routes.get("/ui/facilities/{id}") { request, context in
            try await page(request, context) { visit in try await facilityPage(try FacilityController.pathID(context), request, visit) }
        }
        routes.get("/ui/facilities/{id}/capacity.svg") { request, context in
            try await page(request, context) { _ in
                let facility = try await deps.broker.facilities.facility(try FacilityController.pathID(context))
                var headers = WebSecurity.headers
                headers[.contentType] = "image/svg+xml"
                let svg = try await capacity(facility, hours: try Self.hours(request)).svg
                return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: svg)))
            }
        }
        routes.get("/ui/facilities/{id}/edit") { request, context in
            try await page(request, context) { visit in
                let facility = try await ownFacility(try FacilityController.pathID(context), visit)
                return WebRenderer.page("edit", visit.values(try await editValues(facility, yaml: nil)))
            }
        }
        routes.post("/ui/facilities/{id}/edit") { request, context in
            try await page(request, context) { visit in
                let facility = try await ownFacility(try FacilityController.pathID(context), visit)
                let form = try await visit.form(request)
                let yaml = form.fields["yaml"]?.first ?? ""
                do {
                    let document: JSONValue
                    do { document = try YAMLBridge.parse(yaml) } catch {
                        throw ValidationFailure([FieldError("yaml", "is not YAML: \(Documents.describe(error))")])
                    }
                    try APIContract.checkBody(document, .put, "/facilities/{id}")
                    let saved = try await deps.broker.facilities.replace(facility.id, with: document, by: visit.owner(of: facility), logger: context.logger)
                    return WebRenderer.redirect(WebViews.facilityPath(saved.id) + "?saved=1")
                } catch let failure as ValidationFailure {
                    var values = try await editValues(facility, yaml: yaml)
                    values["errors"] = failure.errors.map { error -> [String: Any] in
                        var shown: [String: Any] = ["field": error.field, "message": error.message]
                        if let line = YAMLBridge.line(of: error.field, in: yaml) { shown["line"] = line }
                        return shown
                    }
                    return WebRenderer.page("edit", visit.values(values), status: .badRequest)
                }
            }
        }
        routes.post("/ui/facilities/{id}/status") { request, context in
            try await page(request, context) { visit in
                let facility = try await ownFacility(try FacilityController.pathID(context), visit)
                let form = try await visit.form(request)
                guard let word = form["status"], let status = FacilityStatus(rawValue: word) else {
                    throw APIError.badRequest("say which status: active, draining or disabled", field: "status")
                }
                guard let stored = try await deps.broker.store.facilityJSON(facility.id), case .object(var document) = try JSONValue.parse(Data(stored.utf8)) else {
                    throw APIError.notFound("facility '\(facility.id)'")
                }
                document["status"] = .string(status.rawValue)
                let saved = try await deps.broker.facilities.replace(facility.id, with: .object(document), by: visit.owner(of: facility), logger: context.logger)
                return WebRenderer.redirect(WebViews.facilityPath(saved.id))
            }
        }
        routes.post("/ui/facilities/{id}/refresh") { request, context in
            try await page(request, context) { visit in
                let id = try FacilityController.pathID(context)
                _ = try await visit.form(request)
                let name = try visit.context.operatorName()
                let refreshed = try await deps.broker.facilities.refresh(id, by: name, logger: context.logger)
                return WebRenderer.redirect(WebViews.facilityPath(refreshed.id) + "?refreshed=1")
            }
        }
    }

    // MARK: The catalogue

    func catalogue(_ request: Request, _ visit: WebVisit) async throws -> Response {
        let query = request.uri.queryParameters
        let text = query.get("q")?.trimmingSpaces().lowercased() ?? ""
        let kind = query.get("kind").flatMap { $0.isEmpty ? nil : $0 }
        let status = query.get("status").flatMap { $0.isEmpty ? nil : $0 }
        let health = query.get("health").flatMap { $0.isEmpty ? nil : $0 }
        if let status, FacilityStatus(rawValue: status) == nil { throw APIError.badRequest("'\(status)' is not one of active, draining, disabled", field: "status") }
        if let health, !["healthy", "unavailable", "unknown"].contains(health) {
            throw APIError.badRequest("'\(health)' is not one of healthy, unavailable, unknown", field: "health")
        }
        let pageNumber = try Self.page(request)
        let board = deps.broker.health?.board
        // The match index: every facility, decoded once per change of the catalogue, not per page view.
        let all = try await deps.broker.store.matchIndex().facilities
        let selected = all.filter { f in
            (text.isEmpty || f.id.key.contains(text) || f.name.lowercased().contains(text) || f.description.lowercased().contains(text))
                && (kind.map { k in f.accepts.contains { $0.rawValue == k } } ?? true)
                && (status.map { $0 == f.status.rawValue } ?? true)
                && (health.map { $0 == Self.healthWord(board?[f.id]) } ?? true)
        }
        let pages = max(1, (selected.count + Self.pageSize - 1) / Self.pageSize)
        let current = min(pageNumber, pages)
        let rows = selected.dropFirst((current - 1) * Self.pageSize).prefix(Self.pageSize).map { f -> [String: Any] in
            [
                "id": f.id.rawValue, "name": f.name, "path": WebViews.facilityPath(f.id), "status": f.status.rawValue,
                "kinds": f.accepts.map(\.rawValue).joined(separator: ", "), "health": Self.healthWord(board?[f.id]),
                "cores": f.capacity.cores.map(String.init) ?? "–",
            ]
        }
        func link(_ page: Int) -> String {
            var items = [URLQueryItem(name: "page", value: String(page))]
            for (name, value) in [("q", query.get("q")), ("kind", kind), ("status", status), ("health", health)] {
                if let value, !value.isEmpty { items.insert(URLQueryItem(name: name, value: value), at: items.count - 1) }
            }
            var components = URLComponents()
            components.queryItems = items
            return "/ui/facilities?" + (components.percentEncodedQuery ?? "")
        }
        var values: [String: Any] = [
            "title": "Facilities", "nav-facilities": true, "facilities": rows, "count": selected.count, "total": all.count,
            "q": query.get("q") ?? "", "page": current, "pages": pages,
            "kinds": ExecutableKind.knownAliases.map { ["value": $0, "selected": $0 == kind] },
            "statuses": ["active", "draining", "disabled"].map { ["value": $0, "selected": $0 == status] },
            "healths": ["healthy", "unavailable", "unknown"].map { ["value": $0, "selected": $0 == health] },
        ]
        if current > 1 { values["previous"] = link(current - 1) }
        if current < pages { values["next"] = link(current + 1) }
        return WebRenderer.page("facilities", visit.values(values))
    }

    static func healthWord(_ health: FacilityHealth?) -> String { health?.status.rawValue ?? "unknown" }

    // MARK: One facility

    func facilityPage(_ id: FacilityID, _ request: Request, _ visit: WebVisit) async throws -> Response {
        let facility = try await deps.broker.facilities.facility(id)
        let isOwner = visit.operatorName == facility.owner
        let seesDetails = visit.context.reasonAudience == .operator
        let hours = try Self.hours(request)
        let picture = try await capacity(facility, hours: hours)
        // The holds listed a page at a time (a busy facility has thousands: all of them made a page of megabytes).
        let holdPages = max(1, (picture.holds.count + Self.pageSize - 1) / Self.pageSize)
        let holdPage = min(try Self.page(request), holdPages)
        let listed = picture.holds.dropFirst((holdPage - 1) * Self.pageSize).prefix(Self.pageSize)
        func holdsLink(_ page: Int) -> String { WebViews.facilityPath(facility.id) + "?hours=\(hours)&page=\(page)#holds" }
        var values: [String: Any] = [
            "title": facility.name, "nav-facilities": true, "id": facility.id.rawValue, "name": facility.name,
            "description": facility.description, "status": facility.status.rawValue, "owner": facility.owner,
            "path": WebViews.facilityPath(facility.id), "isOwner": isOwner,
            "statusActive": facility.status == .active, "statusDraining": facility.status == .draining, "statusDisabled": facility.status == .disabled,
            "canRefresh": visit.operatorName != nil && (isOwner || facility.owner == FacilityCatalog.registryOwner),
            "kinds": facility.accepts.map(\.rawValue),
            "endpoints": facility.endpoints.map { ["kind": $0.kind.rawValue, "url": $0.url] },
            "limits": Self.pairs([
                ("cores per job", facility.limits.cores.map(String.init)), ("memory per job (GiB)", facility.limits.memory.map(String.init)),
                ("longest job", facility.limits.duration?.description), ("GPUs per job", facility.limits.gpus.map(String.init)),
                ("scratch per job (GiB)", facility.limits.scratch.map(String.init)),
            ]),
            "capacityFacts": Self.pairs([
                ("cores", facility.capacity.cores.map(String.init)), ("memory (GiB)", facility.capacity.memory.map(String.init)),
                ("GPUs", facility.capacity.gpus.map(String.init)), ("Rucio storage elements", facility.data.rses.isEmpty ? nil : facility.data.rses.joined(separator: ", ")),
            ]),
            "created": Timestamp.format(facility.created), "modified": Timestamp.format(facility.modified),
            "svg": picture.svg, "hours": hours,
            "hourChoices": [12, 48, 168].map { ["hours": $0, "current": $0 == hours, "href": WebViews.facilityPath(facility.id) + "?hours=\($0)"] },
            // What holds it, one by one, for operators (whose work it is to know); everyone sees the picture and the count.
            "holds": !seesDetails ? [[String: Any]]() : listed.map { h -> [String: Any] in
                [
                    "phase": h.phase.rawValue, "start": Timestamp.format(h.booking.start), "end": Timestamp.format(h.booking.end),
                    "cores": h.booking.cores, "memory": h.booking.memory, "link": "/ui/sessions/\(h.session.lowercasedText)",
                ]
            },
            "holdCount": picture.holds.count, "seesHolds": seesDetails, "holdPage": holdPage, "holdPages": holdPages,
            "previousHolds": seesDetails && holdPage > 1 ? holdsLink(holdPage - 1) : "",
            "nextHolds": seesDetails && holdPage < holdPages ? holdsLink(holdPage + 1) : "",
            "saved": request.uri.queryParameters.get("saved") != nil,
            "refreshed": request.uri.queryParameters.get("refreshed") != nil,
        ]
        if let health = deps.broker.health?.board[facility.id] {
            var h: [String: Any] = ["status": health.status.rawValue, "checked": Timestamp.format(health.checked), "since": Timestamp.format(health.since)]
            if let reason = health.reason { h["reason"] = seesDetails ? RemoteText.clip(reason) : "failed its last health check" }
            values["health"] = h
        }
        let history = try await deps.broker.store.audit(AuditQuery(action: .facilityHealth, target: "facility:" + facility.id.rawValue, limit: 20))
        values["history"] = history.map { e -> [String: Any] in
            let detail = e.detail ?? ""
            let status = String(detail.prefix { $0 != ":" })
            return ["time": Timestamp.format(e.time), "status": status, "detail": seesDetails ? detail : status]
        }
        if let provenance = facility.provenance {
            values["provenance"] = provenance.fields.sorted { $0.key < $1.key }.map { field, origin in
                ["field": field, "source": origin.source.rawValue, "by": origin.by ?? "", "at": Timestamp.format(origin.at)]
            }
            if let record = provenance.registry { values["registryRecord"] = record.identifier }
            if let harvested = provenance.lastHarvested { values["lastHarvested"] = Timestamp.format(harvested) }
            if let capabilities = provenance.capabilities { values["capabilitiesURL"] = capabilities }
            if let refreshed = provenance.refreshed { values["refreshedAt"] = Timestamp.format(refreshed) }
        }
        return WebRenderer.page("facility", visit.values(values))
    }

    /// The capacity picture of the next `hours`, from the sessions that hold the facility then.
    func capacity(_ facility: Facility, hours: Int) async throws -> (svg: String, holds: [Holding]) {
        let now = deps.now
        let end = now.addingTimeInterval(TimeInterval(hours) * 3600)
        let holds = try await deps.broker.store.holdings(of: facility.id, from: now, to: end, limit: Self.maxHolds)
        let picture = CapacityPicture(capacity: facility.capacity.cores, holds: holds.map(\.booking), from: now, to: end)
        let cut = holds.count == Self.maxHolds ? " (the first \(Self.maxHolds) sessions that hold it)" : ""
        return (picture.svg(title: "Capacity of \(facility.name) over the next \(hours) hours" + cut), holds)
    }

    /// The page asked for (1 without one); one past the last shows the last (the caller clamps).
    static func page(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters.get("page") else { return 1 }
        guard let page = Int(text), page >= 1 else { throw APIError.badRequest("'\(text)' is not a page number (1 or more)", field: "page") }
        return page
    }

    static func hours(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters.get("hours") else { return 48 }
        guard let hours = Int(text), (1...336).contains(hours) else { throw APIError.badRequest("'\(text)' is not 1 to 336 hours", field: "hours") }
        return hours
    }

    static func pairs(_ items: [(String, String?)]) -> [[String: String]] {
        items.compactMap { name, value in value.map { ["name": name, "value": $0] } }
    }

    // MARK: Editing

    /// The facility, when the visitor is its operator (403 for another operator, 401 without one).
    func ownFacility(_ id: FacilityID, _ visit: WebVisit) async throws -> Facility {
        let name = try visit.context.operatorName()
        let facility = try await deps.broker.facilities.facility(id)
        guard facility.owner == name else { throw BrokerError.notOwner(facility.id) }
        return facility
    }

    /// The edit page's values: the facility's document as YAML (what its operator wrote, less what the server sets).
    func editValues(_ facility: Facility, yaml: String?) async throws -> [String: Any] {
        var text = yaml ?? ""
        if yaml == nil, let stored = try await deps.broker.store.facilityJSON(facility.id), case .object(var document) = try JSONValue.parse(Data(stored.utf8)) {
            for key in ["owner", "created", "modified", "provenance", "health"] { document[key] = nil }
            text = try YAMLBridge.serialize(.object(document))
        }
        return [
            "title": "Edit \(facility.name)", "nav-facilities": true, "name": facility.name, "id": facility.id.rawValue,
            "path": WebViews.facilityPath(facility.id), "yaml": text,
        ]
    }
}

extension WebVisit {
    /// The operator who writes `facility` (its owner; checked by `ownFacility`).
    func owner(of facility: Facility) -> String { operatorName ?? facility.owner }
}

import Foundation
import Hummingbird
import SkyportBroker
import SkyportCore

/// Quotas and usage (`GET /usage` for a signed-in scientist; `GET/PUT/DELETE /quotas` for admins) and the audit
/// record (`GET /audit`, admins).
struct AccountsController: Controller {
    let deps: APIDependencies

    func register(on table: inout RouteTable<SkyportRequestContext>) {
        table.add(.get, "/usage") { request, context in
            let query = request.uri.queryParameters
            if let named = query["account"] {
                _ = try context.requireAdmin(mode: deps.auth)
                let account = try Self.account(String(named), field: "account")
                return try Representation.response(try await deps.broker.quotas.usage(of: account, now: deps.now), for: request)
            }
            guard case .identity(let identity, _) = context.caller else {
                try context.requireSignedIn()
                throw APIError(.forbidden, code: "forbidden", "usage is counted for signed-in scientists; an admin names an account: /usage?account=user:ISSUER%23SUBJECT (the # percent-encoded)")
            }
            let reports = try await deps.broker.quotas.usage(of: identity, now: deps.now)
            return try Representation.response(["accounts": reports], for: request)
        }

        table.add(.get, "/quotas") { request, context in
            _ = try context.requireAdmin(mode: deps.auth)
            return try Representation.response(["quotas": try await deps.broker.quotas.list()], for: request)
        }

        table.add(.put, "/quotas") { request, context in
            let actor = try context.requireAdmin(mode: deps.auth)
            guard case .object(var body) = try await APIContract.readBody(request, limit: deps.maxBodyBytes, .put, "/quotas") else {
                throw ValidationFailure([FieldError("body", "must be an object: {\"account\": \"group:/skao\", \"offeredCores\": 64}")])
            }
            guard let named = body.removeValue(forKey: "account")?.stringValue else {
                throw ValidationFailure([FieldError("account", "is required: user:issuer#subject, user:* or group:name")])
            }
            let account = try Self.account(named, field: "account")
            let (limits, replaced) = try await deps.broker.quotas.set(account, .object(body), by: actor, logger: context.logger)
            let entry = QuotaEntry(account: account, limits: limits, source: "api", modified: deps.now, by: actor)
            return try Representation.response(entry, status: replaced ? .ok : .created, for: request)
        }

        table.add(.delete, "/quotas") { request, context in
            let actor = try context.requireAdmin(mode: deps.auth)
            guard let named = request.uri.queryParameters["account"] else {
                throw ValidationFailure([FieldError("account", "is required: DELETE /quotas?account=group:/skao")])
            }
            let account = try Self.account(String(named), field: "account")
            guard try await deps.broker.quotas.remove(account, by: actor, logger: context.logger) else {
                throw APIError.notFound("a quota set through the API for \(account)")
            }
            return Response(status: .noContent)
        }

        table.add(.get, "/audit") { request, context in
            _ = try context.requireAdmin(mode: deps.auth)
            let events = try await deps.broker.audit.events(try Self.auditQuery(request.uri.queryParameters))
            return try Representation.response(["events": events.map(AuditView.init)], for: request)
        }
    }

    static func account(_ text: String, field: String) throws -> Account {
        switch Account.parse(text) {
        case .success(let a): return a
        case .failure(let e): throw ValidationFailure([FieldError(field, e.message)])
        }
    }

    static func auditQuery(_ q: Parameters) throws -> AuditQuery {
        var errors = FieldErrors()
        var query = AuditQuery()
        query.actor = q["actor"].map(String.init)
        query.target = q["target"].map(String.init)
        if let a = q["action"] {
            query.action = AuditAction(rawValue: String(a))
            if query.action == nil { errors.add("action", "'\(a)' is none of \(AuditAction.allCases.map(\.rawValue).joined(separator: ", "))") }
        }
        if let s = q["since"] {
            query.since = Timestamp.parse(String(s))
            if query.since == nil { errors.add("since", "'\(s)' is not an ISO 8601 time (2026-12-05T10:00:00Z)") }
        }
        if let b = q["before"] {
            query.before = Int64(String(b))
            if query.before == nil { errors.add("before", "must be an event number (a whole number that fits 64 bits)") }
        }
        if let l = q["limit"] {
            if let n = Int(String(l)), n >= 1, n <= 1_000 { query.limit = n } else { errors.add("limit", "must be a whole number from 1 to 1000") }
        }
        try errors.check()
        return query
    }
}

/// An audit event as the API writes it.
struct AuditView: Encodable {
    var seq: Int64?
    var time: String
    var actor: String
    var action: String
    var target: String
    var detail: String?

    init(_ e: AuditEvent) {
        (seq, time, actor, action, target, detail) = (e.seq, Timestamp.format(e.time), e.actor, e.action.rawValue, e.target, e.detail)
    }
}

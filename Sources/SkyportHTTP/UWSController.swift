import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SkyportBroker
import SkyportCore
import SkyportXML

/// Skyport's own UWS 1.1 job interface at `/uws/jobs`, so that any UWS client (pyvo) can drive the broker: parses
/// UWS parameters, calls `UWSJobs`, and writes UWS documents (XML, or JSON when asked). Jobs belong to the caller's
/// bearer token; another owner's job is 404.
struct UWSController: Controller {
    let deps: APIDependencies
    var jobs: UWSJobs { deps.broker.uwsJobs }

    func register(on table: inout RouteTable<SkyportRequestContext>) {
        table.add(.get, "/uws/types") { request, _ in
            try Representation.response(UWSJobType.catalogue, for: request)
        }

        table.add(.get, "/uws/jobs") { request, context in
            let owner = try context.uwsOwner()
            let query = try Self.listQuery(try UWSForm(encoded: request.uri.query ?? ""), owner: owner, now: deps.now)
            let base = ExecutionController.base(request) + "/uws/jobs"
            let refs = try await jobs.list(query).map { listed in
                UWSJobRef(
                    id: listed.job.id, href: "\(base)/\(listed.job.id)", phase: listed.phase, runId: listed.job.runId,
                    ownerId: listed.job.owner, creationTime: listed.job.created)
            }
            if Self.wantsJSON(request) { return try Representation.response(["jobs": refs], for: request) }
            return Self.xml(UWSXMLWriter.jobList(refs, baseURL: base))
        }

        table.add(.post, "/uws/jobs") { request, context in
            let owner = try context.uwsOwner()
            let form = try await UWSForm.read(request, limit: deps.maxBodyBytes)
            let job = try await jobs.create(
                try Self.draft(form), owner: owner, groups: context.scientistGroups, bearer: context.bearer, logger: context.logger)
            return Self.seeOther(ExecutionController.base(request) + "/uws/jobs/\(job.id)")
        }

        registerJob(on: &table)
        registerJobProperties(on: &table)
    }

    /// One job: read (with `WAIT`), delete, change its phase.
    func registerJob(on table: inout RouteTable<SkyportRequestContext>) {
        table.add(.get, "/uws/jobs/{id}") { request, context in
            let owner = try context.uwsOwner()
            let form = try UWSForm(encoded: request.uri.query ?? "")
            let id = try context.parameter("id")
            let (job, session) = if let seconds = try Self.waitSeconds(form) {
                try await jobs.job(id, owner: owner, waiting: seconds, while: try form.single("phase", field: "PHASE").map(Self.phase), logger: context.logger)
            } else {
                try await jobs.job(id, owner: owner, logger: context.logger)
            }
            let view = Self.view(job, session, base: ExecutionController.base(request))
            if Self.wantsJSON(request) { return try Representation.response(view, for: request) }
            return Self.xml(UWSXMLWriter.job(view))
        }

        table.add(.post, "/uws/jobs/{id}") { request, context in
            let owner = try context.uwsOwner()
            let form = try await UWSForm.read(request, limit: deps.maxBodyBytes)
            let id = try context.parameter("id")
            _ = try await jobs.job(id, owner: owner, logger: context.logger)
            guard try form.single("action", field: "ACTION")?.uppercased() == "DELETE" else {
                throw APIError.badRequest("POST to a job takes ACTION=DELETE; change a job through its phase, executionduration and destruction", field: "ACTION")
            }
            try await jobs.destroy(id, owner: owner, logger: context.logger)
            return Self.seeOther(ExecutionController.base(request) + "/uws/jobs")
        }

        table.add(.delete, "/uws/jobs/{id}") { request, context in
            try await jobs.destroy(try context.parameter("id"), owner: try context.uwsOwner(), logger: context.logger)
            return Self.seeOther(ExecutionController.base(request) + "/uws/jobs")
        }

        table.add(.get, "/uws/jobs/{id}/phase") { _, context in
            let (job, session) = try await load(context)
            return Self.text(job.phase(session: session?.phase).rawValue)
        }

        table.add(.post, "/uws/jobs/{id}/phase") { request, context in
            let owner = try context.uwsOwner()
            let form = try await UWSForm.read(request, limit: deps.maxBodyBytes)
            let id = try context.parameter("id")
            _ = try await jobs.job(id, owner: owner, logger: context.logger)
            let event: UWSJobLifecycle.Event
            switch try form.single("phase", field: "PHASE")?.uppercased() {
            case "RUN": event = .run
            case "ABORT": event = .abort
            case let other:
                throw APIError.badRequest("PHASE must be RUN or ABORT\(other.map { ", not '\($0)'" } ?? "")", field: "PHASE")
            }
            try await jobs.act(event, on: id, owner: owner, bearer: context.bearer, logger: context.logger)
            return Self.seeOther(ExecutionController.base(request) + "/uws/jobs/\(id)")
        }

    }

    /// A job's properties as UWS 1.1 sub-resources: execution duration, destruction, error, quote, parameters,
    /// results, owner.
    func registerJobProperties(on table: inout RouteTable<SkyportRequestContext>) {
        table.add(.get, "/uws/jobs/{id}/executionduration") { _, context in
            let (job, session) = try await load(context)
            return Self.text(String(Self.view(job, session, base: "").executionDuration ?? 0))
        }

        table.add(.post, "/uws/jobs/{id}/executionduration") { request, context in
            let owner = try context.uwsOwner()
            let form = try await UWSForm.read(request, limit: deps.maxBodyBytes)
            let id = try context.parameter("id")
            _ = try await jobs.job(id, owner: owner, logger: context.logger)
            guard let text = try form.single("executionduration", field: "EXECUTIONDURATION") else {
                throw APIError.badRequest("EXECUTIONDURATION is missing: give whole seconds (0: the broker's default)", field: "EXECUTIONDURATION")
            }
            try await jobs.setExecutionDuration(try Self.duration(text), of: id, owner: owner, logger: context.logger)
            return Self.seeOther(ExecutionController.base(request) + "/uws/jobs/\(id)")
        }

        table.add(.get, "/uws/jobs/{id}/destruction") { _, context in
            let (job, _) = try await load(context)
            return Self.text(job.destruction.map(Timestamp.format) ?? "")
        }

        table.add(.post, "/uws/jobs/{id}/destruction") { request, context in
            let owner = try context.uwsOwner()
            let form = try await UWSForm.read(request, limit: deps.maxBodyBytes)
            let id = try context.parameter("id")
            _ = try await jobs.job(id, owner: owner, logger: context.logger)
            guard let text = try form.single("destruction", field: "DESTRUCTION") else {
                throw APIError.badRequest("DESTRUCTION is missing: give an ISO-8601 UTC time such as 2026-12-01T00:00:00Z", field: "DESTRUCTION")
            }
            try await jobs.setDestruction(try Self.time(text, field: "DESTRUCTION"), of: id, owner: owner, logger: context.logger)
            return Self.seeOther(ExecutionController.base(request) + "/uws/jobs/\(id)")
        }

        table.add(.get, "/uws/jobs/{id}/error") { _, context in
            let (job, session) = try await load(context)
            let view = Self.view(job, session, base: "")
            return Self.text(view.errorMessage.map { job.errorDetail ?? $0 } ?? "")
        }

        table.add(.get, "/uws/jobs/{id}/quote") { _, context in
            let (job, _) = try await load(context)
            return Self.text(job.quote.map(Timestamp.format) ?? "")
        }

        table.add(.get, "/uws/jobs/{id}/parameters") { request, context in
            let (job, _) = try await load(context)
            if Self.wantsJSON(request) { return try Representation.response(["parameters": job.parameters], for: request) }
            return Self.xml(UWSDocuments.parameters(job.parameters))
        }

        table.add(.get, "/uws/jobs/{id}/results") { request, context in
            let (job, session) = try await load(context)
            let results = Self.view(job, session, base: ExecutionController.base(request)).results
            if Self.wantsJSON(request) { return try Representation.response(["results": results], for: request) }
            return Self.xml(UWSDocuments.results(results))
        }

        table.add(.get, "/uws/jobs/{id}/owner") { _, context in
            let (job, _) = try await load(context)
            return Self.text(job.owner)
        }
    }

    /// The caller's job named in the path, and its session.
    func load(_ context: SkyportRequestContext) async throws -> (UWSJobRecord, SessionRecord?) {
        try await jobs.job(try context.parameter("id"), owner: try context.uwsOwner(), logger: context.logger)
    }

    // MARK: parameters

    /// A new job's parameters: the control parameters apart, the rest as the job type's.
    static func draft(_ form: UWSForm) throws -> UWSJobs.Draft {
        // A new job takes no parameter it does not know, and `=x` names none.
        if let value = form.nameless.first {
            throw APIError.badRequest("a parameter has a value ('\(value.prefix(100))') but no name", field: "parameter name")
        }
        try APIContract.checkUWSDocuments(form.pairs)
        let start = try form.single("phase", field: "PHASE").map { $0.uppercased() }
        if let start, start != "RUN" {
            throw APIError.badRequest("PHASE '\(start)' cannot be given at creation: only PHASE=RUN (start at once)", field: "PHASE")
        }
        return UWSJobs.Draft(
            type: try form.single("type", field: "type"),
            parameters: form.pairs.filter { !UWSJobType.controlParameters.contains($0.name) },
            runId: try form.single("runid", field: "RUNID"),
            executionDuration: try form.single("executionduration", field: "EXECUTIONDURATION").map(duration),
            destruction: try form.single("destruction", field: "DESTRUCTION").map { try time($0, field: "DESTRUCTION") },
            run: start == "RUN")
    }

    static func listQuery(_ form: UWSForm, owner: String, now: Date) throws -> UWSJobQuery {
        var query = UWSJobQuery(owner: owner, now: now)
        query.phases = Set(try form.values("phase").map(phase))
        if let text = try form.single("after", field: "AFTER") {
            guard let after = UWSForm.time(text) else {
                throw APIError.badRequest("AFTER '\(text)' is not an ISO-8601 time such as 2026-11-01T00:00:00Z", field: "AFTER")
            }
            query.after = after
        }
        if let text = try form.single("last", field: "LAST") {
            guard let last = Int(text), last >= 0 else { throw APIError.badRequest("LAST must be a whole number of jobs, 0 or more", field: "LAST") }
            query.last = last
        }
        return query
    }

    static func phase(_ text: String) throws -> UWSPhase {
        guard let phase = UWSPhase(rawValue: text.uppercased()) else {
            throw APIError.badRequest(
                "'\(text)' is not a UWS phase: use one of \(UWSPhase.allCases.map(\.rawValue).joined(separator: ", "))", field: "PHASE")
        }
        return phase
    }

    /// `WAIT`: nil when absent; -1 is as long as the server allows (the broker caps every wait at `SKYPORT_WAIT_MAX`).
    static func waitSeconds(_ form: UWSForm) throws -> Int? {
        guard let text = try form.single("wait", field: "WAIT") else { return nil }
        let trimmed = text.trimmingSpaces()
        // A whole number past what an Int holds is still one: it asks for the longest wait, as -1 does.
        let digits = trimmed.hasPrefix("+") ? trimmed.dropFirst() : Substring(trimmed)
        if Int(trimmed) == nil, !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) { return Int.max }
        guard let n = Int(trimmed), n >= -1 else {
            throw APIError.badRequest("WAIT must be -1 (as long as the server allows) or a whole number of seconds", field: "WAIT")
        }
        return n == -1 ? Int.max : n
    }

    static func duration(_ text: String) throws -> Int {
        guard let n = Int(text.trimmingSpaces()), n >= 0, n <= Int(Int32.max) else {
            throw APIError.badRequest("EXECUTIONDURATION must be whole seconds from 0 to \(Int32.max) (0: the broker's default)", field: "EXECUTIONDURATION")
        }
        return n
    }

    /// An ISO-8601 UTC time (one without a zone is UTC), or a 400 naming `field`.
    static func time(_ text: String, field: String) throws -> Date {
        guard let time = UWSForm.time(text) else {
            throw APIError.badRequest("\(field) '\(text)' is not an ISO-8601 UTC time such as 2026-12-01T00:00:00Z", field: field)
        }
        return time
    }

    // MARK: documents

    /// The UWS job document for a stored job and its session. Results: the forwarded job's, then links to the session
    /// and offer set. `startTime` is when RUN was asked, shown once the job has left QUEUED.
    static func view(_ job: UWSJobRecord, _ session: SessionRecord?, base: String) -> UWSJob {
        let phase = job.phase(session: session?.phase)
        var results = session?.remote?.results ?? []
        if let id = job.session {
            results.append(UWSResult(id: "session", href: "\(base)/sessions/\(id.lowercasedText)", mimeType: "application/json"))
        }
        if let id = job.offerSet {
            results.append(UWSResult(id: "offerset", href: "\(base)/offersets/\(id.lowercasedText)", mimeType: "application/json"))
        }
        let error = phase == .error
            ? job.errorSummary ?? session?.message ?? session?.remote?.error ?? "the job failed at its facility" : nil
        return UWSJob(
            jobId: job.id, runId: job.runId, ownerId: job.owner, phase: phase, quote: job.quote, creationTime: job.created,
            startTime: [.pending, .queued].contains(phase) ? nil : job.started,
            endTime: phase.isFinal ? job.ended ?? session?.modified : nil,
            executionDuration: session.map { $0.duration.seconds } ?? job.executionDuration, destruction: job.destruction,
            parameters: job.parameters, results: results, errorMessage: error, errorType: error == nil ? nil : "fatal", hasErrorDetail: error != nil)
    }

    // MARK: responses

    /// JSON only when the client names `application/json` before any XML type; XML otherwise (the UWS default).
    static func wantsJSON(_ request: Request) -> Bool {
        guard let accept = request.headers[.accept]?.lowercased() else { return false }
        for part in accept.split(separator: ",") {
            let type = part.split(separator: ";").first.map { $0.trimmingSpaces() } ?? ""
            if type == "application/json" { return true }
            if type.hasSuffix("/xml") || type.hasSuffix("+xml") { return false }
        }
        return false
    }

    static func xml(_ document: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/xml; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: document)))
    }

    static func text(_ value: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: value)))
    }

    static func seeOther(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }
}

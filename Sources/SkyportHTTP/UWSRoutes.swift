import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SkyportCore

/// Skyport's own UWS 1.1 job interface at `/uws/jobs`, so that any UWS client (pyvo) can drive the broker.
/// A job of type `execute` holds a request; `RUN` negotiates it and accepts the best offer, and from then on the job
/// shows its session's phase (read on every GET). Jobs belong to the caller's bearer token; another owner's job is 404.
struct UWSRoutes {
    let deps: APIDependencies

    /// Longest a `WAIT` blocks, in seconds, and how often it looks for a change.
    static let maxWait = 60
    static let waitPoll: Duration = .milliseconds(100)
    /// How long a job lives unless its owner says otherwise, and the latest destruction Skyport accepts.
    static let defaultLifetime: TimeInterval = 7 * 86_400
    static let maxLifetime: TimeInterval = 30 * 86_400

    func register(on table: inout RouteTable<BasicRequestContext>) {
        table.add(.get, "/uws/types") { request, _ in
            try Representation.response(UWSJobType.catalogue, for: request)
        }

        table.add(.get, "/uws/jobs") { request, _ in
            let owner = try await identify(request)
            let query = try Self.listQuery(try UWSForm(encoded: request.uri.query ?? ""), owner: owner, now: deps.now())
            let base = ExecutionRoutes.base(request) + "/uws/jobs"
            let refs = try await deps.store.uwsJobs(query).map { listed in
                UWSJobRef(
                    id: listed.job.id, href: "\(base)/\(listed.job.id)", phase: listed.phase, runId: listed.job.runId,
                    ownerId: listed.job.owner, creationTime: listed.job.created)
            }
            if Self.wantsJSON(request) { return try Representation.response(["jobs": refs], for: request) }
            return Self.xml(UWSXMLWriter.jobList(refs, baseURL: base))
        }

        table.add(.post, "/uws/jobs") { request, context in
            let owner = try await identify(request)
            let form = try await UWSForm.read(request, limit: deps.maxBodyBytes)
            let job = try Self.newJob(form, owner: owner, now: deps.now())
            let start = try form.single("phase", field: "PHASE").map { $0.uppercased() }
            if let start, start != "RUN" {
                throw APIError.badRequest("PHASE '\(start)' cannot be given at creation: only PHASE=RUN (start at once)", field: "PHASE")
            }
            try await deps.store.insertUWSJob(job)
            context.logger.info("uws job created", metadata: ["job": .string(job.id), "owner": .string(owner), "type": .string(job.type)])
            if start == "RUN" { try await run(job.id, known: .pending, logger: context.logger) }
            return Self.seeOther(ExecutionRoutes.base(request) + "/uws/jobs/\(job.id)")
        }

        table.add(.get, "/uws/jobs/{id}") { request, context in
            let owner = try await identify(request)
            let form = try UWSForm(encoded: request.uri.query ?? "")
            var (job, session) = try await load(context, owner: owner)
            if let seconds = try Self.waitSeconds(form) {
                let known = job.phase(session: session?.phase)
                let awaited = try form.single("phase", field: "PHASE").map(Self.phase)
                if known.isActive, awaited == nil || awaited == known {
                    (job, session) = try await waitForChange(context, owner: owner, from: known, seconds: seconds)
                }
            }
            let view = Self.view(job, session.map(deps.reveal), base: ExecutionRoutes.base(request))
            if Self.wantsJSON(request) { return try Representation.response(view, for: request) }
            return Self.xml(UWSXMLWriter.job(view))
        }

        table.add(.post, "/uws/jobs/{id}") { request, context in
            let owner = try await identify(request)
            let form = try await UWSForm.read(request, limit: deps.maxBodyBytes)
            let (job, _) = try await load(context, owner: owner)
            guard try form.single("action", field: "ACTION")?.uppercased() == "DELETE" else {
                throw APIError.badRequest("POST to a job takes ACTION=DELETE; change a job through its phase, executionduration and destruction", field: "ACTION")
            }
            try await destroy(job, logger: context.logger)
            return Self.seeOther(ExecutionRoutes.base(request) + "/uws/jobs")
        }

        table.add(.delete, "/uws/jobs/{id}") { request, context in
            let (job, _) = try await load(context, owner: try await identify(request))
            try await destroy(job, logger: context.logger)
            return Self.seeOther(ExecutionRoutes.base(request) + "/uws/jobs")
        }

        table.add(.get, "/uws/jobs/{id}/phase") { request, context in
            let (job, session) = try await load(context, owner: try await identify(request))
            return Self.text(job.phase(session: session?.phase).rawValue)
        }

        table.add(.post, "/uws/jobs/{id}/phase") { request, context in
            let owner = try await identify(request)
            let form = try await UWSForm.read(request, limit: deps.maxBodyBytes)
            let (job, session) = try await load(context, owner: owner)
            let known = job.phase(session: session?.phase)
            switch try form.single("phase", field: "PHASE")?.uppercased() {
            case "RUN": try await run(job.id, known: known, logger: context.logger)
            case "ABORT": try await abort(job.id, known: known, logger: context.logger)
            case let other:
                throw APIError.badRequest("PHASE must be RUN or ABORT\(other.map { ", not '\($0)'" } ?? "")", field: "PHASE")
            }
            return Self.seeOther(ExecutionRoutes.base(request) + "/uws/jobs/\(job.id)")
        }

        table.add(.get, "/uws/jobs/{id}/executionduration") { request, context in
            let (job, session) = try await load(context, owner: try await identify(request))
            return Self.text(String(Self.view(job, session.map(deps.reveal), base: "").executionDuration ?? 0))
        }

        table.add(.post, "/uws/jobs/{id}/executionduration") { request, context in
            let owner = try await identify(request)
            let form = try await UWSForm.read(request, limit: deps.maxBodyBytes)
            let (job, session) = try await load(context, owner: owner)
            let known = job.phase(session: session?.phase)
            guard let text = try form.single("executionduration", field: "EXECUTIONDURATION") else {
                throw APIError.badRequest("EXECUTIONDURATION is missing: give whole seconds (0: the broker's default)", field: "EXECUTIONDURATION")
            }
            let seconds = try Self.duration(text)
            _ = try await deps.store.updateUWSJob(job.id) { j in
                guard j.phase == .pending, j.session == nil else { throw Self.illegal(j, known: known, "change its execution duration") }
                j.executionDuration = seconds
            }
            return Self.seeOther(ExecutionRoutes.base(request) + "/uws/jobs/\(job.id)")
        }

        table.add(.get, "/uws/jobs/{id}/destruction") { request, context in
            let (job, _) = try await load(context, owner: try await identify(request))
            return Self.text(job.destruction.map(Timestamp.format) ?? "")
        }

        table.add(.post, "/uws/jobs/{id}/destruction") { request, context in
            let owner = try await identify(request)
            let form = try await UWSForm.read(request, limit: deps.maxBodyBytes)
            let (job, _) = try await load(context, owner: owner)
            guard let text = try form.single("destruction", field: "DESTRUCTION") else {
                throw APIError.badRequest("DESTRUCTION is missing: give an ISO-8601 UTC time such as 2026-12-01T00:00:00Z", field: "DESTRUCTION")
            }
            let destruction = try Self.destruction(text, now: deps.now())
            _ = try await deps.store.updateUWSJob(job.id) { $0.destruction = destruction }
            return Self.seeOther(ExecutionRoutes.base(request) + "/uws/jobs/\(job.id)")
        }

        table.add(.get, "/uws/jobs/{id}/error") { request, context in
            let (job, session) = try await load(context, owner: try await identify(request))
            let view = Self.view(job, session.map(deps.reveal), base: "")
            return Self.text(view.errorMessage.map { job.errorDetail ?? $0 } ?? "")
        }

        table.add(.get, "/uws/jobs/{id}/quote") { request, context in
            let (job, _) = try await load(context, owner: try await identify(request))
            return Self.text(job.quote.map(Timestamp.format) ?? "")
        }

        table.add(.get, "/uws/jobs/{id}/parameters") { request, context in
            let (job, _) = try await load(context, owner: try await identify(request))
            if Self.wantsJSON(request) { return try Representation.response(["parameters": job.parameters], for: request) }
            return Self.xml(UWSDocuments.parameters(job.parameters))
        }

        table.add(.get, "/uws/jobs/{id}/results") { request, context in
            let (job, session) = try await load(context, owner: try await identify(request))
            let results = Self.view(job, session.map(deps.reveal), base: ExecutionRoutes.base(request)).results
            if Self.wantsJSON(request) { return try Representation.response(["results": results], for: request) }
            return Self.xml(UWSDocuments.results(results))
        }

        table.add(.get, "/uws/jobs/{id}/owner") { request, context in
            let (job, _) = try await load(context, owner: try await identify(request))
            return Self.text(job.owner)
        }
    }

    // MARK: identity and loading

    /// The caller: an operator's name for an operator token, else `user-` and the first 16 hex digits of the token's SHA-256.
    func identify(_ request: Request) async throws -> String {
        guard let header = request.headers[.authorization] else { throw Self.unauthorized }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw Self.unauthorized }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty, token.utf8.count <= 256, token.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw APIError(
                .unauthorized, code: "unauthorized", "the bearer token must be 1 to 256 printable ASCII characters",
                headers: [.wwwAuthenticate: "Bearer realm=\"skyport\", error=\"invalid_token\""])
        }
        let hash = OperatorToken.hash(token)
        if let name = try await deps.store.operatorName(forTokenHash: hash) { return name }
        return "user-" + hash.prefix(16)
    }

    static let unauthorized = APIError(
        .unauthorized, code: "unauthorized",
        "UWS jobs belong to the token that creates them: send 'Authorization: Bearer <token>' (any token of your own)",
        headers: [.wwwAuthenticate: "Bearer realm=\"skyport\""])

    /// The job named in the path and its session; 404 when there is none, it is another owner's, or it is destroyed.
    func load(_ context: BasicRequestContext, owner: String) async throws -> (UWSJobRecord, SessionRecord?) {
        let id = try context.parameters.require("id")
        guard var job = try await deps.store.uwsJob(id), job.owner == owner else { throw APIError.notFound("UWS job '\(id)'") }
        if job.phase == .queued, job.session == nil, let started = job.started,
           deps.now().timeIntervalSince(started) > Self.negotiationGrace {
            try await resumeIfStranded(job, logger: context.logger)
            job = try await deps.store.uwsJob(id) ?? job
        }
        if job.isDestroyed(at: deps.now()) {
            try await destroy(job, logger: context.logger)
            throw APIError.notFound("UWS job '\(id)'")
        }
        guard let sessionID = job.session else { return (job, nil) }
        return (job, try await deps.store.session(sessionID))
    }

    /// Blocks (polling the store, outside any transaction) until the job leaves `known` or `seconds` pass.
    func waitForChange(_ context: BasicRequestContext, owner: String, from known: UWSPhase, seconds: Int) async throws -> (UWSJobRecord, SessionRecord?) {
        let deadline = ContinuousClock.now.advanced(by: .seconds(seconds))
        var current = try await load(context, owner: owner)
        while ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: min(Self.waitPoll, deadline - ContinuousClock.now))
            current = try await load(context, owner: owner)
            if current.0.phase(session: current.1?.phase) != known { break }
        }
        return current
    }

    // MARK: lifecycle

    /// `PHASE=RUN`: negotiate the job's request and accept the best offer. The job reports QUEUED from the first moment;
    /// when negotiation gives NO, or fails, it goes to ERROR with the reasons.
    func run(_ id: String, known: UWSPhase, logger: Logger) async throws {
        let claimed = try await deps.store.updateUWSJob(id) { j in
            guard j.phase == .pending, j.session == nil else { throw Self.illegal(j, known: known, "RUN") }
            j.phase = .queued
            j.started = deps.now()
        }
        try await negotiateAndLink(id, claimed, logger: logger)
    }

    /// How long a job may stay QUEUED with no session before a reader takes it for one whose broker stopped mid-negotiation.
    static let negotiationGrace: TimeInterval = 30

    /// A job left QUEUED without a session by a broker that stopped mid-negotiation is negotiated again; the job id is
    /// the idempotency key, so this finds the offer set (and the accepted session) made before, if there was one.
    func resumeIfStranded(_ job: UWSJobRecord, logger: Logger) async throws {
        guard job.phase == .queued, job.session == nil, let started = job.started,
              deps.now().timeIntervalSince(started) > Self.negotiationGrace else { return }
        logger.notice("resuming a UWS job left mid-negotiation", metadata: ["job": .string(job.id)])
        try await negotiateAndLink(job.id, job, logger: logger)
    }

    func negotiateAndLink(_ id: String, _ claimed: UWSJobRecord, logger: Logger) async throws {
        do {
            guard let type = UWSJobType.named(claimed.type) else { throw APIError.badRequest("unknown job type '\(claimed.type)'", field: "type") }
            let parameters = Dictionary(claimed.parameters.filter { $0.id != "type" }.map { ($0.id, $0.value) }, uniquingKeysWith: { _, b in b })
            var request = try type.request(parameters, deps.now())
            if claimed.executionDuration > 0 { request.duration = ISODuration(seconds: claimed.executionDuration) }
            let (set, offers) = try await Negotiation(deps: deps).negotiateSet(
                request, idempotencyKey: "uws-job:\(id)", digest: "uws-job", now: deps.now(), logger: logger)
            let setID = set.id
            guard let best = offers.first else {
                let (summary, detail) = Self.noOffers(set)
                try await fail(id, summary: summary, detail: detail, offerSet: setID)
                logger.info("uws job negotiation gave NO", metadata: ["job": .string(id), "offerset": .string(setID.uuidString)])
                return
            }
            // An offer accepted before a restart is taken as it is.
            let accepted: SessionRecord
            if let earlier = offers.first(where: { ![.offered, .rejected, .expired].contains($0.phase) }) {
                accepted = earlier
            } else {
                accepted = try await deps.changePhase(of: best.id, to: .accepted, now: deps.now())
            }
            do {
                let linked = try await deps.store.updateUWSJob(id) { j in
                    (j.session, j.offerSet, j.quote) = (accepted.id, setID, accepted.end)
                    j.executionDuration = accepted.duration.seconds
                }
                if linked.phase == .aborted { _ = try? await deps.changePhase(of: accepted.id, to: .cancelled, now: deps.now()) }
            } catch {
                // The job was deleted meanwhile, or could not be linked: the session must not run unseen.
                _ = try? await deps.changePhase(of: accepted.id, to: .cancelled, now: deps.now())
                if case StoreError.notFound = error { return }
                throw error
            }
            logger.info("uws job running", metadata: ["job": .string(id), "session": .string(accepted.id.uuidString)])
        } catch {
            let message = Self.describe(error)
            try await fail(id, summary: "the job could not be negotiated: \(message)", detail: nil, offerSet: nil)
            logger.info("uws job failed", metadata: ["job": .string(id), "error": .string(message)])
        }
    }

    /// Records ERROR on a job still being negotiated (an ABORT or DELETE that came first wins).
    func fail(_ id: String, summary: String, detail: String?, offerSet: UUID?) async throws {
        let now = deps.now()
        _ = try await deps.store.updateUWSJob(id) { j in
            guard j.phase == .queued, j.session == nil else { return }
            (j.phase, j.ended, j.errorSummary, j.errorDetail, j.offerSet) = (.error, now, summary, detail, offerSet)
        }
    }

    /// `PHASE=ABORT`: a pending (or still negotiating) job is ABORTED at once; a running one has its session cancelled.
    func abort(_ id: String, known: UWSPhase, logger: Logger) async throws {
        let now = deps.now()
        let job = try await deps.store.updateUWSJob(id) { j in
            guard j.session == nil else { return }
            guard j.phase == .pending || j.phase == .queued else { throw Self.illegal(j, known: known, "ABORT") }
            (j.phase, j.ended) = (.aborted, now)
        }
        if let session = job.session {
            do {
                _ = try await deps.changePhase(of: session, to: .cancelled, now: now)
            } catch let refusal as SessionLifecycle.Refusal {
                let phase = try await deps.store.session(session).map { job.phase(session: $0.phase) } ?? .unknown
                throw APIError(.forbidden, code: "illegal-transition", "job \(id) is \(phase.rawValue): it cannot ABORT (\(refusal))",
                               errors: [FieldError("PHASE", "a \(phase.rawValue) job cannot ABORT")])
            }
        }
        logger.info("uws job aborted", metadata: ["job": .string(id)])
    }

    /// Deletes a job, cancelling its session first if it is still live.
    func destroy(_ job: UWSJobRecord, logger: Logger) async throws {
        if let id = job.session, let session = try await deps.store.session(id), !session.phase.isFinal {
            _ = try? await deps.changePhase(of: id, to: .cancelled, now: deps.now())
        }
        _ = try await deps.store.deleteUWSJob(job.id)
        logger.info("uws job deleted", metadata: ["job": .string(job.id)])
    }

    // MARK: documents

    /// The UWS job document for a stored job and its session. Results: the forwarded job's, then links to the session
    /// and offer set. `startTime` is when RUN was asked, shown once the job has left QUEUED.
    static func view(_ job: UWSJobRecord, _ session: SessionRecord?, base: String) -> UWSJob {
        let phase = job.phase(session: session?.phase)
        var results = session?.remote?.results ?? []
        if let id = job.session {
            results.append(UWSResult(id: "session", href: "\(base)/sessions/\(id.uuidString.lowercased())", mimeType: "application/json"))
        }
        if let id = job.offerSet {
            results.append(UWSResult(id: "offerset", href: "\(base)/offersets/\(id.uuidString.lowercased())", mimeType: "application/json"))
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

    /// The error of a job whose negotiation gave NO: one line naming every rejected facility's reasons, and a full account.
    static func noOffers(_ set: OfferSetRecord) -> (summary: String, detail: String) {
        let head = set.messages.first { $0.kind == "urn:no-offers" }?.message ?? "no facility made an offer"
        let reasons = set.rejections.map { r in "\(r.facility): \(r.reasons.map(\.message).joined(separator: ", "))" }
        var summary = "negotiation gave NO: \(head)"
        if !reasons.isEmpty {
            summary += ". " + reasons.prefix(10).joined(separator: "; ") + (reasons.count > 10 ? "; and \(reasons.count - 10) more" : "")
        }
        var detail = "negotiation gave NO (offer set \(set.id.uuidString.lowercased()))\n"
        detail += set.messages.map { "\($0.level.rawValue) \($0.kind): \($0.message)\n" }.joined()
        for r in set.rejections {
            detail += "\(r.facility) rejected:\n" + r.reasons.map { "  - \($0.code.rawValue) (\($0.field)): \($0.message)\n" }.joined()
        }
        return (summary, detail)
    }

    // MARK: parameters

    static func newJob(_ form: UWSForm, owner: String, now: Date) throws -> UWSJobRecord {
        let typeName = try form.single("type", field: "type") ?? UWSJobType.all[0].name
        guard let type = UWSJobType.named(typeName) else {
            throw APIError.badRequest(
                "unknown job type '\(typeName)': use one of \(UWSJobType.all.map(\.name).joined(separator: ", ")) (see GET /uws/types)", field: "type")
        }
        var parameters: [String: String] = [:]
        for (name, value) in form.pairs where !UWSJobType.controlParameters.contains(name) {
            guard parameters[name] == nil else { throw APIError.badRequest("\(name) is given more than once: give it once", field: name) }
            parameters[name] = value
        }
        let request = try type.request(parameters, now)
        let runId = try form.single("runid", field: "RUNID")
        if let runId, runId.isEmpty || runId.utf8.count > 256 {
            throw APIError.badRequest("RUNID must have 1 to 256 characters", field: "RUNID")
        }
        var job = UWSJobRecord(
            id: UUID().uuidString.lowercased(), owner: owner, type: type.name,
            parameters: [UWSParameter(id: "type", value: type.name)] + parameters.sorted { $0.key < $1.key }.map { UWSParameter(id: $0.key, value: $0.value) },
            runId: runId, created: now,
            executionDuration: try form.single("executionduration", field: "EXECUTIONDURATION").map(duration) ?? request.duration?.seconds ?? 0,
            destruction: now.addingTimeInterval(defaultLifetime))
        if let text = try form.single("destruction", field: "DESTRUCTION") { job.destruction = try destruction(text, now: now) }
        return job
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

    /// `WAIT`: nil when absent; -1 and anything above the cap become the cap.
    static func waitSeconds(_ form: UWSForm) throws -> Int? {
        guard let text = try form.single("wait", field: "WAIT") else { return nil }
        guard let n = Int(text.trimmingCharacters(in: .whitespaces)), n >= -1 else {
            throw APIError.badRequest("WAIT must be -1 (as long as the server allows) or a whole number of seconds", field: "WAIT")
        }
        return n == -1 ? maxWait : min(n, maxWait)
    }

    static func duration(_ text: String) throws -> Int {
        guard let n = Int(text.trimmingCharacters(in: .whitespaces)), n >= 0, n <= Int(Int32.max) else {
            throw APIError.badRequest("EXECUTIONDURATION must be whole seconds from 0 to \(Int32.max) (0: the broker's default)", field: "EXECUTIONDURATION")
        }
        return n
    }

    /// A requested destruction time: in the future; later than `maxLifetime` from now is brought forward to it.
    static func destruction(_ text: String, now: Date) throws -> Date {
        guard let time = UWSForm.time(text) else {
            throw APIError.badRequest("DESTRUCTION '\(text)' is not an ISO-8601 UTC time such as 2026-12-01T00:00:00Z", field: "DESTRUCTION")
        }
        guard time > now else { throw APIError.badRequest("DESTRUCTION must be in the future", field: "DESTRUCTION") }
        return min(time, now.addingTimeInterval(maxLifetime))
    }

    /// 403 for a phase change the job's phase does not allow (`known`: its phase as last read, for a job with a session).
    static func illegal(_ job: UWSJobRecord, known: UWSPhase, _ action: String) -> APIError {
        let phase = (job.session == nil ? job.phase : known).rawValue
        return APIError(.forbidden, code: "illegal-transition", "job \(job.id) is \(phase): it cannot \(action)",
                        errors: [FieldError("PHASE", "a \(phase) job cannot \(action)")])
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let e as APIError: return e.message
        case let e as ValidationFailure: return e.errors.map(\.description).joined(separator: "; ")
        case let e as SessionLifecycle.Refusal: return e.description
        default: return String(describing: error).prefix(300).description
        }
    }

    // MARK: responses

    /// JSON only when the client names `application/json` before any XML type; XML otherwise (the UWS default).
    static func wantsJSON(_ request: Request) -> Bool {
        guard let accept = request.headers[.accept]?.lowercased() else { return false }
        for part in accept.split(separator: ",") {
            let type = part.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
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

/// The bare `uws:parameters` and `uws:results` documents of a job's sub-resources (UWS 1.1 XSD).
enum UWSDocuments {
    static let open = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    static let namespaces = "xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\" xmlns:xlink=\"http://www.w3.org/1999/xlink\""

    static func parameters(_ parameters: [UWSParameter]) -> String {
        var out = open + "<uws:parameters \(namespaces)>\n"
        for p in parameters {
            let reference = p.byReference ? " byReference=\"true\"" : ""
            out += "  <uws:parameter id=\"\(UWSXMLWriter.escape(p.id, attribute: true))\"\(reference)>\(UWSXMLWriter.escape(p.value))</uws:parameter>\n"
        }
        return out + "</uws:parameters>\n"
    }

    static func results(_ results: [UWSResult]) -> String {
        var out = open + "<uws:results \(namespaces)>\n"
        for r in results {
            out += "  <uws:result id=\"\(UWSXMLWriter.escape(r.id, attribute: true))\" xlink:type=\"simple\" xlink:href=\"\(UWSXMLWriter.escape(r.href, attribute: true))\""
            if let size = r.size { out += " size=\"\(size)\"" }
            if let mimeType = r.mimeType { out += " mime-type=\"\(UWSXMLWriter.escape(mimeType, attribute: true))\"" }
            out += "/>\n"
        }
        return out + "</uws:results>\n"
    }
}

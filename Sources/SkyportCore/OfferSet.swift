import Foundation

/// A message on an offer set or a session, shaped like the ExecutionBroker's `MessageItem`.
public struct BrokerMessage: Sendable, Hashable, Codable {
    public enum Level: String, Sendable, Hashable, Codable { case DEBUG, INFO, WARN, ERROR }
    /// A URN naming the kind of message (`urn:resource-limit`, `urn:no-offers`, ...).
    public var kind: String
    public var level: Level
    public var time: Date
    public var message: String

    public init(kind: String, level: Level, time: Date, message: String) {
        self.kind = kind
        self.level = level
        self.time = time
        self.message = message
    }
}

/// The answer to one request, as kept: what Skyport understood, and which facilities were turned down and why.
/// Its offers are `SessionRecord`s in phase `OFFERED`.
public struct OfferSetRecord: Sendable, Hashable, Codable {
    public var id: UUID
    public var created: Date
    /// When its offers expire.
    public var expires: Date
    public var request: NormalisedRequest
    public var messages: [BrokerMessage]
    /// The facilities turned down, and why.
    public var rejections: [MatchRejection] {
        get { rejectionList.items }
        set { rejectionList = RejectionList(newValue) }
    }
    /// `rejections` with the text they are stored as.
    public private(set) var rejectionList: RejectionList
    /// The client's `Idempotency-Key`, with a digest of the request body it came with.
    public var idempotencyKey: String?
    public var requestDigest: String?
    /// Who made it when callers sign in (`SKYPORT_AUTH=oidc`): a scientist's `Identity.owner`, or the UWS job owner
    /// of a set made for a UWS job; nil for an anonymous caller or an operator. A signed-in scientist sees only
    /// their own; operators see every set.
    public var owner: String?
    /// How many facilities passed each matching clause in turn (nil in sets stored before it was kept).
    public var funnel: MatchFunnel?
    /// How the facilities that fit were ordered (nil in sets stored before it was kept).
    public var ranking: RankOrder?

    public init(
        id: UUID, created: Date, expires: Date, request: NormalisedRequest, messages: [BrokerMessage] = [],
        rejections: [MatchRejection] = [], idempotencyKey: String? = nil, requestDigest: String? = nil, owner: String? = nil
    ) {
        self.init(
            id: id, created: created, expires: expires, request: request, messages: messages, rejectionList: RejectionList(rejections),
            idempotencyKey: idempotencyKey, requestDigest: requestDigest, owner: owner)
    }

    /// A set whose rejections' stored text was written ahead (`RejectionList`).
    public init(
        id: UUID, created: Date, expires: Date, request: NormalisedRequest, messages: [BrokerMessage] = [],
        rejectionList: RejectionList, idempotencyKey: String? = nil, requestDigest: String? = nil, owner: String? = nil
    ) {
        self.owner = owner
        self.id = id
        self.created = created
        self.expires = expires
        self.request = request
        self.messages = messages
        self.rejectionList = rejectionList
        self.idempotencyKey = idempotencyKey
        self.requestDigest = requestDigest
    }

    enum CodingKeys: String, CodingKey { case id, created, expires, request, messages, rejections, idempotencyKey, requestDigest, owner, funnel, ranking }

    /// `rejections` is kept as `MatchRejection.compact`'s one text (sets stored before it hold the nested arrays,
    /// which are read too).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(UUID.self, forKey: .id)
        created = try c.decode(Date.self, forKey: .created)
        expires = try c.decode(Date.self, forKey: .expires)
        request = try c.decode(NormalisedRequest.self, forKey: .request)
        messages = StoredMessage.unpack(try c.decode([StoredMessage].self, forKey: .messages))
        if let text = try? c.decode(String.self, forKey: .rejections) {
            rejectionList = RejectionList(items: try MatchRejection.parseCompact(text), text: text)
        } else {
            rejectionList = RejectionList(try c.decode([MatchRejection].self, forKey: .rejections))
        }
        idempotencyKey = try c.decodeIfPresent(String.self, forKey: .idempotencyKey)
        requestDigest = try c.decodeIfPresent(String.self, forKey: .requestDigest)
        owner = try c.decodeIfPresent(String.self, forKey: .owner)
        funnel = try c.decodeIfPresent(MatchFunnel.self, forKey: .funnel)
        ranking = try c.decodeIfPresent(RankOrder.self, forKey: .ranking)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(created, forKey: .created)
        try c.encode(expires, forKey: .expires)
        try c.encode(request, forKey: .request)
        try c.encode(StoredMessage.pack(messages), forKey: .messages)
        try c.encode(rejectionList.text, forKey: .rejections)
        try c.encodeIfPresent(idempotencyKey, forKey: .idempotencyKey)
        try c.encodeIfPresent(requestDigest, forKey: .requestDigest)
        try c.encodeIfPresent(owner, forKey: .owner)
        try c.encodeIfPresent(funnel, forKey: .funnel)
        try c.encodeIfPresent(ranking, forKey: .ranking)
    }
}

/// Rejections with the one text they are stored as (`MatchRejection.compact`), written when the list is made: an
/// offer set's rejections are known before its offers are planned, and so are written before the store's serialized
/// write, where writing them was a twentieth of the broker's CPU under load. Equal when the rejections are (the text
/// is a function of them).
public struct RejectionList: Sendable, Hashable {
    public let items: [MatchRejection]
    public let text: String

    public init(_ items: [MatchRejection]) { (self.items, text) = (items, MatchRejection.compact(items)) }

    /// Read back: `text` is what `items` were read from.
    init(items: [MatchRejection], text: String) { (self.items, self.text) = (items, text) }

    /// These rejections and then `more` (the text written again only when there are more).
    public func adding(_ more: [MatchRejection]) -> RejectionList { more.isEmpty ? self : RejectionList(items + more) }

    public static func == (a: RejectionList, b: RejectionList) -> Bool { a.items == b.items }
    public func hash(into hasher: inout Hasher) { hasher.combine(items) }
}

extension OfferSetRecord: JSONWritable {
    /// Its `Codable` form, written by hand: the store writes one per request, inside its serialized write, where
    /// `JSONEncoder` took a seventh of the broker's CPU under load.
    public func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("created", created)
            w.field("expires", expires)
            w.field("funnel", funnel)
            w.field("id", id.text)
            w.field("idempotencyKey", idempotencyKey)
            w.field("messages", StoredMessage.pack(messages))
            w.field("owner", owner)
            w.field("ranking", ranking?.rawValue)
            w.field("rejections", rejectionList.text)
            w.field("request", request)
            w.field("requestDigest", requestDigest)
        }
    }
}

/// An offer set's messages as stored: a run of messages that differ only in the facility they name (`facility ID
/// REST`, the same kind, level, time and REST: the planner's note on each facility without room, most of a `NO`
/// set's messages) is kept once, with the facilities in order (`facilities`, and `message` the REST); every other
/// message is kept as it is. Sets stored before runs were kept have only the plain form, which reads the same.
public struct StoredMessage: Sendable, Hashable, Codable, JSONWritable {
    public var kind: String
    public var level: BrokerMessage.Level
    public var time: Date
    public var message: String
    public var facilities: [String]?

    /// The runs of `messages`, in order; a run of one facility is kept as the plain message.
    public static func pack(_ messages: [BrokerMessage]) -> [StoredMessage] {
        var out: [StoredMessage] = []
        out.reserveCapacity(min(messages.count, 8))
        for m in messages {
            guard let (facility, rest) = named(m.message) else {
                out.append(StoredMessage(kind: m.kind, level: m.level, time: m.time, message: m.message))
                continue
            }
            // Compared as bytes: `String`'s `==` holds for texts that are only canonically equivalent (`é`, `e\u{301}`),
            // and the run gives every message the first one's bytes.
            if let last = out.last, last.facilities != nil, last.level == m.level, last.time == m.time,
               last.kind.hasSameUTF8(as: m.kind), last.message.hasSameUTF8(as: rest) {
                out[out.count - 1].facilities!.append(facility)
            } else {
                out.append(StoredMessage(kind: m.kind, level: m.level, time: m.time, message: rest, facilities: [facility]))
            }
        }
        for i in out.indices where out[i].facilities?.count == 1 {
            out[i].message = "facility \(out[i].facilities![0]) \(out[i].message)"
            out[i].facilities = nil
        }
        return out
    }

    /// The messages `pack` was given.
    public static func unpack(_ stored: [StoredMessage]) -> [BrokerMessage] {
        var out: [BrokerMessage] = []
        out.reserveCapacity(stored.count)
        for s in stored {
            guard let facilities = s.facilities else {
                out.append(BrokerMessage(kind: s.kind, level: s.level, time: s.time, message: s.message))
                continue
            }
            for f in facilities { out.append(BrokerMessage(kind: s.kind, level: s.level, time: s.time, message: "facility \(f) \(s.message)")) }
        }
        return out
    }

    /// `facility ID REST` split at the first space after the ID (so that joining the parts gives the text back).
    private static func named(_ text: String) -> (String, String)? {
        let utf8 = text.utf8
        guard utf8.starts(with: "facility ".utf8) else { return nil }
        let from = utf8.index(utf8.startIndex, offsetBy: 9)
        guard let space = utf8[from...].firstIndex(of: UInt8(ascii: " ")), space > from else { return nil }
        return (String(text[from..<space]), String(text[utf8.index(after: space)...]))
    }

    public func write(to json: inout JSONWriter) {
        json.object { w in
            w.field("facilities", facilities)
            w.field("kind", kind)
            w.field("level", level.rawValue)
            w.field("message", message)
            w.field("time", time)
        }
    }
}

/// One execution session: an offer, and after acceptance the job it becomes.
public struct SessionRecord: Sendable, Hashable, Codable {
    public var id: UUID
    public var offerSet: UUID
    public var facility: FacilityID
    public var facilityName: String
    public var phase: SessionPhase
    public var created: Date
    public var modified: Date
    /// Until when the offer may be accepted (meaningful while `OFFERED`).
    public var expires: Date
    /// The negotiated resources.
    public var cores: Int
    public var memory: Int
    public var start: Date
    public var duration: ISODuration
    /// Its place in the offer set, best first.
    public var rank: Int
    public var executable: ExecutableRequest
    /// The request's data (basket items) the facility is to stage for the job; nil in sessions stored before it was kept.
    public var data: [DataItem]?
    /// The job at the facility, once the session is forwarded.
    public var remote: RemoteJob?
    /// A word for the user on how the session ended or why it failed.
    public var message: String?
    /// Where to POST a notice when the session ends, and whether that was done (or given up).
    public var callback: String?
    public var notified: Bool?
    /// Whether the callback was told that the session became `AVAILABLE` (a notebook server is up).
    public var notifiedAvailable: Bool?
    /// When the client accepted the offer (nil for an offer never accepted, and in sessions stored before it was kept).
    public var accepted: Date?
    /// Its offer set's owner (see `OfferSetRecord.owner`).
    public var owner: String?
    /// The accounts (`Account.description`: the owner, and its groups) whose quotas count it, and the facility share
    /// it is charged to (nil for an anonymous caller's, and in sessions stored before quotas).
    public var accounts: [String]?
    public var share: String?
    /// When it really started (first `RUNNING` or `AVAILABLE`) and ended after that: its usage (`UsageAccounting`).
    public var started: Date?
    public var finished: Date?
    /// The user's credential it carries to its facility (an endpoint whose credentials are `forward` or `exchange`),
    /// sealed; never shown.
    public var credential: UserCredential?
    /// GPUs offered (nil when none were asked).
    public var gpus: Int?
    /// The estimated seconds to stage in the data its facility does not hold (nil: nothing to stage, or not estimated).
    public var staging: Double?
    /// The W3C `traceparent` of the request that accepted it, when that was traced: its forwarding continues that
    /// trace, so the call that accepted it and every step after it (here and at the facility) are one trace.
    public var trace: String?

    /// Whether the session became a job: accepted by its client (then forwarded, or cancelled, or ended). An offer that
    /// expired, was rejected, or was cancelled while `OFFERED` never did. Sessions stored before `accepted` was kept
    /// are judged by their phase and whether anything was sent to the facility.
    public var becameJob: Bool {
        // A `/direct` request that found no offer never reached a facility.
        if facility == .noFacility { return false }
        if accepted != nil || SessionPhase.live.contains(phase) || phase == .completed || phase == .failed { return true }
        guard let remote else { return false }
        return remote.stage != .notSubmitted
    }

    public var end: Date { start.addingTimeInterval(TimeInterval(duration.seconds)) }

    /// The capacity it holds on its facility.
    public var booking: Booking { Booking(facility: facility, cores: cores, memory: memory, start: start, end: end) }

    /// Its phase at `now` (an offer past its expiry is `EXPIRED` even before the sweeper records it).
    public func phase(at now: Date) -> SessionPhase { SessionLifecycle.effectivePhase(phase, expires: expires, now: now) }

    /// Whether it holds capacity at `now`.
    public func holdsCapacity(at now: Date) -> Bool { SessionPhase.booking.contains(phase(at: now)) && end > now }

    public init(
        id: UUID, offerSet: UUID, facility: FacilityID, facilityName: String, phase: SessionPhase, created: Date,
        expires: Date, cores: Int, memory: Int, start: Date, duration: ISODuration, rank: Int, executable: ExecutableRequest
    ) {
        self.id = id
        self.offerSet = offerSet
        self.facility = facility
        self.facilityName = facilityName
        self.phase = phase
        self.created = created
        self.modified = created
        self.expires = expires
        self.cores = cores
        self.memory = memory
        self.start = start
        self.duration = duration
        self.rank = rank
        self.executable = executable
    }
}

/// How a session's real use is told from its writes: it starts when it is first `RUNNING` or `AVAILABLE` (one first
/// seen `COMPLETED`: at its acceptance), and ends when it reaches a final phase after that. Both stores apply it to every session they write and keep the usage it
/// gives (which outlives the session) for the quotas' rolling windows.
public enum UsageAccounting {
    /// Stamps `started` and `finished` from the session's phase and `modified` time; true when it changed either.
    @discardableResult
    public static func stamp(_ s: inout SessionRecord) -> Bool {
        var changed = false
        if s.started == nil, s.phase == .running || s.phase == .available {
            s.started = s.modified
            changed = true
        }
        // A job first seen COMPLETED (it ran between two looks, or while the broker was down) ran at some point
        // after its acceptance: counted from then, the most it can have used.
        if s.started == nil, s.phase == .completed, let accepted = s.accepted {
            s.started = min(accepted, s.modified)
            changed = true
        }
        if let started = s.started, s.finished == nil, s.phase.isFinal {
            s.finished = max(started, s.modified)
            changed = true
        }
        return changed
    }

    /// Core-seconds a use of `cores` from `started` to `finished` (nil: still going) spends inside `[from, now]`.
    public static func coreSeconds(cores: Int, started: Date, finished: Date?, from: Date, now: Date) -> Double {
        let end = min(finished ?? now, now), begin = max(started, from)
        return end > begin ? Double(cores) * end.timeIntervalSince(begin) : 0
    }
}

extension SessionLifecycle {
    /// Applies a client's phase change to a session of an offer set: returns every session that changes
    /// (the session itself, and on acceptance its siblings, `OFFERED` ones becoming `REJECTED`).
    public static func apply(
        _ target: SessionPhase, to session: SessionRecord, siblings: [SessionRecord], now: Date
    ) throws(Refusal) -> [SessionRecord] {
        let current = session.phase(at: now)
        // Only a sibling that became a job blocks: one that was turned down (rejected, or cancelled while OFFERED)
        // leaves the rest of its set acceptable.
        if target == .accepted, current == .offered || current == .rejected,
           siblings.contains(where: { $0.id != session.id && $0.becameJob }) {
            throw .siblingAccepted
        }
        var changed = session
        changed.phase = try clientTransition(from: current, to: target)
        changed.modified = now
        if changed.phase == .accepted { changed.accepted = now }
        var out = [changed]
        if changed.phase == .accepted {
            for var sibling in siblings where sibling.id != session.id && sibling.phase == .offered {
                sibling.phase = sibling.phase(at: now) == .expired ? .expired : .rejected
                sibling.modified = now
                out.append(sibling)
            }
        }
        return out
    }
}

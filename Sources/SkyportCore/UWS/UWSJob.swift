import Foundation

/// A UWS 1.1 execution phase.
public enum UWSPhase: String, Sendable, Hashable, Codable, CaseIterable {
    case pending = "PENDING"
    case queued = "QUEUED"
    case executing = "EXECUTING"
    case completed = "COMPLETED"
    case error = "ERROR"
    case aborted = "ABORTED"
    case unknown = "UNKNOWN"
    case held = "HELD"
    case suspended = "SUSPENDED"
    case archived = "ARCHIVED"

    /// Phases from which a job does not move on by itself.
    public var isFinal: Bool { [.completed, .error, .aborted, .archived].contains(self) }
    /// Phases in which a job is waiting or running (WAIT blocks on these).
    public var isActive: Bool { [.pending, .queued, .executing, .held, .suspended].contains(self) }
}

/// One result of a UWS job: its id and where to fetch it (`xlink:href`).
public struct UWSResult: Sendable, Hashable, Codable {
    public var id: String
    public var href: String
    public var mimeType: String?
    public var size: Int64?

    public init(id: String, href: String, mimeType: String? = nil, size: Int64? = nil) {
        self.id = id
        self.href = href
        self.mimeType = mimeType
        self.size = size
    }
}

/// One parameter of a UWS job.
public struct UWSParameter: Sendable, Hashable, Codable {
    public var id: String
    public var value: String
    /// True when `value` is a URL to the parameter's content (`byReference="true"`).
    public var byReference: Bool

    public init(id: String, value: String, byReference: Bool = false) {
        self.id = id
        self.value = value
        self.byReference = byReference
    }
}

/// A UWS job document (UWS 1.1 `uws:job`), as read from a facility or as Skyport serves its own jobs.
public struct UWSJob: Sendable, Hashable, Codable {
    public var jobId: String
    public var runId: String?
    public var ownerId: String?
    public var phase: UWSPhase
    public var quote: Date?
    public var creationTime: Date?
    public var startTime: Date?
    public var endTime: Date?
    /// Seconds; 0 means unlimited.
    public var executionDuration: Int?
    public var destruction: Date?
    public var parameters: [UWSParameter]
    public var results: [UWSResult]
    /// `errorSummary/message`, with its `type` (`transient` or `fatal`) and whether a detailed error document exists.
    public var errorMessage: String?
    public var errorType: String?
    public var hasErrorDetail: Bool

    public init(
        jobId: String, runId: String? = nil, ownerId: String? = nil, phase: UWSPhase, quote: Date? = nil,
        creationTime: Date? = nil, startTime: Date? = nil, endTime: Date? = nil, executionDuration: Int? = nil,
        destruction: Date? = nil, parameters: [UWSParameter] = [], results: [UWSResult] = [],
        errorMessage: String? = nil, errorType: String? = nil, hasErrorDetail: Bool = false
    ) {
        self.jobId = jobId
        self.runId = runId
        self.ownerId = ownerId
        self.phase = phase
        self.quote = quote
        self.creationTime = creationTime
        self.startTime = startTime
        self.endTime = endTime
        self.executionDuration = executionDuration
        self.destruction = destruction
        self.parameters = parameters
        self.results = results
        self.errorMessage = errorMessage
        self.errorType = errorType
        self.hasErrorDetail = hasErrorDetail
    }
}

/// One entry of a UWS job list (`uws:jobref`).
public struct UWSJobRef: Sendable, Hashable, Codable {
    public var id: String
    public var href: String?
    public var phase: UWSPhase
    public var runId: String?
    public var ownerId: String?
    public var creationTime: Date?

    public init(id: String, href: String? = nil, phase: UWSPhase, runId: String? = nil, ownerId: String? = nil, creationTime: Date? = nil) {
        self.id = id
        self.href = href
        self.phase = phase
        self.runId = runId
        self.ownerId = ownerId
        self.creationTime = creationTime
    }
}

import Foundation

/// An IVOA publishing registry (its OAI-PMH base URL) that Skyport harvests periodically for facilities.
public struct RegistrySource: Sendable, Hashable, Codable {
    /// The OAI-PMH base URL, e.g. `http://localhost:8080/oai.xml`; the source's identity (compared exactly).
    public var url: String
    /// The operator that added it (`registry` for the sources configured at start).
    public var addedBy: String
    public var added: Date
    /// When the last complete, successful harvest started: the next one asks for records changed since then
    /// (less a small overlap). Nil until the first success: the next harvest is a full one.
    public var lastHarvest: Date?
    /// One line about the last attempt: what it did, or why it failed.
    public var lastResult: String?
    /// When the last attempt (successful or not) started.
    public var lastAttempt: Date?

    public init(url: String, addedBy: String, added: Date, lastHarvest: Date? = nil, lastResult: String? = nil, lastAttempt: Date? = nil) {
        self.url = url
        self.addedBy = addedBy
        self.added = added
        self.lastHarvest = lastHarvest
        self.lastResult = lastResult
        self.lastAttempt = lastAttempt
    }
}

extension RegistrySource {
    /// Applies a harvest attempt, as `RegistrySourceStore.recordHarvest` does.
    public mutating func record(attempt: Date, completed: Date?, result: String) {
        lastAttempt = attempt
        lastResult = result
        if let completed { lastHarvest = completed }
    }
}

import Foundation
import SkyportCore
import SkyportXML

/// Harvests an IVOA publishing registry over OAI-PMH (`metadataPrefix=ivo_vor`), page by page, following
/// resumption tokens, with a page cap and a record cap so that a never-ending feed stops with a clear error.
public struct OAIHarvester: Sendable {
    public var http: RemoteHTTP
    /// Most pages one harvest fetches.
    public var maxPages: Int
    /// Most records one harvest returns.
    public var maxRecords: Int

    /// A harvester over `http`, stopping after `maxPages` pages or `maxRecords` records.
    /// The largest registry page read (what libxml2 is allowed to parse).
    public static let defaultMaxBytes = XMLDoc.defaultMaxBytes

    public init(http: RemoteHTTP, maxPages: Int = 2_000, maxRecords: Int = 500_000) {
        self.http = http
        self.maxPages = maxPages
        self.maxRecords = maxRecords
    }

    /// The registry's `Identify` answer.
    public func identify(baseURL: URL) async throws -> OAIIdentify {
        try VOResourceXML.identify(try await fetch(Self.url(baseURL, [("verb", "Identify")])))
    }

    /// The pages of `ListRecords` (records changed since `from`, when given); pull-based: a page is fetched when asked for.
    public func pages(baseURL: URL, from: Date? = nil, set: String? = nil) -> Pages {
        Pages(harvester: self, baseURL: baseURL, from: from, set: set)
    }

    /// All records of a harvest, in registry order.
    public func harvest(baseURL: URL, from: Date? = nil, set: String? = nil) async throws -> [OAIRecord] {
        var all: [OAIRecord] = []
        for try await page in pages(baseURL: baseURL, from: from, set: set) { all += page.records }
        return all
    }

    /// One record by its OAI identifier (the ivoid); nil when the registry does not know it.
    public func getRecord(baseURL: URL, identifier: String) async throws -> OAIRecord? {
        let url = Self.url(baseURL, [("verb", "GetRecord"), ("metadataPrefix", "ivo_vor"), ("identifier", identifier)])
        do {
            return try VOResourceXML.oaiPage(try await fetch(url)).records.first
        } catch let error as RegistryError where error.oaiCode == "idDoesNotExist" {
            return nil
        }
    }

    /// The `ListRecords` pages of one harvest.
    public struct Pages: AsyncSequence, Sendable {
        public typealias Element = OAIPage
        let harvester: OAIHarvester
        let baseURL: URL
        let from: Date?
        let set: String?

        public func makeAsyncIterator() -> Iterator { Iterator(pages: self) }

        /// Fetches the next page when asked.
        public struct Iterator: AsyncIteratorProtocol {
            let pages: Pages
            var token: String?
            var done = false
            var pageCount = 0
            var recordCount = 0

            init(pages: Pages) { self.pages = pages }

            public mutating func next() async throws -> OAIPage? {
                guard !done else { return nil }
                let h = pages.harvester
                if pageCount >= h.maxPages {
                    done = true
                    throw RegistryError(.limitExceeded, "stopped after \(pageCount) pages (\(recordCount) records): the registry keeps sending resumption tokens")
                }
                let url: URL
                if let token {
                    url = OAIHarvester.url(pages.baseURL, [("verb", "ListRecords"), ("resumptionToken", token)])
                } else {
                    var query = [("verb", "ListRecords"), ("metadataPrefix", "ivo_vor")]
                    if let from = pages.from { query.append(("from", try await h.fromArgument(from, baseURL: pages.baseURL))) }
                    if let set = pages.set { query.append(("set", set)) }
                    url = OAIHarvester.url(pages.baseURL, query)
                }
                let page: OAIPage
                do { page = try VOResourceXML.oaiPage(try await h.fetch(url)) } catch {
                    done = true
                    throw error
                }
                pageCount += 1
                recordCount += page.records.count
                if recordCount > h.maxRecords {
                    done = true
                    throw RegistryError(.limitExceeded, "stopped at \(recordCount) records, over the cap of \(h.maxRecords)")
                }
                if let next = page.resumptionToken {
                    if next == token {
                        done = true
                        throw RegistryError(.limitExceeded, "the registry returned the resumption token it was given ('\(next)'): the harvest would never end")
                    }
                    token = next
                } else {
                    done = true
                }
                return page
            }
        }
    }

    /// The `from` argument in the registry's granularity: a full timestamp when `Identify` allows it, else a day.
    func fromArgument(_ date: Date, baseURL: URL) async throws -> String {
        do {
            return try await identify(baseURL: baseURL).supportsSeconds ? Timestamp.format(date) : RegistryDate.day(date)
        } catch let error as RemoteError where error.kind == .status {
            return Timestamp.format(date)   // no Identify: full granularity
        } catch is RegistryError {
            return Timestamp.format(date)   // an unusable Identify: full granularity
        }
    }

    /// GETs an OAI-PMH URL and refuses an HTML answer with a clear error.
    func fetch(_ url: URL) async throws -> Data {
        let response = try await http.get(url, accept: "text/xml, application/xml")
        if let type = response.mediaType, type.contains("html") {
            throw RegistryError(.unexpectedDocument, "expected OAI-PMH XML from \(RemoteError.redacted(url)), got \(type): \(VOResourceXML.snippet(response.body))")
        }
        if response.status != 200 {
            let location = response.location.map { " (Location: \(RemoteError.redacted($0)); use that URL)" } ?? ""
            throw RegistryError(.unexpectedDocument, "expected HTTP 200 from \(RemoteError.redacted(url)), got \(response.status)\(location)")
        }
        return response.body
    }

    /// `base` with the OAI-PMH arguments added to its query, strictly percent-encoded (tokens may hold `+`, `/`, `=`, `&`).
    static func url(_ base: URL, _ arguments: [(String, String)]) -> URL {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        let query = arguments.map { name, value in
            "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }.joined(separator: "&")
        guard var parts = URLComponents(url: base, resolvingAgainstBaseURL: true) else { return base }
        parts.percentEncodedQuery = [parts.percentEncodedQuery, query].compactMap { $0?.isEmpty == false ? $0 : nil }.joined(separator: "&")
        return parts.url ?? base
    }
}

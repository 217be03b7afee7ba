import Foundation
import SkyportCore

/// Writes UWS 1.1 `uws:job` and `uws:jobs` documents valid against the UWS 1.1 XSD (fixed `uws:`, `xlink:`, `xsi:` prefixes).
public enum UWSXMLWriter {
    private static let header = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    private static let namespaces = "xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" "
        + "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" version=\"1.1\""
    private static let pathSegment = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))

    /// The `uws:job` document for `job`, children in schema order; absent nillable values are written as `xsi:nil="true"`.
    ///
    /// An unknown `executionDuration` is written as 0 (unlimited), the only value the schema allows for "no limit";
    /// `quote`, `runId` and `creationTime` are omitted when nil; `errorSummary` is written when `errorMessage` is set.
    public static func job(_ job: UWSJob) -> String {
        var out = header + "<uws:job \(namespaces)>\n"
        out += element("jobId", job.jobId)
        if let runId = job.runId { out += element("runId", runId) }
        out += element("ownerId", job.ownerId)
        out += element("phase", job.phase.rawValue)
        if let quote = job.quote { out += element("quote", Timestamp.format(quote)) }
        if let creationTime = job.creationTime { out += element("creationTime", Timestamp.format(creationTime)) }
        out += element("startTime", job.startTime.map(Timestamp.format))
        out += element("endTime", job.endTime.map(Timestamp.format))
        let duration = min(max(job.executionDuration ?? 0, 0), Int(Int32.max))
        out += element("executionDuration", String(duration))
        out += element("destruction", job.destruction.map(Timestamp.format))
        out += "  <uws:parameters>\n"
        for p in job.parameters {
            let reference = p.byReference ? " byReference=\"true\"" : ""
            out += "    <uws:parameter id=\"\(escape(p.id, attribute: true))\"\(reference)>\(escape(p.value))</uws:parameter>\n"
        }
        out += "  </uws:parameters>\n  <uws:results>\n"
        for r in job.results {
            out += "    <uws:result id=\"\(escape(r.id, attribute: true))\" xlink:type=\"simple\" xlink:href=\"\(escape(r.href, attribute: true))\""
            if let size = r.size { out += " size=\"\(size)\"" }
            if let mimeType = r.mimeType { out += " mime-type=\"\(escape(mimeType, attribute: true))\"" }
            out += "/>\n"
        }
        out += "  </uws:results>\n"
        if let message = job.errorMessage {
            let type = job.errorType == "transient" ? "transient" : "fatal"
            out += "  <uws:errorSummary type=\"\(type)\" hasDetail=\"\(job.hasErrorDetail)\">\n"
            out += "    <uws:message>\(escape(message))</uws:message>\n  </uws:errorSummary>\n"
        }
        return out + "</uws:job>\n"
    }

    /// The `uws:jobs` list for `refs`; each `xlink:href` is `ref.href` when set, else `baseURL/` plus the percent-encoded id.
    public static func jobList(_ refs: [UWSJobRef], baseURL: String) -> String {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        var out = header + "<uws:jobs \(namespaces)>\n"
        for ref in refs {
            let href = ref.href ?? "\(base)/\(ref.id.addingPercentEncoding(withAllowedCharacters: pathSegment) ?? ref.id)"
            out += "  <uws:jobref id=\"\(escape(ref.id, attribute: true))\" xlink:type=\"simple\" xlink:href=\"\(escape(href, attribute: true))\">\n"
            out += "  " + element("phase", ref.phase.rawValue)
            if let runId = ref.runId { out += "  " + element("runId", runId) }
            if let ownerId = ref.ownerId { out += "  " + element("ownerId", ownerId) }
            if let creationTime = ref.creationTime { out += "  " + element("creationTime", Timestamp.format(creationTime)) }
            out += "  </uws:jobref>\n"
        }
        return out + "</uws:jobs>\n"
    }

    /// Escapes `& < > " '` (and, in attributes, tab and newline; everywhere, carriage return) and drops characters XML 1.0 forbids.
    public static func escape(_ text: String, attribute: Bool = false) -> String { XMLEscape.escape(text, attribute: attribute) }

    /// One indented child element of the job, or `xsi:nil="true"` when `value` is nil.
    private static func element(_ name: String, _ value: String?) -> String {
        guard let value else { return "  <uws:\(name) xsi:nil=\"true\"/>\n" }
        return "  <uws:\(name)>\(escape(value))</uws:\(name)>\n"
    }
}

/// The bare `uws:parameters` and `uws:results` documents of a job's sub-resources (UWS 1.1 XSD).
public enum UWSDocuments {
    static let open = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    static let namespaces = "xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\" xmlns:xlink=\"http://www.w3.org/1999/xlink\""

    public static func parameters(_ parameters: [UWSParameter]) -> String {
        var out = open + "<uws:parameters \(namespaces)>\n"
        for p in parameters {
            let reference = p.byReference ? " byReference=\"true\"" : ""
            out += "  <uws:parameter id=\"\(UWSXMLWriter.escape(p.id, attribute: true))\"\(reference)>\(UWSXMLWriter.escape(p.value))</uws:parameter>\n"
        }
        return out + "</uws:parameters>\n"
    }

    public static func results(_ results: [UWSResult]) -> String {
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

import Foundation
import SkyportCore
import SkyportXML
import SkyportRemotes
import Testing

@Suite struct UWSXMLWriterTests {
    static func at(_ text: String) -> Date { Timestamp.parse(text) ?? Date(timeIntervalSince1970: 0) }

    static let full = UWSJob(
        jobId: "broker-0001", runId: "run <1>", ownerId: "CN=alice & bob", phase: .completed, quote: at("2026-11-24T12:05:00Z"),
        creationTime: at("2026-11-24T12:00:00Z"), startTime: at("2026-11-24T12:00:01Z"), endTime: at("2026-11-24T12:03:10Z"),
        executionDuration: 3600, destruction: at("2026-12-01T12:00:00Z"),
        parameters: [
            UWSParameter(id: "query", value: "SELECT * FROM t WHERE a < 3 && b > 'x' AND c = \"y\"\n  ORDER BY a"),
            UWSParameter(id: "codemeta", value: "http://127.0.0.1:9000/jobs/broker-0001/parameters/codemeta?a=1&b=2", byReference: true),
            UWSParameter(id: "empty", value: ""),
        ],
        results: [
            UWSResult(id: "remoteJob", href: "http://remote.example.org/uws/jobs/77"),
            UWSResult(id: "result", href: "http://x/r?a=1&b=\"2\"", mimeType: "application/x-votable+xml", size: 1234),
        ],
        errorMessage: "failed: <&>\"' done", errorType: "transient", hasErrorDetail: true)
    static let minimal = UWSJob(jobId: "j1", phase: .pending)

    @Test(arguments: [full, minimal]) func roundTrip(_ job: UWSJob) throws {
        var expected = job
        expected.executionDuration = job.executionDuration ?? 0   // written as 0 (unlimited) when unknown
        #expect(try UWSXML.job(from: Data(UWSXMLWriter.job(job).utf8)) == expected)
    }

    @Test func minimalJobWritesRequiredElementsAsNil() {
        let xml = UWSXMLWriter.job(Self.minimal)
        #expect(xml.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<uws:job xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\""))
        #expect(xml.contains(#"version="1.1""#))
        for name in ["ownerId", "startTime", "endTime", "destruction"] { #expect(xml.contains("<uws:\(name) xsi:nil=\"true\"/>")) }
        for name in ["runId", "quote", "creationTime", "errorSummary"] { #expect(!xml.contains("uws:\(name)")) }
        #expect(xml.contains("<uws:executionDuration>0</uws:executionDuration>"))
        #expect(xml.contains("<uws:results>\n  </uws:results>"))
    }

    @Test func escaping() {
        #expect(UWSXMLWriter.escape("<&>\"'") == "&lt;&amp;&gt;&quot;&apos;")
        #expect(UWSXMLWriter.escape("a\u{0}b\u{1B}c\u{FFFE}d\r\n\te") == "abcd&#13;\n\te")
        #expect(UWSXMLWriter.escape("a\n\tb", attribute: true) == "a&#10;&#9;b")
        #expect(UWSXMLWriter.escape("ünïcødé 🚀") == "ünïcødé 🚀")
        let xml = UWSXMLWriter.job(Self.full)
        #expect(xml.contains("<uws:message>failed: &lt;&amp;&gt;&quot;&apos; done</uws:message>"))
        #expect(xml.contains("a &lt; 3 &amp;&amp; b &gt; &apos;x&apos;"))
        #expect(!xml.contains("a < 3"))
    }

    @Test func controlCharactersAreDroppedSoTheDocumentStaysXML() throws {
        var job = Self.minimal
        job.parameters = [UWSParameter(id: "p\u{7}", value: "bell\u{7}\r\nline")]
        let read = try UWSXML.job(from: Data(UWSXMLWriter.job(job).utf8))
        #expect(read.parameters == [UWSParameter(id: "p", value: "bell\r\nline")])
    }

    @Test func jobListRoundTrip() throws {
        let refs = [
            UWSJobRef(id: "a/b c", phase: .executing, runId: "r", ownerId: "o", creationTime: Self.at("2026-11-24T12:00:00Z")),
            UWSJobRef(id: "x", href: "http://elsewhere/x", phase: .archived),
        ]
        let xml = UWSXMLWriter.jobList(refs, baseURL: "http://127.0.0.1:9000/jobs/")
        var expected = refs
        expected[0].href = "http://127.0.0.1:9000/jobs/a%2Fb%20c"
        #expect(try UWSXML.jobList(from: Data(xml.utf8)) == expected)
        #expect(try UWSXML.jobList(from: Data(UWSXMLWriter.jobList([], baseURL: "http://h/jobs").utf8)).isEmpty)
    }

    @Test func writerOutputValidatesAgainstTheUWS11Schema() throws {
        let schema = "\(Samples.root.replacingOccurrences(of: "/samples", with: ""))/schemas/UWS-v1.1-local.xsd"
        guard FileManager.default.fileExists(atPath: schema) else {
            Issue.record("UWS 1.1 schema \(schema) is missing")
            return
        }
        var error = Self.minimal
        error.phase = .error
        error.errorMessage = "boom"
        let documents = [
            ("full", UWSXMLWriter.job(Self.full)), ("minimal", UWSXMLWriter.job(Self.minimal)), ("error", UWSXMLWriter.job(error)),
            ("jobs", UWSXMLWriter.jobList([UWSJobRef(id: "a", phase: .pending, runId: "r", ownerId: "o", creationTime: Date()),
                                           UWSJobRef(id: "b", phase: .queued)], baseURL: "http://h/jobs")),
            ("empty jobs", UWSXMLWriter.jobList([], baseURL: "http://h/jobs")),
        ]
        for (name, xml) in documents {
            let result = try Xmllint.validate(xml, schema: schema)
            #expect(result.status == 0, "\(name) is not valid UWS 1.1: \(result.output)\n\(xml)")
        }
    }
}

/// Runs `xmllint --noout --schema` from libxml2-utils.
enum Xmllint {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func validate(_ xml: String, schema: String) throws -> (status: Int32, output: String) {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/xmllint" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else {
            throw Failure(description: "xmllint is not installed: install libxml2-utils (apt-get install libxml2-utils) to validate UWS output")
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("skyport-uws-\(UUID().uuidString).xml")
        try Data(xml.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--noout", "--nonet", "--schema", schema, file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}

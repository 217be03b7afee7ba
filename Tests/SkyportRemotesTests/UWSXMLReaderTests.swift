import Foundation
import SkyportCore
@testable import SkyportXML
import SkyportRemotes
import Testing

/// What one sample job document must yield.
struct JobSample: Sendable, CustomTestStringConvertible {
    var file: String
    var jobId: String
    var phase: UWSPhase
    var resultHrefs: [String]
    var errorMessage: String?
    var testDescription: String { file }
}

/// Reads /work/shared/samples (or $SKYPORT_SAMPLES), recording a clear issue when the file is missing.
enum Samples {
    static let root = ProcessInfo.processInfo.environment["SKYPORT_SAMPLES"] ?? "/work/shared/samples"

    static func data(_ file: String, sourceLocation: SourceLocation = #_sourceLocation) -> Data? {
        let path = "\(root)/\(file)"
        guard let data = FileManager.default.contents(atPath: path) else {
            Issue.record("sample \(path) is missing: the UWS samples live in /work/shared/samples (set SKYPORT_SAMPLES to move them)",
                         sourceLocation: sourceLocation)
            return nil
        }
        return data
    }
}

@Suite struct UWSXMLReaderTests {
    static let imageResult = "http://myserver.org/uws/jobs/jobid123/result/image"
    static let jobs: [JobSample] = [
        JobSample(file: "uws/dachs-job.xml", jobId: "9awpnn5p", phase: .completed,
                  resultHrefs: ["http://localhost:8080/__system__/tap/run/async/9awpnn5p/results/result"]),
        JobSample(file: "uws/job-completed.xml", jobId: "broker-0001", phase: .completed,
                  resultHrefs: ["http://remote.example.org/uws/jobs/77", "http://127.0.0.1:9000/broker/jobs/broker-0001/results/result"]),
        JobSample(file: "uws/job-error.xml", jobId: "broker-0002", phase: .error, resultHrefs: [],
                  errorMessage: "remote facility rejected the offer"),
        JobSample(file: "uws/sample-UWSJobInstance.xml", jobId: "cea-agdevel.jb.man.ac.uk-130.88.24.18-1242749568029-508182314",
                  phase: .completed, resultHrefs: [imageResult], errorMessage: "we have problem"),
        JobSample(file: "registry/uws-job-instance.xml", jobId: "cea-agdevel.jb.man.ac.uk-130.88.24.18-1242749568029-508182314",
                  phase: .completed, resultHrefs: [imageResult], errorMessage: "we have problem"),
        JobSample(file: "registry/pyvo-uws-job.xml", jobId: "1337", phase: .completed,
                  resultHrefs: ["http://example.com/tap/async/1337/results/result"]),
    ]

    @Test(arguments: jobs) func samplesYieldTheirJob(_ sample: JobSample) throws {
        guard let data = Samples.data(sample.file) else { return }
        let job = try UWSXML.job(from: data)
        #expect(job.jobId == sample.jobId)
        #expect(job.phase == sample.phase)
        #expect(job.results.map(\.href) == sample.resultHrefs)
        #expect(job.errorMessage == sample.errorMessage)
        #expect(job.ownerId == (sample.file.hasSuffix("job-error.xml") ? "CN=alice" : nil))   // the others are xsi:nil
        #expect(job.creationTime != nil)
    }

    @Test func everySampleInTheUWSFolderIsCovered() throws {
        let dir = "\(Samples.root)/uws"
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
            Issue.record("sample folder \(dir) is missing")
            return
        }
        let known = Set(Self.jobs.map(\.file) + ["uws/jobs.xml", "uws/dachs-jobs.xml", "uws/job-bad.xml"])
        for file in files where !known.contains("uws/\(file)") { Issue.record("uws/\(file) has no expectation in UWSXMLReaderTests") }
    }

    @Test func fieldsOfTheBrokerSample() throws {
        guard let data = Samples.data("uws/job-completed.xml") else { return }
        let job = try UWSXML.job(from: data)
        #expect(job.runId == "esap-basket-42")
        #expect(job.executionDuration == 3600)
        #expect(job.quote == Timestamp.parse("2026-11-24T12:05:00Z"))
        #expect(job.endTime?.timeIntervalSince1970 == (Timestamp.parse("2026-11-24T12:03:10Z")?.timeIntervalSince1970 ?? 0) + 0.5)
        #expect(job.parameters.map(\.id) == ["facility", "codemeta", "basket"])
        #expect(job.parameters[1].byReference && !job.parameters[0].byReference)
        #expect(job.parameters[2].value == #"[{"uri":"ivo://example.org/data?obs1"}]"#)
        #expect(job.results[1] == UWSResult(id: "result", href: "http://127.0.0.1:9000/broker/jobs/broker-0001/results/result",
                                            mimeType: "application/x-votable+xml", size: 1234))
        #expect(job.errorType == nil && !job.hasErrorDetail)
    }

    @Test func errorSummaryAndNils() throws {
        guard let data = Samples.data("uws/job-error.xml") else { return }
        let job = try UWSXML.job(from: data)
        #expect(job.errorType == "fatal" && job.hasErrorDetail)
        #expect(job.destruction == nil && job.executionDuration == 0 && job.parameters.isEmpty)
    }

    @Test func byReferenceValuesAreTrimmedAndLiteralOnesKept() throws {
        guard let data = Samples.data("uws/sample-UWSJobInstance.xml") else { return }
        let job = try UWSXML.job(from: data)
        #expect(job.parameters == [UWSParameter(id: "scaleFactor", value: "1.8"),
                                   UWSParameter(id: "image", value: "http://myserver.org/uws/jobs/jobid123/param/image", byReference: true)])
        #expect(job.results.first?.size == 3_000_960 && job.results.first?.mimeType == "image/fits")
        #expect(job.errorType == "transient")
    }

    @Test func jobLists() throws {
        if let data = Samples.data("uws/jobs.xml") {
            let refs = try UWSXML.jobList(from: data)
            #expect(refs.map(\.id) == ["broker-0002", "broker-0001"])
            #expect(refs.map(\.phase) == [.error, .completed])
            #expect(refs.map(\.href) == ["http://127.0.0.1:9000/broker/jobs/broker-0002", "http://127.0.0.1:9000/broker/jobs/broker-0001"])
            #expect(refs[1].runId == "esap-basket-42" && refs[1].ownerId == nil)
            #expect(refs[0].creationTime == Timestamp.parse("2026-11-24T12:00:00Z"))
        }
        if let data = Samples.data("uws/dachs-jobs.xml") {
            #expect(try UWSXML.jobList(from: data) == [UWSJobRef(id: "9awpnn5p", href: "http://localhost:8080/__system__/tap/run/async/9awpnn5p",
                                                                 phase: .completed)])
        }
        #expect(try UWSXML.jobList(from: Data(#"<jobs xmlns="http://www.ivoa.net/xml/UWS/v1.0"/>"#.utf8)).isEmpty)
    }

    /// Values lose leading and trailing white space of every Unicode kind Foundation's `.whitespacesAndNewlines` names
    /// (the reader trims without Foundation, the same set), inner white space stays; only elements in the UWS namespace itself count.
    @Test func jobListValuesAndNamespaces() throws {
        let list = """
            <uws:jobs xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:o="urn:other">
              <uws:jobref id="a" xlink:href="http://x/a"><uws:phase>\n\t EXECUTING \u{00A0}\u{2028}\u{3000}</uws:phase>
                <o:note>ignored</o:note><uws:runId>\u{0085} run one\u{00A0}two \r\n</uws:runId></uws:jobref>
              <o:jobref id="b"><uws:phase>QUEUED</uws:phase></o:jobref>
              <jobref xmlns="http://www.ivoa.net/xml/UWS/v1.0x" id="c"><phase>QUEUED</phase></jobref>
              <uws:jobref id="d"><uws:phase>COMPLETED</uws:phase><uws:runId>\u{2003}\u{2003}</uws:runId></uws:jobref>
            </uws:jobs>
            """
        let refs = try UWSXML.jobList(from: Data(list.utf8))
        #expect(refs.map(\.id) == ["a", "d"])
        #expect(refs.map(\.phase) == [.executing, .completed])
        #expect(refs[0].runId == "run one\u{00A0}two")
        #expect(refs[1].runId == nil)  // white space only: no value
        // The same trimming as Foundation's, on every scalar Foundation counts as white space or newline and some it does not.
        let differing = (0...0xFFFF).compactMap(Unicode.Scalar.init).filter { scalar in
            let text = "\(scalar)x\(scalar)y\(scalar)"
            return text.trimmed != text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(differing.isEmpty, "trimmed differently: \(differing.map { "U+" + String($0.value, radix: 16) })")
        #expect("\r\n x \r\n".trimmed == "x" && "x".trimmed == "x" && " ".trimmed == "" && "".trimmed == "")
    }

    @Test func badSampleIsAClearError() throws {
        guard let data = Samples.data("uws/job-bad.xml") else { return }
        let error = #expect(throws: UWSXMLError.self) { try UWSXML.job(from: data) }
        #expect(error?.message.hasPrefix("uws:jobId is repeated or out of order in uws:job (line 4)") == true)
    }

    @Test func anyPrefixOrDefaultNamespace() throws {
        let body = """
            <jobId>j</jobId><ownerId xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:nil="1"/><phase>RUNNING</phase>
            <creationTime>2026-11-24T12:00:00+02:00</creationTime><startTime>2026-11-24T12:00:00.25</startTime>
            <results><result id="r" xmlns:l="http://www.w3.org/1999/xlink" l:href="http://x/r"/></results>
            """
        let plain = #"<job xmlns="http://www.ivoa.net/xml/UWS/v1.0">\#(body)</job>"#
        let prefixed = #"<ns0:job xmlns:ns0="http://www.ivoa.net/xml/UWS/v1.0">\#(body.replacingOccurrences(of: "<", with: "<ns0:").replacingOccurrences(of: "<ns0:/", with: "</ns0:"))</ns0:job>"#
        for text in [plain, prefixed] {
            let job = try UWSXML.job(from: Data(text.utf8))
            #expect(job.jobId == "j" && job.ownerId == nil)
            #expect(job.phase == .unknown)   // RUNNING is not a UWS phase
            #expect(job.creationTime == Timestamp.parse("2026-11-24T10:00:00Z"))
            #expect(job.startTime?.timeIntervalSince1970 == (Timestamp.parse("2026-11-24T12:00:00Z")?.timeIntervalSince1970 ?? 0) + 0.25)
            #expect(job.results == [UWSResult(id: "r", href: "http://x/r")])
        }
    }

    @Test(arguments: [
        ("<!DOCTYPE html>\n<html><head><meta charset=utf-8><title>502</title></head><body><hr></body></html>",
         "expected a uws:job document, got an HTML page that is not well-formed XML"),
        (#"<html xmlns="http://www.w3.org/1999/xhtml"><body>Bad Gateway</body></html>"#,
         "expected a uws:job document, got <html> in namespace http://www.w3.org/1999/xhtml"),
        (#"<uws:jobs xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0"/>"#, "expected a uws:job document, got <uws:jobs> in namespace"),
        ("<job><jobId>x</jobId></job>", "expected a uws:job document, got <job>"),
        ("<uws:job xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\">\n<uws:jobId>x</uws:job>", "could not be read as XML"),
        ("{\"jobId\": 1}", "could not be read as XML"),
        (#"<job xmlns="http://www.ivoa.net/xml/UWS/v1.0"><phase>PENDING</phase></job>"#, "uws:job has no uws:jobId"),
        (#"<job xmlns="http://www.ivoa.net/xml/UWS/v1.0"><jobId>x</jobId><phase>PENDING</phase><startTime>soon</startTime></job>"#,
         "uws:startTime 'soon' is not an ISO 8601 timestamp (line 1)"),
        (#"<job xmlns="http://www.ivoa.net/xml/UWS/v1.0"><jobId>x</jobId><phase>PENDING</phase><executionDuration>1h</executionDuration></job>"#,
         "uws:executionDuration '1h' is not an integer"),
        (#"<job xmlns="http://www.ivoa.net/xml/UWS/v1.0"><jobId>x</jobId><phase>ERROR</phase><results><result id="r"/></results></job>"#,
         "uws:result 'r' has no xlink:href"),
    ])
    func notUWSIsAClearError(_ text: String, _ expected: String) {
        let error = #expect(throws: UWSXMLError.self) { try UWSXML.job(from: Data(text.utf8)) }
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "no error")")
    }

    @Test func malformedXMLNamesTheLine() {
        let error = #expect(throws: UWSXMLError.self) { try UWSXML.job(from: Data("<a>\n\n<b></a>".utf8)) }
        #expect(error?.message.hasSuffix("(line 3)") == true, "\(error?.message ?? "")")
    }

    @Test(arguments: [TestDocuments.billionLaughs, TestDocuments.externalEntity])
    func entityTricksAreRefusedWithoutLeaking(_ text: String) {
        let error = #expect(throws: UWSXMLError.self) { try UWSXML.job(from: Data(text.utf8)) }
        #expect(error?.message == "expected a uws:job document, but it could not be read as XML: documents whose DOCTYPE declares entities are refused")
        #expect(error.map { TestDocuments.leaksPasswd(String(describing: $0)) } == false)
        #expect(throws: UWSXMLError.self) { try UWSXML.jobList(from: Data(text.utf8)) }
    }
}

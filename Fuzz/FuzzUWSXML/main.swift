// UWS 1.0/1.1 XML from remote job lists (`UWSXML.job(from:)`, `UWSXML.jobList(from:)`), through libxml2.
// Invariant: what the reader accepts, `UWSXMLWriter` writes as a document the reader accepts again, with the
// same job id, phase, parameters and results.
import Foundation
import FuzzSupport
import SkyportCore
import SkyportXML

Fuzz.run { data in
    if let job = try? UWSXML.job(from: data) {
        let written = UWSXMLWriter.job(job)
        do {
            let again = try UWSXML.job(from: Data(written.utf8))
            Fuzz.check(again.jobId == job.jobId && again.phase == job.phase
                       && again.parameters.map(\.id) == job.parameters.map(\.id) && again.results.map(\.id) == job.results.map(\.id),
                       "uws:job changed on write → read: \(written.prefix(400))")
        } catch {
            Fuzz.check(false, "the reader refuses the uws:job the writer made (\(error)): \(written.prefix(400))")
        }
    }
    if let refs = try? UWSXML.jobList(from: data) {
        let written = UWSXMLWriter.jobList(refs, baseURL: "http://uws.example/jobs")
        do {
            let again = try UWSXML.jobList(from: Data(written.utf8))
            Fuzz.check(again.map(\.id) == refs.map(\.id) && again.map(\.phase) == refs.map(\.phase),
                       "uws:jobs changed on write → read: \(written.prefix(400))")
        } catch {
            Fuzz.check(false, "the reader refuses the uws:jobs the writer made (\(error)): \(written.prefix(400))")
        }
    }
}

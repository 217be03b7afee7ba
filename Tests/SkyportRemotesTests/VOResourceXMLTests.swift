import Foundation
import SkyportCore
import SkyportRemotes
import Testing

/// What one record of a registry sample must yield once mapped.
enum RecordExpectation: Sendable, Hashable {
    /// A facility with one endpoint, these kinds, and this duration limit in seconds.
    case facility(id: String, kind: EndpointKind, url: String, accepts: [String], duration: Int?)
    /// No facility, for this reason.
    case skip(id: String, SkipReason.Code)
}

/// What a file of /work/shared/samples/registry must yield.
struct RegistrySample: Sendable, CustomTestStringConvertible {
    enum Shape: Sendable { case oaiPage, resource, capabilities, notRegistry }
    var file: String
    var shape: Shape
    var expected: [RecordExpectation] = []
    /// For OAI pages: the identifiers whose header says deleted.
    var deletedHeaders: [String] = []
    var testDescription: String { file }
}

@Suite struct VOResourceXMLTests {
    static let dc = "http://dc.zah.uni-heidelberg.de"
    static let noExec = SkipReason.Code.noExecutableCapability

    /// Every file in the registry samples folder, with what it must give (read from each file, not from the parser).
    static let samples: [RegistrySample] = [
        // OAI-PMH pages (RegTAP validator fixtures).
        .init(file: "regtap-validator-tap.oai-listrecords.xml", shape: .oaiPage, expected: [
            .facility(id: "ivo://x-invalid-test/__system__/tap/run", kind: .uws, url: "\(dc)/__system__/tap/run/tap/async",
                      accepts: ["tap-query"], duration: 3600),
        ]),
        .init(file: "regtap-validator-deleted.oai-listrecords.xml", shape: .oaiPage,
              expected: [.skip(id: "ivo://x-unregistred-test/TNG-OIG-SIAP", .deleted)],
              deletedHeaders: ["ivo://x-unregistred-test/TNG-OIG-SIAP"]),
        .init(file: "regtap-validator-auth.oai-listrecords.xml", shape: .oaiPage, expected: [
            .skip(id: "ivo://x-invalid-test", noExec), .skip(id: "ivo://x-invalid-test/registry", noExec),
        ]),
        .init(file: "regtap-validator-cone.oai-getrecord.xml", shape: .oaiPage, expected: [.skip(id: "ivo://x-invalid-test/ARIHIP/q/cone", noExec)]),
        .init(file: "regtap-validator-dc.oai-getrecord.xml", shape: .oaiPage, expected: [.skip(id: "ivo://x-invalid-test/gums/q/pub", noExec)]),
        .init(file: "regtap-validator-org.oai-getrecord.xml", shape: .oaiPage, expected: [.skip(id: "ivo://x-invalid-test/KeckObs", noExec)]),
        .init(file: "regtap-validator-siap.oai-listrecords.xml", shape: .oaiPage, expected: [.skip(id: "ivo://x-invalid-test/siap/xmm-om", noExec)]),
        .init(file: "regtap-validator-ssap.oai-getrecord.xml", shape: .oaiPage, expected: [.skip(id: "ivo://x-invalid-test/6dF-ssap", noExec)]),
        .init(file: "regtap-validator-std.oai-listrecords.xml", shape: .oaiPage, expected: [.skip(id: "ivo://ivoa.net/std/ConeSearch", noExec)]),
        // Standalone VOResource records: standards, an organisation, a catalogue service, a test service. None runs work.
        .init(file: "standardsregext-sia-standard.xml", shape: .resource, expected: [.skip(id: "ivo://ivoa.net/std/SIA", noExec)]),
        .init(file: "standardsregext-vospace-standard.xml", shape: .resource, expected: [.skip(id: "ivo://ivoa.net/vospace/core", noExec)]),
        .init(file: "uws-standard-record.xml", shape: .resource, expected: [.skip(id: "ivo://ivoa.net/std/UWS", noExec)]),
        .init(file: "vodataservice-catalogservice.xml", shape: .resource, expected: [.skip(id: "ivo://ned.ipac/Redshift_By_Object_Name", noExec)]),
        .init(file: "voresource-example.xml", shape: .resource, expected: [.skip(id: "ivo://rai.ncsa/RAI", noExec)]),
        .init(file: "voresource-valid-record.xml", shape: .resource, expected: [.skip(id: "ivo://x-invalid/test-record-1", noExec)]),
        // VOSI capabilities (no resource metadata: mapped under the id ivo://sample.test/<file>).
        .init(file: "pyvo-regtap-service-vosi-capabilities.xml", shape: .capabilities, expected: [
            .facility(id: "ivo://sample.test/pyvo-regtap-service-vosi-capabilities.xml", kind: .uws, url: "\(dc)/tap/async", accepts: ["tap-query"], duration: 7200),
        ]),
        .init(file: "pyvo-tap-capabilities.xml", shape: .capabilities, expected: [
            .facility(id: "ivo://sample.test/pyvo-tap-capabilities.xml", kind: .uws, url: "\(dc)/tap/async", accepts: ["tap-query"], duration: 3600),
        ]),
        .init(file: "pyvo-vosi-capabilities.xml", shape: .capabilities, expected: [
            .facility(id: "ivo://sample.test/pyvo-vosi-capabilities.xml", kind: .uws, url: "http://example.org/tap/async", accepts: ["tap-query"], duration: 3600),
        ]),
        .init(file: "vosi-capabilities-example.xml", shape: .capabilities, expected: [.skip(id: "ivo://sample.test/vosi-capabilities-example.xml", noExec)]),
        // Not registry documents: VOTables (RegTAP answers), UWS jobs, VOSI availability, the validator's JSON.
        .init(file: "pyvo-regtap-multi-interface.votable.xml", shape: .notRegistry),
        .init(file: "pyvo-regtap-search-result.votable.xml", shape: .notRegistry),
        .init(file: "pyvo-uws-job.xml", shape: .notRegistry),
        .init(file: "uws-job-instance.xml", shape: .notRegistry),
        .init(file: "pyvo-vosi-availability.xml", shape: .notRegistry),
        .init(file: "vosi-availability-example.xml", shape: .notRegistry),
        .init(file: "regtap-validator-tests.json", shape: .notRegistry),
        .init(file: "SOURCES.txt", shape: .notRegistry),
    ]

    @Test func everySampleFileHasAnExpectation() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(Samples.root)/registry").sorted()
        #expect(!files.isEmpty)
        #expect(Set(files) == Set(Self.samples.map(\.file)), "a registry sample was added or removed: state what it yields")
    }

    @Test(arguments: samples) func sampleYieldsItsFacilities(_ sample: RegistrySample) throws {
        guard let data = Samples.data("registry/\(sample.file)") else { return }
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var resources: [RegistryResource] = []
        switch (sample.shape, try? VOResourceXML.document(data)) {
        case (.oaiPage, .oaiPage(let page)?):
            #expect(page.records.filter(\.header.isDeleted).map(\.header.identifier) == sample.deletedHeaders)
            #expect(page.resumptionToken == nil)
            for record in page.records {
                let resource = try #require(record.resource, "\(record.header.identifier): \(record.problem ?? "")")
                #expect(resource.ivoid == FacilityID(record.header.identifier))
                resources.append(resource)
            }
        case (.resource, .resource(let resource)?):
            resources = [resource]
        case (.capabilities, .capabilities(let capabilities)?):
            #expect(!capabilities.isEmpty)
            resources = [RegistryResource(ivoid: FacilityID("ivo://sample.test/\(sample.file)"), title: sample.file, capabilities: capabilities)]
        case (.notRegistry, let parsed):
            #expect(parsed == nil)
            #expect(throws: RegistryError.self) { try VOResourceXML.document(data) }
            return
        case (_, let parsed):
            Issue.record("\(sample.file) read as \(String(describing: parsed)), expected \(sample.shape)")
            return
        }
        let got: [RecordExpectation] = resources.map { resource in
            switch RegistryMapping.facility(from: resource, owner: "registry", now: now) {
            case .success(let f):
                #expect(f.endpoints.count == 1)
                return .facility(id: f.id.rawValue, kind: f.endpoints[0].kind, url: f.endpoints[0].url,
                                 accepts: f.accepts.map(\.rawValue), duration: f.limits.duration?.seconds)
            case .failure(let reason):
                #expect(!reason.message.isEmpty)
                return .skip(id: resource.ivoid.rawValue, reason.code)
            }
        }
        #expect(got == sample.expected)
    }

    @Test func tapRecordCarriesTypesResolvedByNamespaceAndTAPLimits() throws {
        let data = try #require(Samples.data("registry/regtap-validator-tap.oai-listrecords.xml"))
        let page = try VOResourceXML.oaiPage(data)
        let record = try #require(page.records.first)
        #expect(record.header.datestamp == RegistryDate.parse("2012-01-19T13:45:56Z"))
        #expect(record.header.setSpecs == ["ivo_managed", "local"])
        let r = try #require(record.resource)
        #expect(r.title == "GAVO Data Center TAP service")
        #expect(r.status == .active)
        #expect(r.updated == RegistryDate.parse("2012-01-26T14:31:40Z"))
        #expect(r.description.hasPrefix("The GAVO data center's TAP end point."))
        #expect(r.resourceType?.matches(family: "http://www.ivoa.net/xml/VODataService", local: "CatalogService") == true)
        #expect(r.capabilities.count == 5)
        let tap = r.capabilities[0]
        #expect(tap.type == QualifiedName(namespace: "http://www.ivoa.net/xml/TAPRegExt/v1.0", local: "TableAccess"))
        #expect(tap.interfaces.first?.type == QualifiedName(namespace: "http://www.ivoa.net/xml/VODataService/v1.1", local: "ParamHTTP"))
        #expect(tap.interfaces.first?.accessURLs == [AccessURL(url: "\(Self.dc)/__system__/tap/run/tap", use: .base)])
        #expect(tap.executionDuration == RegistryLimit(defaultValue: 3600))
        #expect(tap.retentionPeriod == RegistryLimit(defaultValue: 172_800))
        #expect(tap.outputLimit == RegistryLimit(defaultValue: 2000, hard: 20_000_000, unit: "row"))
        #expect(r.capabilities[4].interfaces.first?.type?.matches(family: "http://www.ivoa.net/xml/VOResource", local: "WebBrowser") == true)
    }

    @Test func xsiTypeIsResolvedByNamespaceWhateverThePrefixAndVersion() throws {
        // siap uses the prefix vdata for VODataService; vosiex1 declares the stale VODataService/v1.0.
        let siap = try VOResourceXML.oaiPage(try #require(Samples.data("registry/regtap-validator-siap.oai-listrecords.xml")))
        let interface = try #require(siap.records.first?.resource?.capabilities.first?.interfaces.first)
        #expect(interface.type?.matches(family: "http://www.ivoa.net/xml/VODataService", local: "ParamHTTP") == true)
        let caps = try VOResourceXML.capabilities(try #require(Samples.data("registry/vosi-capabilities-example.xml")))
        let paramHTTP = caps.flatMap(\.interfaces).compactMap(\.type).filter { $0.local == "ParamHTTP" }
        #expect(!paramHTTP.isEmpty)
        #expect(paramHTTP.allSatisfy { $0.namespace == "http://www.ivoa.net/xml/VODataService/v1.0" })
        #expect(paramHTTP.allSatisfy { $0.matches(family: "http://www.ivoa.net/xml/VODataService", local: "ParamHTTP") })
        #expect(caps.first?.standardID == nil)   // the standardID-less WebBrowser capability

        let custom = Data("""
            <o:OAI-PMH xmlns:o="http://www.openarchives.org/OAI/2.0/"><o:GetRecord><o:record><o:header><o:identifier>ivo://a.test/x</o:identifier></o:header>
            <o:metadata><r:Resource xmlns:r="http://www.ivoa.net/xml/RegistryInterface/v1.0" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"
              xmlns:zz="http://www.ivoa.net/xml/TAPRegExt/v1.0" i:type="q:Service" xmlns:q="http://www.ivoa.net/xml/VOResource/v1.0">
              <title>X</title><identifier>ivo://a.test/x</identifier>
              <capability standardID="ivo://ivoa.net/std/TAP#async-1.0" i:type="zz:TableAccess">
                <interface xmlns:vs="urn:not-vodataservice" i:type="vs:ParamHTTP"><accessURL use="base">http://a.test/tap/</accessURL></interface>
                <executionDuration><default>60</default><hard>7200</hard></executionDuration>
              </capability></r:Resource></o:metadata></o:record></o:GetRecord></o:OAI-PMH>
            """.utf8)
        let resource = try #require(try VOResourceXML.oaiPage(custom).records.first?.resource)
        #expect(resource.resourceType == QualifiedName(namespace: "http://www.ivoa.net/xml/VOResource/v1.0", local: "Service"))
        #expect(resource.capabilities[0].type?.matches(family: "http://www.ivoa.net/xml/TAPRegExt", local: "TableAccess") == true)
        #expect(resource.capabilities[0].interfaces[0].type == QualifiedName(namespace: "urn:not-vodataservice", local: "ParamHTTP"))
        let facility = try RegistryMapping.facility(from: resource, owner: "registry", now: Date()).get()
        #expect(facility.endpoints == [Endpoint(kind: .uws, url: "http://a.test/tap/async")])
        #expect(facility.limits.duration?.seconds == 7200)
    }

    @Test func resumptionTokenWithOrWithoutAttributes() throws {
        func page(_ token: String) -> Data {
            Data("""
                <OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>
                <record><header status="deleted"><identifier>ivo://a.test/gone</identifier><datestamp>2024-02-03</datestamp></header></record>
                \(token)</ListRecords></OAI-PMH>
                """.utf8)
        }
        let full = try VOResourceXML.oaiPage(page(#"<resumptionToken completeListSize="10" cursor="5">ab+c/=&amp;d</resumptionToken>"#))
        #expect(full.resumptionToken == "ab+c/=&d")
        #expect(full.completeListSize == 10)
        #expect(full.cursor == 5)
        let bare = try VOResourceXML.oaiPage(page("<resumptionToken>t1</resumptionToken>"))
        #expect(bare.resumptionToken == "t1")
        #expect(bare.completeListSize == nil)
        #expect(try VOResourceXML.oaiPage(page(#"<resumptionToken completeListSize="1"/>"#)).resumptionToken == nil)
        #expect(try VOResourceXML.oaiPage(page("")).resumptionToken == nil)
        let deleted = try #require(bare.records.first)
        #expect(deleted.header.isDeleted)
        #expect(deleted.resource == nil)
        #expect(deleted.problem == nil)
        #expect(deleted.header.datestamp == RegistryDate.parse("2024-02-03T00:00:00Z"))
    }

    @Test func noRecordsMatchIsAnEmptyPage() throws {
        let page = try VOResourceXML.oaiPage(Data("""
            <OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><request verb="ListRecords"/><error code="noRecordsMatch">nothing since then</error></OAI-PMH>
            """.utf8))
        #expect(page.records.isEmpty)
        #expect(page.resumptionToken == nil)
    }

    static let badInputs: [(String, String, RegistryError.Kind, String?)] = [
        ("html page", "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><p>oops<br></body></html>", .unexpectedDocument, nil),
        ("xhtml page", "<html xmlns=\"http://www.w3.org/1999/xhtml\"><body>Not found</body></html>", .unexpectedDocument, nil),
        ("malformed", "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\"><ListRecords><record>", .malformed, nil),
        ("empty", "", .malformed, nil),
        ("json", "{\"error\": \"down\"}", .malformed, nil),
        ("bad token", "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\"><error code=\"badResumptionToken\">expired</error></OAI-PMH>",
         .oaiError, "badResumptionToken"),
        ("bad argument", "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\"><error code=\"cannotDisseminateFormat\"/></OAI-PMH>",
         .oaiError, "cannotDisseminateFormat"),
        ("entity bomb", """
            <?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
            <OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>&lol2;</ListRecords></OAI-PMH>
            """, .malformed, nil),
        ("external entity", """
            <?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">&x;</OAI-PMH>
            """, .malformed, nil),
        ("wrong namespace", "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/1.1/\"><ListRecords/></OAI-PMH>", .unexpectedDocument, nil),
        ("identify only", "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\"><Identify/></OAI-PMH>", .unexpectedDocument, nil),
    ]

    @Test(arguments: 0..<badInputs.count) func badInputGivesAClearError(_ index: Int) {
        let (name, text, kind, code) = Self.badInputs[index]
        do {
            let page = try VOResourceXML.oaiPage(Data(text.utf8))
            Issue.record("\(name): read as \(page)")
        } catch let error as RegistryError {
            #expect(error.kind == kind, "\(name): \(error)")
            #expect(error.oaiCode == code, "\(name)")
            #expect(!error.description.isEmpty)
        } catch {
            Issue.record("\(name): not a RegistryError: \(error)")
        }
    }

    @Test func recordWithOtherMetadataIsReportedNotFatal() throws {
        let page = try VOResourceXML.oaiPage(Data("""
            <OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>
            <record><header><identifier>oai:x:1</identifier></header><metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"/></metadata></record>
            <record><header><identifier>ivo://a.test/ok</identifier></header><metadata><Resource><title>ok</title></Resource></metadata></record>
            </ListRecords></OAI-PMH>
            """.utf8))
        #expect(page.records.count == 2)
        #expect(page.records[0].resource == nil)
        #expect(page.records[0].problem?.contains("ivo_vor") == true)
        #expect(page.records[1].resource?.ivoid == FacilityID("ivo://a.test/ok"))   // identifier from the header
    }
}

import Foundation
import SkyportCore
import Testing

/// One mapping rule: a resource's capabilities and the facility (or skip) they must give.
struct MappingCase: Sendable, CustomTestStringConvertible {
    var name: String
    var id = "ivo://example.org/svc"
    var status: RegistryResourceStatus = .active
    var title = "A service"
    var capabilities: [RegistryCapability]
    var endpoints: [Endpoint] = []
    var accepts: [String] = []
    var duration: Int?
    var skip: SkipReason.Code?
    var testDescription: String { name }
}

@Suite struct RegistryMappingTests {
    static let paramHTTP = QualifiedName(namespace: "http://www.ivoa.net/xml/VODataService/v1.1", local: "ParamHTTP")
    static let webBrowser = QualifiedName(namespace: "http://www.ivoa.net/xml/VOResource/v1.0", local: "WebBrowser")

    static func cap(_ standardID: String?, _ urls: [String], type: QualifiedName? = paramHTTP, role: String? = "std",
                    security: [String] = [], duration: RegistryLimit? = nil) -> RegistryCapability {
        RegistryCapability(
            standardID: standardID,
            interfaces: [RegistryInterface(type: type, role: role, accessURLs: urls.map { AccessURL(url: $0, use: .base) }, securityMethods: security)],
            executionDuration: duration)
    }

    /// A harvested ExecutionBroker is asked about every kind of request: it decides for itself what it runs.
    static let everyKind = ExecutableKind.knownAliases

    static let cases: [MappingCase] = [
        .init(name: "TAP base URL + /async", capabilities: [cap("ivo://ivoa.net/std/TAP", ["http://a.org/tap"], duration: RegistryLimit(defaultValue: 600, hard: 7200))],
              endpoints: [Endpoint(kind: .uws, url: "http://a.org/tap/async")], accepts: ["tap-query"], duration: 7200),
        .init(name: "TAP with a version fragment, lower case, trailing slash, padded URL",
              capabilities: [cap("ivo://ivoa.net/std/tap#async-1.0", ["  https://a.org/tap/  "], duration: RegistryLimit(defaultValue: 3600))],
              endpoints: [Endpoint(kind: .uws, url: "https://a.org/tap/async")], accepts: ["tap-query"], duration: 3600),
        .init(name: "executionDuration 0 means unlimited", capabilities: [cap("ivo://ivoa.net/std/TAP", ["http://a.org/tap"], duration: RegistryLimit(hard: 0))],
              endpoints: [Endpoint(kind: .uws, url: "http://a.org/tap/async")], accepts: ["tap-query"]),
        .init(name: "executionDuration capped at a year", capabilities: [cap("ivo://ivoa.net/std/TAP", ["http://a.org/tap"], duration: RegistryLimit(hard: 100_000_000))],
              endpoints: [Endpoint(kind: .uws, url: "http://a.org/tap/async")], accepts: ["tap-query"], duration: 366 * 86_400),
        .init(name: "anonymous interface preferred over an authenticated one", capabilities: [RegistryCapability(
            standardID: "ivo://ivoa.net/std/TAP", interfaces: [
                RegistryInterface(type: paramHTTP, role: "std", accessURLs: [AccessURL(url: "https://a.org/auth/tap")], securityMethods: ["ivo://ivoa.net/sso#BasicAA"]),
                RegistryInterface(type: paramHTTP, role: "std", accessURLs: [AccessURL(url: "http://a.org/tap")]),
            ])],
              endpoints: [Endpoint(kind: .uws, url: "http://a.org/tap/async")], accepts: ["tap-query"]),
        .init(name: "UWS accessURL as is", capabilities: [cap("ivo://ivoa.net/std/UWS#rest-1.1", ["http://a.org/uws/jobs"])],
              endpoints: [Endpoint(kind: .uws, url: "http://a.org/uws/jobs")], accepts: ["uws-job"]),
        .init(name: "TAP and UWS together", capabilities: [
            cap("ivo://ivoa.net/std/VOSI#availability", ["http://a.org/tap/availability"]),
            cap("ivo://ivoa.net/std/TAP", ["http://a.org/tap"]), cap("ivo://ivoa.net/std/UWS", ["http://a.org/jobs"]),
        ], endpoints: [Endpoint(kind: .uws, url: "http://a.org/tap/async"), Endpoint(kind: .uws, url: "http://a.org/jobs")], accepts: ["tap-query", "uws-job"]),
        .init(name: "ExecutionBroker project standardID", capabilities: [cap("ivo://esap.escape.eu/std/ExecutionBroker#offers-1.0", ["https://eb.a.org/"])],
              endpoints: [Endpoint(kind: .executionbroker, url: "https://eb.a.org/")], accepts: everyKind),
        .init(name: "ExecutionBroker HTTP standardID", capabilities: [cap("https://www.purl.org/ivoa.net/execution-broker", ["https://eb.a.org/broker"])],
              endpoints: [Endpoint(kind: .executionbroker, url: "https://eb.a.org/broker")], accepts: everyKind),
        .init(name: "BinderHub by standardID", capabilities: [cap("ivo://example.org/std/BinderHub", ["https://hub.a.org/"], type: webBrowser)],
              endpoints: [Endpoint(kind: .binderhub, url: "https://hub.a.org/")], accepts: ["binder-notebook", "jupyter-notebook"]),
        .init(name: "BinderHub by host, no standardID", capabilities: [cap(nil, ["https://mybinder.org/"], type: webBrowser, role: nil)],
              endpoints: [Endpoint(kind: .binderhub, url: "https://mybinder.org/")], accepts: ["binder-notebook", "jupyter-notebook"]),
        .init(name: "JupyterHub by path", capabilities: [cap(nil, ["https://a.org/jupyterhub/"], type: webBrowser, role: nil)],
              endpoints: [Endpoint(kind: .binderhub, url: "https://a.org/jupyterhub/")], accepts: ["binder-notebook", "jupyter-notebook"]),
        .init(name: "a web form is not a hub", capabilities: [cap(nil, ["https://a.org/form"], type: webBrowser, role: nil)], skip: .noExecutableCapability),
        .init(name: "a binder-named ParamHTTP service is not a hub", capabilities: [cap(nil, ["https://binder.a.org/scs?"])], skip: .noExecutableCapability),
        .init(name: "cone search only", capabilities: [cap("ivo://ivoa.net/std/ConeSearch", ["http://a.org/scs?"])], skip: .noExecutableCapability),
        .init(name: "no capabilities (an organisation)", capabilities: [], skip: .noExecutableCapability),
        .init(name: "TAP without an http URL", capabilities: [cap("ivo://ivoa.net/std/TAP", ["ftp://a.org/tap", ""])], skip: .noUsableAccessURL),
        .init(name: "deleted resource", status: .deleted, capabilities: [cap("ivo://ivoa.net/std/TAP", ["http://a.org/tap"])], skip: .deleted),
        .init(name: "unusable identifier", id: "ivo://x/tap", capabilities: [cap("ivo://ivoa.net/std/TAP", ["http://a.org/tap"])], skip: .invalidIdentifier),
    ]

    @Test(arguments: cases) func mapping(_ c: MappingCase) throws {
        let resource = RegistryResource(ivoid: FacilityID(c.id), title: c.title, status: c.status, capabilities: c.capabilities)
        let now = Date(timeIntervalSince1970: 1_800_000_000.7)
        switch RegistryMapping.facility(from: resource, owner: "registry", now: now) {
        case .success(let f):
            #expect(c.skip == nil, "expected a skip, got \(f)")
            #expect(f.endpoints == c.endpoints)
            #expect(f.accepts.map(\.rawValue) == c.accepts)
            #expect(f.limits.duration?.seconds == c.duration)
            #expect(f.id.rawValue == c.id)
            #expect(f.name == c.title)
            #expect(f.owner == "registry")
            #expect(f.status == .active)
            #expect(f.created == Date(timeIntervalSince1970: 1_800_000_000))
            #expect(f.capacity == FacilityCapacity() && f.data == FacilityData())
        case .failure(let reason):
            #expect(reason.code == c.skip, "\(reason)")
            #expect(!reason.message.isEmpty)
        }
    }

    @Test func nameFallsBackToTheIdentifierAndInactiveIsDisabled() throws {
        let resource = RegistryResource(ivoid: FacilityID("ivo://example.org/tap"), title: "  ", description: "  about  ", status: .inactive,
                                        capabilities: [Self.cap("ivo://ivoa.net/std/TAP", ["http://a.org/tap"])])
        let f = try RegistryMapping.facility(from: resource, owner: "registry", now: Date()).get()
        #expect(f.name == "ivo://example.org/tap")
        #expect(f.description == "about")
        #expect(f.status == .disabled)
    }

    @Test func skipReasonsAreMachineReadable() {
        #expect(SkipReason.Code.allCases.map(\.rawValue) == ["deleted", "no-executable-capability", "no-usable-access-url", "invalid-identifier"])
        #expect(SkipReason(.deleted, "gone").description == "deleted: gone")
    }

    static let old = Date(timeIntervalSince1970: 1_000_000_000)
    static let new = Date(timeIntervalSince1970: 1_900_000_000)

    @Test func mergeKeepsWhatTheOperatorSet() {
        let existing = Facility(
            id: FacilityID("IVO://Example.org/TAP"), name: "Old name", description: "old", status: .draining,
            endpoints: [Endpoint(kind: .uws, url: "http://old/async")], accepts: [.uwsJob],
            limits: FacilityLimits(cores: 8, memory: 32, duration: ISODuration(seconds: 60)),
            capacity: FacilityCapacity(cores: 64, memory: 256), data: FacilityData(rses: ["CERN-PROD"]), owner: "alice",
            created: Self.old, modified: Self.old)
        let harvested = Facility(
            id: FacilityID("ivo://example.org/tap"), name: "New name", description: "new", status: .active,
            endpoints: [Endpoint(kind: .uws, url: "http://new/tap/async")], accepts: [.tapQuery],
            limits: FacilityLimits(duration: ISODuration(seconds: 7200)), owner: "registry", created: Self.new, modified: Self.new)
        let merged = RegistryMapping.merge(harvested: harvested, existing: existing)
        // From the registry:
        #expect(merged.name == "New name")
        #expect(merged.description == "new")
        #expect(merged.endpoints == harvested.endpoints)
        #expect(merged.accepts == [.tapQuery])
        #expect(merged.limits.duration == ISODuration(seconds: 7200))
        #expect(merged.modified == Self.new)
        // Kept:
        #expect(merged.id.rawValue == "IVO://Example.org/TAP")
        #expect(merged.status == .draining)
        #expect(merged.capacity == existing.capacity)
        #expect(merged.data.rses == ["CERN-PROD"])
        #expect(merged.limits.cores == 8 && merged.limits.memory == 32)
        #expect(merged.owner == "alice")
        #expect(merged.created == Self.old)
    }

    @Test func mergeWithNothingStoredIsTheHarvest() {
        let harvested = Facility(id: FacilityID("ivo://example.org/tap"), name: "n", endpoints: [], accepts: [], owner: "registry",
                                 created: Self.new, modified: Self.new)
        #expect(RegistryMapping.merge(harvested: harvested, existing: nil) == harvested)
    }

    @Test func registryDatesInEveryShapeRegistriesWrite() {
        let expected = Date(timeIntervalSince1970: 1_327_588_300)   // 2012-01-26T14:31:40Z
        for text in ["2012-01-26T14:31:40", "2012-01-26T14:31:40Z", " 2012-01-26T14:31:40.14Z ", "2012-01-26T14:31:40.5", "2012-01-26T15:31:40+01:00"] {
            #expect(RegistryDate.parse(text) == expected, "\(text)")
        }
        #expect(RegistryDate.parse("2012-01-26") == Date(timeIntervalSince1970: 1_327_536_000))
        #expect(RegistryDate.parse("yesterday") == nil)
        #expect(RegistryDate.day(expected) == "2012-01-26")
    }

    @Test func namespaceFamilyIgnoresTheVersion() {
        for ns in ["http://www.ivoa.net/xml/VODataService/v1.0", "http://www.ivoa.net/xml/VODataService/v1.1", "http://www.ivoa.net/xml/VODataService"] {
            #expect(QualifiedName(namespace: ns, local: "ParamHTTP").matches(family: "http://www.ivoa.net/xml/VODataService", local: "ParamHTTP"))
        }
        #expect(!QualifiedName(namespace: "urn:other", local: "ParamHTTP").matches(family: "http://www.ivoa.net/xml/VODataService", local: "ParamHTTP"))
        #expect(!QualifiedName(namespace: nil, local: "ParamHTTP").matches(family: "http://www.ivoa.net/xml/VODataService", local: "ParamHTTP"))
    }
}

import Foundation
import SkyportCore
import Testing

/// Where a facility's fields came from: the operator's writes, harvests and VOSI refreshes, and what each keeps.
@Suite struct FacilityProvenanceTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let t1 = Date(timeIntervalSince1970: 1_800_003_600)
    static let t2 = Date(timeIntervalSince1970: 1_800_007_200)
    static let oai = "http://registry.example/oai.xml"
    static let paramHTTP = QualifiedName(namespace: "http://www.ivoa.net/xml/VODataService/v1.1", local: "ParamHTTP")

    /// What an operator's POST or PUT stores for a document.
    static func write(_ json: String, over existing: Facility? = nil, by name: String = "alice", at now: Date = t0) throws -> Facility {
        let document = try FacilityDocument(try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)))
        let facility = try document.validated(pathID: existing?.id, owner: existing?.owner ?? name, created: existing?.created ?? now, now: now)
        return Facility.written(facility, fields: document.writtenFields, by: name, over: existing, at: now)
    }

    static let minimal = #"{"id": "ivo://example.org/tap", "name": "Mine", "endpoints": [{"kind": "uws", "url": "http://a.example/tap/async"}], "accepts": ["tap-query"], "limits": {"cores": 4}}"#

    /// A TAP registry record for `ivo://example.org/tap`.
    static func record(title: String = "From the registry", url: String = "http://a.example/tap", hard: Int? = 3600, vosi: Bool = true) -> RegistryResource {
        var capabilities = [RegistryCapability(
            standardID: "ivo://ivoa.net/std/TAP", interfaces: [RegistryInterface(type: paramHTTP, role: "std", accessURLs: [AccessURL(url: url, use: .base)])],
            executionDuration: hard.map { RegistryLimit(hard: $0) })]
        if vosi {
            capabilities.append(RegistryCapability(
                standardID: "ivo://ivoa.net/std/VOSI#capabilities",
                interfaces: [RegistryInterface(type: paramHTTP, role: "std", accessURLs: [AccessURL(url: url + "/capabilities", use: .full)])]))
        }
        return RegistryResource(ivoid: FacilityID("ivo://example.org/tap"), title: title, description: "registry words", capabilities: capabilities)
    }

    static func harvest(_ resource: RegistryResource, at now: Date, datestamp: Date? = nil) throws -> Facility {
        let source = FacilityProvenance.RegistryRecord(source: oai, identifier: resource.ivoid.rawValue, datestamp: datestamp)
        return try RegistryMapping.facility(from: resource, owner: "registry", now: now, record: source).get()
    }

    @Test func anOperatorsPostOwnsTheFieldsItWroteAndNoOthers() throws {
        let f = try Self.write(Self.minimal)
        let p = try #require(f.provenance)
        #expect(Set(p.fields.keys) == ["name", "endpoints", "accepts", "limits.cores"])
        for origin in p.fields.values { #expect(origin == FacilityProvenance.Origin(.operator, by: "alice", at: Self.t0)) }
        #expect(p.registry == nil && p.lastHarvested == nil && p.refreshed == nil && p.capabilities == nil)
    }

    @Test func aHarvestedFacilityGivesEveryFieldItSetsToTheRegistry() throws {
        let stamp = Date(timeIntervalSince1970: 1_700_000_000)
        let f = try Self.harvest(Self.record(), at: Self.t0, datestamp: stamp)
        let p = try #require(f.provenance)
        #expect(Set(p.fields.keys) == ["name", "description", "status", "endpoints", "accepts", "limits.duration"])
        #expect(p[.name] == FacilityProvenance.Origin(.registry, by: Self.oai, at: Self.t0))
        #expect(p.registry == FacilityProvenance.RegistryRecord(source: Self.oai, identifier: "ivo://example.org/tap", datestamp: stamp))
        #expect(p.lastHarvested == Self.t0)
        #expect(p.capabilities == "http://a.example/tap/capabilities")
    }

    @Test func aHarvestKeepsEveryFieldTheOperatorWroteAndTakesTheRest() throws {
        let mine = try Self.write(Self.minimal)
        let merged = RegistryMapping.merge(harvested: try Self.harvest(Self.record(), at: Self.t1), existing: mine)
        // The operator's: name, endpoints, accepts, limits.cores.
        #expect(merged.name == "Mine" && merged.endpoints == mine.endpoints && merged.accepts == [.tapQuery] && merged.limits.cores == 4)
        #expect(merged.provenance?[.name]?.source == .operator)
        // The registry's: what the operator left out.
        #expect(merged.description == "registry words")
        #expect(merged.limits.duration == ISODuration(seconds: 3600))
        #expect(merged.provenance?[.description] == FacilityProvenance.Origin(.registry, by: Self.oai, at: Self.t1))
        #expect(merged.provenance?[.limitsDuration]?.source == .registry)
        // Status is kept whoever set it: here nobody did.
        #expect(merged.provenance?[.status] == nil)
        #expect(merged.provenance?.lastHarvested == Self.t1 && merged.owner == "alice" && merged.created == Self.t0)
    }

    @Test func aPutOfTheDocumentReadBackTakesOverOnlyWhatChanged() throws {
        let mine = try Self.write(Self.minimal)
        let harvested = RegistryMapping.merge(harvested: try Self.harvest(Self.record(), at: Self.t1), existing: mine)
        // GET, change the endpoint, PUT back: every field is in the document, server-set ones included.
        var document = try JSONDecoder().decode(JSONValue.self, from: Data(try CanonicalJSON.encode(harvested).utf8))
        guard case .object(var object) = document else { Issue.record("not an object"); return }
        object["endpoints"] = .array([.object(["kind": .string("uws"), "url": .string("http://b.example/tap/async")])])
        document = .object(object)
        let put = try Self.write(String(decoding: try JSONEncoder().encode(document), as: UTF8.self), over: harvested, at: Self.t2)
        #expect(put.endpoints == [Endpoint(kind: .uws, url: "http://b.example/tap/async")])
        #expect(put.provenance?[.endpoints] == FacilityProvenance.Origin(.operator, by: "alice", at: Self.t2))
        // Unchanged values keep their origins: the registry's description and duration stay the registry's.
        #expect(put.provenance?[.description]?.source == .registry)
        #expect(put.provenance?[.limitsDuration]?.source == .registry)
        #expect(put.provenance?[.name] == FacilityProvenance.Origin(.operator, by: "alice", at: Self.t0))
        #expect(put.provenance?.lastHarvested == Self.t1, "the harvest record is kept")

        // The next harvest keeps the operator's endpoint, and follows the registry for the rest.
        let next = RegistryMapping.merge(
            harvested: try Self.harvest(Self.record(url: "http://c.example/tap", hard: 600), at: Self.t2), existing: put)
        #expect(next.endpoints == [Endpoint(kind: .uws, url: "http://b.example/tap/async")])
        #expect(next.limits.duration == ISODuration(seconds: 600))
    }

    @Test func aFieldLeftOutOfAPutKeepsAHarvestedValueButNotAnOperatorsOwn() throws {
        let mine = try Self.write(Self.minimal.replacingOccurrences(of: #""limits": {"cores": 4}"#, with: #""limits": {"cores": 4, "memory": 8}"#))
        let harvested = RegistryMapping.merge(harvested: try Self.harvest(Self.record(), at: Self.t1), existing: mine)
        let put = try Self.write(Self.minimal, over: harvested, at: Self.t2)
        #expect(put.description == "registry words" && put.provenance?[.description]?.source == .registry)
        #expect(put.limits.duration == ISODuration(seconds: 3600))
        // The operator's own memory limit, left out, is gone: nobody sets it now.
        #expect(put.limits.memory == nil && put.provenance?[.limitsMemory] == nil)
    }

    @Test func mergeOfAFacilityStoredWithoutProvenanceIsAsBefore() throws {
        var legacy = try Self.write(Self.minimal)
        legacy.provenance = nil
        let merged = RegistryMapping.merge(harvested: try Self.harvest(Self.record(), at: Self.t1), existing: legacy)
        #expect(merged.name == "From the registry")
        #expect(merged.limits.cores == 4)
        #expect(merged.provenance?[.name]?.source == .registry)
        #expect(merged.provenance?[.limitsCores] == nil)
    }

    static let vosiTAP = [
        RegistryCapability(standardID: "ivo://ivoa.net/std/VOSI#availability",
                           interfaces: [RegistryInterface(type: paramHTTP, role: "std", accessURLs: [AccessURL(url: "http://v.example/tap/availability")])]),
        RegistryCapability(standardID: "ivo://ivoa.net/std/TAP",
                           interfaces: [RegistryInterface(type: paramHTTP, role: "std", accessURLs: [AccessURL(url: "http://v.example/tap", use: .base)])],
                           executionDuration: RegistryLimit(defaultValue: 600, hard: 7200)),
    ]

    @Test func aRefreshTakesWhatTheOperatorDidNotSetAndRecordsIt() throws {
        let mine = try Self.write(Self.minimal)
        let url = "http://a.example/tap/capabilities"
        let refreshed = try RegistryMapping.refresh(mine, capabilities: Self.vosiTAP, from: url, now: Self.t1).get()
        #expect(refreshed.endpoints == mine.endpoints, "the operator's endpoints stay")
        #expect(refreshed.accepts == [.tapQuery])
        #expect(refreshed.limits.duration == ISODuration(seconds: 7200))
        #expect(refreshed.provenance?[.limitsDuration] == FacilityProvenance.Origin(.vosi, by: url, at: Self.t1))
        #expect(refreshed.provenance?[.endpoints]?.source == .operator)
        #expect(refreshed.provenance?.refreshed == Self.t1 && refreshed.modified == Self.t1)

        // A harvested facility takes the service's endpoints too; a later harvest keeps the refresh time.
        let harvested = try Self.harvest(Self.record(), at: Self.t0)
        let again = try RegistryMapping.refresh(harvested, capabilities: Self.vosiTAP, from: url, now: Self.t1).get()
        #expect(again.endpoints == [Endpoint(kind: .uws, url: "http://v.example/tap/async")])
        #expect(again.provenance?[.endpoints]?.source == .vosi && again.provenance?[.name]?.source == .registry)
        let merged = RegistryMapping.merge(harvested: try Self.harvest(Self.record(), at: Self.t2), existing: again)
        #expect(merged.provenance?.refreshed == Self.t1 && merged.provenance?.lastHarvested == Self.t2)
        #expect(merged.provenance?[.endpoints]?.source == .registry)
    }

    @Test func aRefreshWithNothingExecutableFails() {
        let onlyVOSI = [Self.vosiTAP[0]]
        let facility = Facility(id: FacilityID("x.y"), name: "n", endpoints: [], accepts: [], owner: "o", created: Self.t0, modified: Self.t0)
        switch RegistryMapping.refresh(facility, capabilities: onlyVOSI, from: "http://v.example/capabilities", now: Self.t1) {
        case .success(let f): Issue.record("expected a failure, got \(f)")
        case .failure(let reason): #expect(reason.code == .noExecutableCapability && reason.message.contains("VOSI#availability"))
        }
    }

    @Test func theCapabilitiesURLIsTheRecordsElseBesideTheJobList() throws {
        let epoch = Self.t0
        func facility(_ endpoints: [Endpoint], named: String? = nil) -> Facility {
            Facility(id: FacilityID("f"), name: "f", endpoints: endpoints, accepts: [], owner: "o", created: epoch, modified: epoch,
                     provenance: named.map { FacilityProvenance(capabilities: $0) })
        }
        #expect(RegistryMapping.capabilitiesURL(of: facility([Endpoint(kind: .uws, url: "http://h:8080/tap/async")])) == "http://h:8080/tap/capabilities")
        #expect(RegistryMapping.capabilitiesURL(of: facility([Endpoint(kind: .uws, url: "http://h/tap/async/")])) == "http://h/tap/capabilities")
        #expect(RegistryMapping.capabilitiesURL(of: facility([
            Endpoint(kind: .binderhub, url: "https://binder.example/"), Endpoint(kind: .uws, url: "http://h/svc/jobs"),
        ])) == "http://h/svc/capabilities")
        #expect(RegistryMapping.capabilitiesURL(of: facility([Endpoint(kind: .uws, url: "http://h/tap/async")], named: "http://r/caps")) == "http://r/caps")
        #expect(RegistryMapping.capabilitiesURL(of: facility([Endpoint(kind: .binderhub, url: "https://binder.example/")])) == nil)
        #expect(RegistryMapping.capabilitiesURL(of: facility([Endpoint(kind: .djangoUWS, url: "https://uws.example/jobs")])) == nil)
    }

    @Test func storedDocumentsWithoutProvenanceStillReadAndNewOnesRoundTrip() throws {
        let old = #"{"accepts":["tap-query"],"capacity":{},"created":"2026-11-28T16:04:51Z","data":{"rses":[]},"description":"","endpoints":[{"kind":"uws","url":"http://h/tap/async"}],"id":"ivo://example.org/tap","limits":{},"modified":"2026-11-28T16:04:51Z","name":"T","owner":"alice","status":"active"}"#
        let legacy = try CanonicalJSON.decode(Facility.self, old)
        #expect(legacy.provenance == nil)
        #expect(try CanonicalJSON.encode(legacy) == old, "no provenance key is written for a facility without one")

        let merged = RegistryMapping.merge(harvested: try Self.harvest(Self.record(), at: Self.t1), existing: try Self.write(Self.minimal))
        let text = try CanonicalJSON.encode(merged)
        #expect(try CanonicalJSON.decode(Facility.self, text) == merged)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let provenance = try #require(json["provenance"] as? [String: Any])
        let fields = try #require(provenance["fields"] as? [String: [String: Any]])
        #expect(fields["limits.cores"]?["source"] as? String == "operator")
        #expect(fields["limits.cores"]?["by"] as? String == "alice")
        #expect(fields["description"]?["at"] as? String == "2027-01-15T09:00:00Z")
        #expect((provenance["registry"] as? [String: Any])?["source"] as? String == Self.oai)
        #expect(provenance["lastHarvested"] as? String == "2027-01-15T09:00:00Z")
    }

    @Test func aDocumentReadBackMayCarryProvenanceWhichIsIgnored() throws {
        let json = Self.minimal.dropLast() + #", "provenance": {"fields": {"name": {"source": "registry", "at": "x"}}}, "health": {}}"#
        let document = try FacilityDocument(try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)))
        #expect(document.problems.isEmpty, "\(document.problems)")
        let f = try Self.write(String(json))
        #expect(f.provenance?[.name]?.source == .operator)
    }
}

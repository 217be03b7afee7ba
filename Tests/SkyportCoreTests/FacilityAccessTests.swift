import Foundation
import SkyportCore
import Testing

@Suite struct FacilityAccessTests {
    static let alice = Identity(issuer: "https://iam.example.org/", subject: "a", groups: ["/skao", "/skao/users"])
    static let bob = Identity(issuer: "https://iam.example.org/", subject: "b", groups: ["/lofar"])

    @Test func denyListsRefuseAllowListsAdmitOnlyThoseTheyNameAndOperatorsAlwaysPass() {
        let open = FacilityAccess()
        #expect(open.isOpen && open.admits(.anonymous) && open.admits(.identity(Self.bob)))
        let skao = FacilityAccess(allowGroups: ["/skao"])
        #expect(skao.admits(.identity(Self.alice)))
        #expect(!skao.admits(.identity(Self.bob)))
        #expect(!skao.admits(.anonymous))
        #expect(skao.admits(.operator))
        // Membership is literal: a child group does not stand for its parent.
        #expect(!FacilityAccess(allowGroups: ["/ska"]).admits(.identity(Self.alice)))
        let byName = FacilityAccess(allowUsers: [Self.bob.owner])
        #expect(byName.admits(.identity(Self.bob)) && !byName.admits(.identity(Self.alice)))
        // Deny wins over allow; a deny list alone leaves anonymous callers in.
        let deny = FacilityAccess(allowGroups: ["/skao"], denyUsers: [Self.alice.owner])
        #expect(!deny.admits(.identity(Self.alice)))
        let denyOnly = FacilityAccess(denyGroups: ["/lofar"])
        #expect(denyOnly.admits(.anonymous) && denyOnly.admits(.identity(Self.alice)) && !denyOnly.admits(.identity(Self.bob)))
    }

    @Test func theMatcherRejectsWithNotAuthorizedAndSaysNothingOfThePolicy() throws {
        var restricted = Facility(
            id: FacilityID("ska-only"), name: "SKA only", endpoints: [Endpoint(kind: .uws, url: "https://uws.example.org/jobs")],
            accepts: [.tapQuery], owner: "op", created: Date(), modified: Date())
        restricted.access = FacilityAccess(allowGroups: ["/skao"])
        var open = restricted
        open.id = FacilityID("open")
        open.access = nil
        let index = MatchIndex([restricted, open])
        let request = NormalisedRequest(executable: ExecutableRequest(kind: .tapQuery))
        #expect(index.match(request, requester: .identity(Self.alice)).rankedIDs.map(\.rawValue).sorted() == ["open", "ska-only"])
        let bob = index.match(request, requester: .identity(Self.bob))
        #expect(bob.rankedIDs.map(\.rawValue) == ["open"])
        let reason = try #require(bob.rejections.first?.reasons.first)
        #expect(reason.code == .notAuthorized)
        #expect(reason.message(for: .public) == "facility ska-only is not available to you")
        #expect(!reason.message(for: .operator).contains("/skao") && !reason.offered.contains("/skao"))
        #expect(index.match(request).rankedIDs.map(\.rawValue) == ["open"])
        #expect(index.match(request, requester: .operator).rankedIDs.count == 2)
    }

    @Test func anOperatorWritesAPolicyAndEveryBadEntryIsNamed() throws {
        func facility(_ access: String) throws -> Facility {
            try FacilityDocument(JSONValue.parse("""
                {"id": "f", "name": "F", "endpoints": [{"kind": "uws", "url": "https://uws.example.org/jobs"}], "accepts": ["tap-query"],
                 "access": \(access)}
                """)).validated(owner: "op", created: Date(), now: Date())
        }
        let f = try facility(#"{"allowGroups": ["/skao", "/skao"], "denyUsers": ["https://iam.example.org/#x"]}"#)
        #expect(f.access == FacilityAccess(allowGroups: ["/skao"], denyUsers: ["https://iam.example.org/#x"]))
        // An empty policy is no policy.
        #expect(try facility("{}").access == nil)
        do {
            _ = try facility(#"{"allowUsers": ["alice"], "denyGroups": [""], "allowGrops": ["/x"]}"#)
            Issue.record("a bad policy was accepted")
        } catch let failure as ValidationFailure {
            let fields = Set(failure.errors.map(\.field))
            #expect(fields.isSuperset(of: ["access.allowUsers[0]", "access.denyGroups[0]", "access.allowGrops"]), "\(fields)")
        }
        // Kept through the store's canonical form.
        let round = try CanonicalJSON.decode(Facility.self, try CanonicalJSON.encode(f))
        #expect(round.access == f.access)
    }
}

import Foundation
import SkyportApp
import SkyportCore
import Testing

@Suite struct BinderFederationSettingTests {
    @Test func theSettingNamesThePrimeFirstAndIsCheckedAtStart() throws {
        let c = try SkyportConfiguration.fromEnvironment(["SKYPORT_BINDER_FEDERATION": "ivo://mybinder.example/2i2c, ivo://mybinder.example/gesis,bids"])
        #expect(c.binderFederation?.prime == FacilityID("ivo://mybinder.example/2i2c"))
        #expect(c.binderFederation?.members == [FacilityID("ivo://mybinder.example/gesis"), FacilityID("bids")])
        #expect(try SkyportConfiguration.fromEnvironment([:]).binderFederation == nil)
        #expect(throws: SkyportConfiguration.Invalid.self) { try SkyportConfiguration.fromEnvironment(["SKYPORT_BINDER_FEDERATION": "alone"]) }
        #expect(throws: SkyportConfiguration.Invalid.self) { try SkyportConfiguration.fromEnvironment(["SKYPORT_BINDER_FEDERATION": "a,has space"]) }
    }
}

import Foundation
import SkyportCore
@testable import SkyportStore
import SkyportTestSupport
import Testing

/// A facility read after a change reads its row, not a new catalogue of every facility: a registry harvest reads
/// each facility just before writing it, and a catalogue per record made it quadratic.
@Suite struct CatalogueReadTests {
    @Test func readsAfterChangesReadOneRowAndListsBuildOneCatalogue() async throws {
        let store = try SQLiteStore(path: TemporaryFile.path("catalogue-reads.sqlite"))
        for i in 0..<50 { try await store.insertFacility(sampleFacility("f\(i)")) }
        for i in 0..<50 {
            var f = try #require(try await store.facility(FacilityID("f\(i)")))
            f.name = "renamed \(i)"
            try await store.replaceFacility(f)
            #expect(try await store.facility(FacilityID("f\(i)"))?.name == "renamed \(i)")
        }
        #expect(try await store.facility(FacilityID("nowhere")) == nil)
        #expect(store.catalogueBuilds.load(ordering: .relaxed) == 0)
        // A list builds the catalogue once; reads then come from it until the next change.
        #expect(try await store.facilities(FacilityQuery()).count == 50)
        #expect(try await store.facility(FacilityID("f7"))?.name == "renamed 7")
        #expect(try await store.facilities(FacilityQuery()).count == 50)
        #expect(store.catalogueBuilds.load(ordering: .relaxed) == 1)
    }
}

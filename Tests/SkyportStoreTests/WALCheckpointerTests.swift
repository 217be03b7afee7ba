import Foundation
import SkyportCore
@testable import SkyportStore
import SkyportTestSupport
import Testing

@Suite struct WALCheckpointerTests {
    @Test func theWriteAheadLogIsCheckpointedOnAConnectionOfItsOwn() async throws {
        let path = TemporaryFile.path("checkpointed.sqlite")
        let store = try SQLiteStore(path: path)
        let checkpointer = try #require(store.checkpointer)
        for i in 0..<(WALCheckpointer.every * 3) { try await store.insertFacility(sampleFacility("f\(i)")) }
        #expect(await eventually { checkpointer.runs >= 1 })
        // What was written is all there, read through the writer's pool as ever.
        #expect(try await store.facilities(FacilityQuery()).count == WALCheckpointer.every * 3)
    }

    @Test func anInMemoryStoreHasNoCheckpointer() throws {
        #expect(try SQLiteStore(path: ":memory:").checkpointer == nil)
    }
}

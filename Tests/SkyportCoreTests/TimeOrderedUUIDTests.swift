import Foundation
import SkyportCore
import Testing

@Suite struct TimeOrderedUUIDTests {
    /// Version 7 and variant 10, the time in the first 48 bits, and ids of later milliseconds sort after earlier
    /// ones, as bytes and as the text the stores keep.
    @Test func idsCarryTheirMillisecondAndSortByIt() {
        // Half-way into each millisecond, so that the binary fraction of a Date cannot round it into the one before.
        func at(_ ms: Int) -> Date { Date(timeIntervalSince1970: (Double(ms) + 0.5) / 1000) }
        let id = UUID.timeOrdered(at: at(1_796_543_360_758))
        let u = id.uuid
        #expect(u.6 >> 4 == 7)
        #expect(u.8 >> 6 == 0b10)
        let ms = [u.0, u.1, u.2, u.3, u.4, u.5].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(ms == 1_796_543_360_758)
        #expect(id.uuidString.hasPrefix("01A24A54-2EF6-7"))   // 1_796_543_360_758 = 0x01A2_4A54_2EF6
        var previous = id.uuidString
        for step in 1...200 {
            let next = UUID.timeOrdered(at: at(1_796_543_360_758 + step)).uuidString
            #expect(next > previous)
            previous = next
        }
        #expect(UUID(uuidString: previous)?.uuidString == previous)
    }

    /// Ids of the same millisecond differ in their 74 random bits, across several refills of the random pool
    /// (512 words each, two words an id).
    @Test func idsOfOneMillisecondDiffer() {
        let t = Date(timeIntervalSince1970: 1_796_543_360)
        #expect(Set((0..<1_000).map { _ in UUID.timeOrdered(at: t) }).count == 1_000)
        var random = IdentifierRandom()
        let words = (0..<2_000).map { _ in random.next() }
        #expect(Set(words).count == 2_000)
        // Every bit position takes both values (a pool left unfilled would give zeros).
        #expect(words.reduce(0, |) == .max && words.reduce(.max, &) == 0)
    }

    /// `text` spells an id exactly as Foundation's `uuidString` does, and `lowercasedText` as its lower case: every
    /// hex digit, both ends of the byte range, random and time-ordered ids.
    @Test func idsAreSpelledAsFoundationSpellsThem() {
        let edges = [UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
                     UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255)),
                     UUID(uuid: (0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10))]
        let ids = edges + (0..<500).map { _ in UUID() } + (0..<500).map { UUID.timeOrdered(at: Date(timeIntervalSince1970: Double($0) * 1e6)) }
        for id in ids {
            #expect(id.text == id.uuidString)
            #expect(id.lowercasedText == id.uuidString.lowercased())
            #expect(UUID(uuidString: id.lowercasedText) == id)
        }
        #expect(edges[2].text == "01234567-89AB-CDEF-FEDC-BA9876543210")
    }
}

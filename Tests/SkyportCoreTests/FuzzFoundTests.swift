import Foundation
import SkyportCore
import Testing

/// Inputs the fuzz harnesses (`scripts/fuzz.sh`) found, as tests: each once broke an invariant or trapped.
@Suite struct FuzzFoundTimestampTests {
    /// FuzzISO8601: Foundation's ISO-8601 reader (the fallback for anything but the canonical form) took years of
    /// 2, 3 and 5 digits and text after the zone.
    @Test(arguments: ["00-01-01T00:00:00Z", "000-01-01T00:00:00Z", "000-001-01T00:00:00Z", "00000-01-01T00:0:00Z",
                      "0000-01-01T00:00:00Z\u{BD}", "2026-01-01T10:00:00Zjunk", "2026-01-01T10:00:00+01:00:00",
                      "2026-01-01T10:00:00.Z", "2026-01-01T10:00:00+1", "2026-01-01T10:00:00+24:00", "2026-01-01T10:00:00"])
    func notAnInstant(_ text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    /// FuzzISO8601: the same day read through the fast path and through Foundation's reader differed by days before
    /// 1582 (Foundation counts them in the Julian calendar); now every form is read in the proleptic Gregorian
    /// calendar that `format` writes, and reads back.
    @Test(arguments: ["0000-01-01T00:00:00", "1000-03-01T12:00:00", "1582-10-04T00:00:00", "2026-11-28T15:55:26"])
    func everyFormIsTheSameInstant(_ text: String) throws {
        let canonical = try #require(Timestamp.parse(text + "Z"))
        #expect(Timestamp.parse(text + ".0Z") == canonical)
        #expect(Timestamp.parse(text + "+00:00") == canonical)
        #expect(Timestamp.parse(text + "-0000") == canonical)
        #expect(Timestamp.parse(text + ".5z")?.timeIntervalSince1970 == canonical.timeIntervalSince1970 + 0.5)
        #expect(Timestamp.parse(text + "+01")?.timeIntervalSince1970 == canonical.timeIntervalSince1970 - 3_600)
        #expect(Timestamp.parse(text.replacingOccurrences(of: "T", with: "t") + "Z") == canonical)
        #expect(Timestamp.format(canonical) == text + "Z")
        #expect(Timestamp.parse(Timestamp.format(canonical)) == canonical)
    }

    /// FuzzISO8601: an instant before year 0 (`0000-01-01T00:00:00+01:00`) was written as `00-1-12-31T23:00:00Z`.
    @Test func yearsBeforeZeroAreWrittenWithASign() throws {
        let date = try #require(Timestamp.parse("0000-01-01T00:00:00+01:00"))
        #expect(Timestamp.format(date) == "-0001-12-31T23:00:00Z")
    }
}

/// Found by FuzzBasket: an `item_data` string nested deeper than 512 levels made Foundation's JSONDecoder trap while
/// it described the error; it is now read by Skyport's own bounded reader, and the request is answered NO naming the
/// item (a basket item is another service's row).
@Suite struct FuzzFoundBasketTests {
    @Test(arguments: [513, 600, 5_000])
    func aDeeplyNestedItemDataIsRefusedNotATrap(_ depth: Int) throws {
        let itemData = String(repeating: "[", count: depth)
        let body = #"{"executable": {"kind": "jupyter-notebook", "location": "https://example.org/nb.ipynb"}, "basket": [{"item_data": "\#(itemData)"}]}"#
        let request = try ExecutionRequestParser.parse(try JSONValue.parse(body), now: Date())
        #expect(request.refusals?.contains { $0.field.hasPrefix("basket[0]") } == true, "\(request.refusals ?? [])")
    }
}

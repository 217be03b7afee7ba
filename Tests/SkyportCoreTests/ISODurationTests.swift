import Foundation
import Testing
import SkyportCore

@Suite struct ISODurationTests {
    @Test(arguments: [
        ("PT1H", 3_600),
        ("P1DT2H30M", 95_400),
        ("P2W", 1_209_600),
        ("PT0.5S", 1),  // rounded half away from zero
        ("PT1.4S", 1),
        ("PT0S", 0),
        ("P1D", 86_400),
        ("pt90m", 5_400),  // lower case is accepted
        ("P1Y", 31_536_000),  // a year counts 365 days
        ("P1M", 2_592_000),  // a month counts 30 days
        ("PT1M", 60),
    ])
    func parses(text: String, seconds: Int) {
        #expect(ISODuration(text)?.seconds == seconds)
    }

    @Test(arguments: ["1H", "P", "PTH", "", "PT", "P1H", "PT1D", "PT-1H", "P1DT2X", "1D"])
    func rejects(text: String) {
        #expect(ISODuration(text) == nil)
    }

    @Test(arguments: [
        ("P1DT2H30M", "P1DT2H30M"),
        ("PT90M", "PT1H30M"),
        ("P2W", "P14D"),
        ("PT0S", "PT0S"),
        ("PT3661S", "PT1H1M1S"),
        ("P1D", "P1D"),
    ])
    func describesCanonically(text: String, canonical: String) throws {
        let duration = try #require(ISODuration(text))
        #expect(duration.description == canonical)
        #expect(ISODuration(duration.description) == duration)
    }

    @Test func codableRoundTrip() throws {
        let data = try JSONEncoder().encode([ISODuration(seconds: 5_400)])
        #expect(String(decoding: data, as: UTF8.self) == #"["PT1H30M"]"#)
        #expect(try JSONDecoder().decode([ISODuration].self, from: data) == [ISODuration(seconds: 5_400)])
    }
}

@Suite struct ISODurationTimestampTests {
    @Test(arguments: [
        (0, "1970-01-01T00:00:00Z"),
        (1_764_000_000, "2025-11-24T16:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (-1, "1969-12-31T23:59:59Z"),
        (4_102_444_799, "2099-12-31T23:59:59Z"),
        (1_700_000_000, "2023-11-14T22:13:20Z"),
    ])
    func formats(epoch: Int, text: String) {
        let date = Date(timeIntervalSince1970: TimeInterval(epoch))
        #expect(Timestamp.format(date) == text)
        #expect(Timestamp.parse(text) == date)
    }

    /// Years 0001 to 9999 are written straight into bytes: they read back as the same instant, and the ends are right.
    @Test func formatsEveryYearItWritesByHandSoThatItReadsBack() {
        let first = -62_135_596_800, last = 253_402_300_799
        #expect(Timestamp.format(Date(timeIntervalSince1970: TimeInterval(first))) == "0001-01-01T00:00:00Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: TimeInterval(last))) == "9999-12-31T23:59:59Z")
        var random = SystemRandomNumberGenerator()
        for t in [first, last, 0, -1, 951_782_400] + (0..<5_000).map({ _ in Int.random(in: first...last, using: &random) }) {
            let date = Date(timeIntervalSince1970: TimeInterval(t))
            let text = Timestamp.format(date)
            #expect(text.utf8.count == 20 && Timestamp.parse(text) == date, "\(t) was written \(text)")
        }
    }

    @Test func dropsFractionalSeconds() {
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1_764_000_000.75)) == "2025-11-24T16:00:00Z")
        #expect(Timestamp.parse("2025-11-24T16:00:00.75Z") == Date(timeIntervalSince1970: 1_764_000_000.75))
    }
}

/// Days that do not exist are not read as others (a lenient reader rolls `2026-02-30` over to March 2).
@Suite struct TimestampCalendarTests {
    @Test(arguments: ["2026-02-30T00:00:00Z", "2026-02-29T12:00:00Z", "2026-04-31T00:00:00Z", "2100-02-29T00:00:00Z",
                      "2026-02-30T00:00:00+01:00", "2026-02-30T00:00:00.5Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z"])
    func aDayThatDoesNotExistIsNotATime(_ text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test(arguments: ["2024-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2026-04-30T23:59:59Z", "2026-12-31T00:00:00+01:00",
                      "2026-01-31T10:00:00.250Z"])
    func aDayThatExistsIsRead(_ text: String) {
        #expect(Timestamp.parse(text) != nil)
    }
}

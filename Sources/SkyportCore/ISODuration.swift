import Foundation

/// An ISO-8601 duration (`PT1H`, `P1DT12H`, `P2W`), held as whole seconds.
/// Years count 365 days and months 30 days; the ExecutionBroker documents use days and smaller units.
public struct ISODuration: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var seconds: Int

    public init(seconds: Int) { self.seconds = seconds }

    /// Parses an ISO-8601 duration; nil when the text is not one. Fractions of a second are rounded.
    public init?(_ text: String) {
        guard let total = Self.exactSeconds(text) else { return nil }
        self.seconds = Int(total.rounded())
    }

    /// The length of an ISO-8601 duration in seconds, fractions kept (`PT0.25S` is 0.25); nil when the text is not one.
    public static func exactSeconds(_ text: String) -> Double? {
        var s = Substring(text.trimmingSpaces().uppercased())
        guard s.first == "P", s.count > 1 else { return nil }
        s = s.dropFirst()
        var total = 0.0
        var inTime = false
        var number = ""
        var sawUnit = false
        for ch in s {
            if ch == "T" {
                guard !inTime, number.isEmpty else { return nil }
                inTime = true
                continue
            }
            if ch.isNumber || ch == "." || ch == "," {
                number.append(ch == "," ? "." : ch)
                continue
            }
            guard let value = Double(number), value >= 0 else { return nil }
            let unit: Double
            switch (ch, inTime) {
            case ("Y", false): unit = 365 * 86_400
            case ("M", false): unit = 30 * 86_400
            case ("W", false): unit = 7 * 86_400
            case ("D", false): unit = 86_400
            case ("H", true): unit = 3_600
            case ("M", true): unit = 60
            case ("S", true): unit = 1
            default: return nil
            }
            total += value * unit
            number = ""
            sawUnit = true
        }
        guard number.isEmpty, sawUnit, !total.isNaN else { return nil }
        // Longer than anything can run is read as the longest (about 68,000 years), not refused: it is well written.
        return min(total, longest)
    }

    /// The longest duration held, in seconds; longer ones are read as this.
    public static let longest = Double(Int32.max) * 1000

    /// The canonical form: days, hours, minutes and seconds (`P1DT2H`, `PT0S`).
    public var description: String {
        if seconds == 0 { return "PT0S" }
        var rest = seconds
        let d = rest / 86_400; rest %= 86_400
        let h = rest / 3_600; rest %= 3_600
        let m = rest / 60; let s = rest % 60
        var out = "P"
        if d > 0 { out += "\(d)D" }
        if h > 0 || m > 0 || s > 0 {
            out += "T"
            if h > 0 { out += "\(h)H" }
            if m > 0 { out += "\(m)M" }
            if s > 0 { out += "\(s)S" }
        }
        return out
    }

    public static func < (a: ISODuration, b: ISODuration) -> Bool { a.seconds < b.seconds }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        guard let d = ISODuration(text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "'\(text)' is not an ISO-8601 duration such as PT2H")
        }
        self = d
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// Timestamps as the APIs write them: ISO-8601 in UTC with a `Z` (fractional seconds accepted on input).
public enum Timestamp {
    /// The form `format` writes (`2026-11-28T15:55:26Z`), read without a formatter; nil for anything else.
    public static func parseCanonical(_ text: String) -> Date? {
        let u = Array(text.utf8)
        guard u.count == 20, u[19] == 90, let seconds = civilSeconds(u) else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// The seconds since 1970 of the `YYYY-MM-DDThh:mm:ss` at the start of `u` (proleptic Gregorian calendar, as
    /// `format` writes it); nil when it is not that form or names a day or time that does not exist.
    private static func civilSeconds(_ u: [UInt8]) -> Int? {
        guard u.count >= 19, u[4] == 45, u[7] == 45, u[10] == 84 || u[10] == 116, u[13] == 58, u[16] == 58 else { return nil }
        func number(_ from: Int, _ to: Int) -> Int? {
            var n = 0
            for i in from..<to {
                guard u[i] >= 48, u[i] <= 57 else { return nil }
                n = n * 10 + Int(u[i] - 48)
            }
            return n
        }
        guard let y = number(0, 4), let m = number(5, 7), let d = number(8, 10), let hh = number(11, 13), let mm = number(14, 16),
              let ss = number(17, 19), (1...12).contains(m), (1...daysIn(month: m, year: y)).contains(d), hh < 24, mm < 60, ss < 61
        else { return nil }
        // days-from-civil (the inverse of `format`'s arithmetic)
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return days * 86_400 + hh * 3_600 + mm * 60 + ss
    }

    /// The days of a month of the proleptic Gregorian calendar.
    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// `2026-11-28T15:55:26Z`: whole seconds, UTC (civil-from-days arithmetic, no formatter on the hot path).
    public static func format(_ date: Date) -> String {
        let t = Int(date.timeIntervalSince1970.rounded(.down))
        let days = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
        let secs = t - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        if (0...9_999).contains(year) {
            // Written straight into the string's bytes: an offer set holds a few times per offer and per message,
            // and interpolating them was a few per cent of the broker's CPU under load.
            return String(unsafeUninitializedCapacity: 20) { out in
                func put(_ n: Int, digits: Int, at i: Int) {
                    var n = n
                    for k in stride(from: i + digits - 1, through: i, by: -1) {
                        out[k] = UInt8(ascii: "0") + UInt8(n % 10)
                        n /= 10
                    }
                }
                put(year, digits: 4, at: 0)
                put(month, digits: 2, at: 5)
                put(day, digits: 2, at: 8)
                put(secs / 3_600, digits: 2, at: 11)
                put(secs / 60 % 60, digits: 2, at: 14)
                put(secs % 60, digits: 2, at: 17)
                (out[4], out[7], out[10], out[13], out[16], out[19]) =
                    (UInt8(ascii: "-"), UInt8(ascii: "-"), UInt8(ascii: "T"), UInt8(ascii: ":"), UInt8(ascii: ":"), UInt8(ascii: "Z"))
                return 20
            }
        }
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let y = String(abs(year))
        return "\(year < 0 ? "-" : "")\(String(repeating: "0", count: max(0, 4 - y.count)))\(y)-\(two(month))-\(two(day))T\(two(secs / 3_600)):\(two(secs / 60 % 60)):\(two(secs % 60))Z"
    }

    /// An ISO-8601 instant in the extended format, `YYYY-MM-DDThh:mm:ss`, optional fraction of a second, and `Z` or
    /// an offset (`+01:00`, `+0100`, `+01`); nil for anything else, including a calendar date that does not exist
    /// (`2026-02-30`, which a lenient reader would roll over to March). Read by hand in the proleptic Gregorian calendar,
    /// like `format`: Foundation's ISO-8601 reader took 2- and 3-digit years and trailing text, and counted days before
    /// 1582 in the Julian calendar, so the same text read through it and through the fast path differed (found by
    /// FuzzISO8601).
    public static func parse(_ text: String) -> Date? {
        if let fast = parseCanonical(text) { return fast }
        let u = Array(text.trimmingSpaces().utf8)
        guard let seconds = civilSeconds(u) else { return nil }
        var i = 19
        var fraction = 0.0
        if i < u.count, u[i] == 46 {
            let digits = u[(i + 1)...].prefix { $0 >= 48 && $0 <= 57 }
            guard !digits.isEmpty, digits.count <= 64 else { return nil }
            fraction = Double("0." + String(decoding: digits, as: UTF8.self)) ?? 0
            i += 1 + digits.count
        }
        guard i < u.count else { return nil }
        var offset = 0
        switch u[i] {
        case 90, 122:  // Z, z
            i += 1
        case 43, 45:  // +, -
            let sign = u[i] == 45 ? -1 : 1
            let rest = Array(u[(i + 1)...])
            let zone: [UInt8]
            switch rest.count {
            case 5 where rest[2] == 58: zone = [rest[0], rest[1], rest[3], rest[4]]
            case 4, 2: zone = rest
            default: return nil
            }
            guard zone.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            let hours = Int(zone[0] - 48) * 10 + Int(zone[1] - 48)
            let minutes = zone.count == 4 ? Int(zone[2] - 48) * 10 + Int(zone[3] - 48) : 0
            guard hours < 24, minutes < 60 else { return nil }
            offset = sign * (hours * 3_600 + minutes * 60)
            i = u.count
        default:
            return nil
        }
        guard i == u.count else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(seconds - offset) + fraction)
    }
}

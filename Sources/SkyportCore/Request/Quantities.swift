import Foundation

/// Sizes, core counts and durations as people write them (`8GB`, `16 GiB`, `512M`, `4 cores`, `5m`).
/// Decimal and binary units are both read as binary (`8GB` is 8 GiB): that is what people writing
/// "8GB of RAM" mean, and it never asks for less than they wrote.
public enum Quantities {
    /// Whole GiB, rounded up, from a size such as `8G`, `16 GiB`, `512M`, `2GB` or `1.5 TB`.
    /// With `strict` the whole text must be the size (and a bare number is GiB); otherwise the first size in
    /// the text is used (`at least 8 GB of RAM`) and a bare number is not a size.
    public static func gibibytes(_ text: String, strict: Bool) -> Int? {
        let trimmed = text.trimmingSpaces()
        if strict {
            // A number (`8`, `1.5`, `.5`, `5.`) and an optional unit, as `SpecPattern.memorySize` writes it.
            let digits = trimmed.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            let unit = trimmed.dropFirst(digits.count).trimmingSpaces().lowercased()
            guard let n = Double((digits.hasPrefix(".") ? "0" : "") + digits + (digits.hasSuffix(".") ? "0" : "")) else { return nil }
            if unit.isEmpty { return wholeGiB(n) }
            return sizeUnits[unit].flatMap { wholeGiB(n * $0) }
        }
        for (number, unit, rest) in numbers(in: text) {
            if strict, !rest.trimmingSpaces().isEmpty { return nil }
            if let perGiB = sizeUnits[unit] { return wholeGiB(number * perGiB) }
            if strict { return nil }
        }
        return nil
    }

    /// A core count from text such as `4 cores`, `2 CPUs`, `8 vCPU`; nil when the text names none.
    public static func cores(_ text: String) -> Int? {
        for (number, unit, _) in numbers(in: text) where coreUnits.contains(unit) {
            guard number.rounded() == number, number >= 0, number < 1e9 else { return nil }
            return Int(number)
        }
        return nil
    }

    /// A duration written in ISO-8601 (`PT5M`) or the short forms of the 2022 ExecutionPlanner note
    /// (`5m`, `60s`, `1h`, `2d`, `1h30m`, `90 minutes`).
    public static func duration(_ text: String) -> ISODuration? {
        let t = text.trimmingSpaces()
        if t.uppercased().hasPrefix("P") { return ISODuration(t) }
        var seconds = 0.0
        var rest = Substring(t)
        while !rest.isEmpty {
            let digits = rest.prefix(while: { $0.isASCII && ($0.isNumber || $0 == ".") })
            let afterDigits = rest.dropFirst(digits.count).drop(while: { $0 == " " })
            let unit = afterDigits.prefix(while: { $0.isLetter })
            guard let number = Double(digits), let perUnit = durationUnits[unit.lowercased()] else { return nil }
            seconds += number * perUnit
            rest = afterDigits.dropFirst(unit.count).drop(while: { $0 == " " || $0 == "," })
        }
        guard !t.isEmpty, !seconds.isNaN else { return nil }
        return ISODuration(seconds: Int(min(seconds, ISODuration.longest).rounded()))
    }

    // MARK: Units

    private static let sizeUnits: [String: Double] = [
        "b": 1.0 / 1_073_741_824, "byte": 1.0 / 1_073_741_824, "bytes": 1.0 / 1_073_741_824,
        "k": 1.0 / 1_048_576, "kb": 1.0 / 1_048_576, "kib": 1.0 / 1_048_576, "ki": 1.0 / 1_048_576,
        "m": 1.0 / 1_024, "mb": 1.0 / 1_024, "mib": 1.0 / 1_024, "mi": 1.0 / 1_024,
        "g": 1, "gb": 1, "gib": 1, "gi": 1,
        "t": 1_024, "tb": 1_024, "tib": 1_024, "ti": 1_024,
        "p": 1_048_576, "pb": 1_048_576, "pib": 1_048_576, "pi": 1_048_576,
    ]

    private static let coreUnits: Set<String> = [
        "core", "cores", "cpu", "cpus", "vcpu", "vcpus", "processor", "processors", "thread", "threads",
    ]

    private static let durationUnits: [String: Double] = [
        "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
        "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
        "h": 3_600, "hr": 3_600, "hrs": 3_600, "hour": 3_600, "hours": 3_600,
        "d": 86_400, "day": 86_400, "days": 86_400,
        "w": 604_800, "week": 604_800, "weeks": 604_800,
    ]

    private static func wholeGiB(_ gib: Double) -> Int? {
        guard !gib.isNaN, gib >= 0 else { return nil }
        // Beyond any machine (1e15 GiB) is read as that: well written, and refused later as absurdly large.
        return Int(max(0, (min(gib, 1e15) - 1e-9).rounded(.up)))  // the epsilon keeps 3.0000000001 from becoming 4
    }

    /// Each number in the text that does not sit inside a word (the `86` of `x86_64` is skipped), with the
    /// letters that follow it (lower-cased, spaces skipped) and the text after those letters.
    private static func numbers(in text: String) -> [(Double, String, Substring)] {
        let chars = Substring(text)
        var found: [(Double, String, Substring)] = []
        var i = chars.startIndex
        var previous: Character?
        while i < chars.endIndex {
            let c = chars[i]
            let startsNumber = c.isASCII && c.isNumber
            let insideWord = previous.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." } ?? false
            guard startsNumber, !insideWord else {
                previous = c
                i = chars.index(after: i)
                continue
            }
            var end = i
            while end < chars.endIndex, chars[end].isASCII, chars[end].isNumber || chars[end] == "." {
                end = chars.index(after: end)
            }
            var unitStart = end
            while unitStart < chars.endIndex, chars[unitStart] == " " { unitStart = chars.index(after: unitStart) }
            var unitEnd = unitStart
            while unitEnd < chars.endIndex, chars[unitEnd].isLetter { unitEnd = chars.index(after: unitEnd) }
            if let value = Double(chars[i..<end]) {
                found.append((value, chars[unitStart..<unitEnd].lowercased(), chars[unitEnd...]))
            }
            previous = end > i ? chars[chars.index(before: end)] : c
            i = end
        }
        return found
    }
}

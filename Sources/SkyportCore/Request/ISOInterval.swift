import Foundation

/// ISO-8601 intervals as `schedule.requested.start` carries them: `start/end`, `start/duration` or `duration/end`.
/// Dates may be given without a time (midnight UTC), without seconds, or without a zone (UTC).
public enum ISOInterval {
    /// Why an interval could not be read.
    public struct Problem: Error, Sendable, Equatable {
        public var message: String
    }

    /// Parses an interval into the window it spans.
    public static func parse(_ text: String) -> Result<TimeWindow, Problem> {
        let parts = text.trimmingSpaces().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            return .failure(Problem(message: "'\(text)' is not an ISO-8601 interval such as 2026-01-01T10:00:00Z/PT2H"))
        }
        let (first, second) = (String(parts[0]), String(parts[1]))
        let firstIsDuration = first.uppercased().hasPrefix("P")
        let secondIsDuration = second.uppercased().hasPrefix("P")
        switch (firstIsDuration, secondIsDuration) {
        case (false, false):
            guard let start = date(first) else { return .failure(badDate(first)) }
            guard let end = date(second) else { return .failure(badDate(second)) }
            guard end >= start else {
                return .failure(Problem(message: "ends (\(Timestamp.format(end))) before it starts (\(Timestamp.format(start)))"))
            }
            return .success(TimeWindow(earliest: start, latest: end))
        case (false, true):
            guard let start = date(first) else { return .failure(badDate(first)) }
            guard let span = ISODuration(second) else { return .failure(badDuration(second)) }
            return .success(TimeWindow(earliest: start, latest: start.addingTimeInterval(TimeInterval(span.seconds))))
        case (true, false):
            guard let span = ISODuration(first) else { return .failure(badDuration(first)) }
            guard let end = date(second) else { return .failure(badDate(second)) }
            return .success(TimeWindow(earliest: end.addingTimeInterval(-TimeInterval(span.seconds)), latest: end))
        case (true, true):
            return .failure(Problem(message: "'\(text)' has two durations and no date"))
        }
    }

    /// A date or date-time: `2026-01-01`, `2026-01-01T10:00`, `2026-01-01T10:00:00.5+01:00`.
    public static func date(_ text: String) -> Date? {
        var t = text.trimmingSpaces()
        guard t.count >= 10 else { return nil }
        if t.count == 10 { t += "T00:00:00Z" }
        guard let tee = t.firstIndex(where: { $0 == "T" || $0 == "t" }) else { return nil }
        var time = String(t[t.index(after: tee)...])
        var zone = ""
        if time.hasSuffix("Z") || time.hasSuffix("z") {
            time.removeLast()
            zone = "Z"
        } else if let sign = time.lastIndex(where: { $0 == "+" || $0 == "-" }) {
            zone = String(time[sign...])
            time = String(time[..<sign])
        }
        if time.split(separator: ":").count == 2 { time += ":00" }
        return Timestamp.parse("\(t[..<tee])T\(time)\(zone.isEmpty ? "Z" : zone)")
    }

    private static func badDate(_ text: String) -> Problem {
        Problem(message: "'\(text)' is not an ISO-8601 date such as 2026-01-01T10:00:00Z")
    }

    private static func badDuration(_ text: String) -> Problem {
        Problem(message: "'\(text)' is not an ISO-8601 duration such as PT2H")
    }
}

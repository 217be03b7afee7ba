// ISO-8601 durations (`ISODuration`), instants (`Timestamp.parse`), dates and intervals (`ISOInterval`).
// Invariants: a duration's canonical form reads back as the same duration; an instant's canonical form
// (`Timestamp.format`) reads back as the same instant (to the second); an interval never ends before it starts.
import Foundation
import FuzzSupport
import SkyportCore

Fuzz.run { data in
    let text = Fuzz.text(data)
    if let duration = ISODuration(text) {
        Fuzz.check(duration.seconds >= 0, "negative duration \(duration.seconds) from \(text.debugDescription)")
        Fuzz.check(ISODuration(duration.description) == duration,
                   "\(text.debugDescription) → \(duration.description) does not read back as \(duration.seconds) s")
    }
    if let date = Timestamp.parse(text) {
        let formatted = Timestamp.format(date)
        if formatted.utf8.count == 20 {
            let whole = date.timeIntervalSince1970.rounded(.down)
            Fuzz.check(Timestamp.parse(formatted)?.timeIntervalSince1970 == whole,
                       "\(text.debugDescription) → \(formatted) does not read back as \(whole)")
        }
    }
    _ = ISOInterval.date(text)
    if case .success(let window) = ISOInterval.parse(text) {
        Fuzz.check(window.earliest <= window.latest, "interval \(text.debugDescription) ends before it starts")
    }
}

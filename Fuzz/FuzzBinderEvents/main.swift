// BinderHub's build stream: `ServerSentEvents.feed` (text/event-stream framing), `BinderEvent(data:)` (each
// event's JSON) and `BinderStream.verdict`. The first byte chooses where the stream is cut in two.
// Invariant: the events do not depend on how the bytes arrive (one chunk or two).
import Foundation
import FuzzSupport
import SkyportCore

Fuzz.run { data in
    guard let first = data.first else { return }
    let stream = data.dropFirst()
    let cut = stream.startIndex + (stream.isEmpty ? 0 : Int(first) % (stream.count + 1))
    var whole = ServerSentEvents()
    var split = ServerSentEvents()
    guard let events = try? whole.feed(stream) else { return }
    let inTwo = (try? split.feed(stream[..<cut])).map { head in head + ((try? split.feed(stream[cut...])) ?? ["<error>"]) }
    Fuzz.check(inTwo == events, "the events depend on the chunking (cut at \(cut - stream.startIndex))")
    var recent: [String] = []
    for data in events {
        let event = BinderEvent(data: data)
        _ = BinderStream.verdict(event, recent: recent)
        if let text = event.text { recent.append(text) }
    }
}

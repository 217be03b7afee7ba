// ExecutionBroker requests (`ExecutionRequestParser.parse`), read as the UWS `request` parameter is
// (`Documents.parseText`: JSON when it starts with `{` or `[`, else YAML).
import Foundation
import FuzzSupport
import SkyportBroker
import SkyportCore

Fuzz.run { data in
    guard let document = try? Documents.parseText(Fuzz.text(data), parameter: "request") else { return }
    _ = try? ExecutionRequestParser.parse(document, now: Fuzz.now)
}

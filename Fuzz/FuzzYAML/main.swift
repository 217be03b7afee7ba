// The YAML bridge (`Documents.parse(_, yaml: true)` → `YAMLBridge.parse`, YAML request and facility bodies).
// Invariant: a value it reads is written by `YAMLBridge.serialize` (YAML responses) and read back as the same value.
import Foundation
import FuzzSupport
import SkyportBroker
import SkyportCore

Fuzz.run { data in
    guard let value = try? Documents.parse(data, yaml: true) else { return }
    let text: String
    do { text = try YAMLBridge.serialize(value) } catch {
        Fuzz.check(false, "a value the bridge read cannot be written as YAML: \(error)")
        return
    }
    do {
        let again = try YAMLBridge.parse(text)
        Fuzz.check(again == value, "parse → serialize → parse changed the value: \(value) became \(again); YAML: \(text.prefix(300))")
    } catch {
        Fuzz.check(false, "the bridge refuses the YAML it wrote (\(error)): \(text.prefix(300))")
    }
}

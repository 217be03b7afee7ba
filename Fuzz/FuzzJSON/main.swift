// The JSON reader (`JSONValue.parse`, request bodies and other brokers' answers).
// Invariant: a value it reads is written by `CanonicalJSON` and read back as the same value.
import Foundation
import FuzzSupport
import SkyportCore

Fuzz.run { data in
    guard let value = try? JSONValue.parse(data) else { return }
    let text: String
    do { text = try CanonicalJSON.encode(value) } catch {
        Fuzz.check(false, "a value the reader accepted cannot be written: \(error)")
        return
    }
    do {
        let again = try JSONValue.parse(text)
        Fuzz.check(again == value, "parse → write → parse changed the value: \(text.prefix(200))")
    } catch {
        Fuzz.check(false, "the reader refuses what CanonicalJSON wrote (\(error)): \(text.prefix(200))")
    }
}

import Synchronization

/// The values of the documents most recently written or read, by their exact stored form: a document read back
/// with the same bytes is the same value, whoever wrote it and whatever happened in between, so a hit is never stale.
/// Under load most reads of a session are of a document this process wrote moments before (an offer set's offers
/// read by its client, accepted, then claimed and advanced by the forwarder, each step reading what the last one
/// wrote), and decoding them took a twentieth of the broker's CPU at a thousand requests a second.
///
/// Bounded: the oldest entry goes when a new one comes (first in, first out), so it holds the last `capacity`
/// documents at most, and nothing once they are older than the last `capacity` writes.
final class DecodedDocuments<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct State {
        var values: [Key: Value] = [:]
        /// The keys in the order they came, as a ring: `next` is the slot the next one takes.
        var order: [Key?]
        var next = 0
    }

    let capacity: Int
    private let state: Mutex<State>

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        state = Mutex(State(order: Array(repeating: nil, count: capacity)))
    }

    func value(_ key: Key) -> Value? { state.withLock { $0.values[key] } }

    func remember(_ key: Key, _ value: Value) {
        state.withLock { s in
            guard s.values.updateValue(value, forKey: key) == nil else { return }
            if let oldest = s.order[s.next] { s.values[oldest] = nil }
            s.order[s.next] = key
            s.next = (s.next + 1) % capacity
        }
    }

    /// The value of `key`, decoded by `decode` only when it is not already known.
    func value(_ key: Key, decode: () throws -> Value) rethrows -> Value {
        if let known = value(key) { return known }
        let decoded = try decode()
        remember(key, decoded)
        return decoded
    }

    var count: Int { state.withLock { $0.values.count } }
}

import Foundation
import Synchronization

/// The values of the documents most recently written or read, by their exact stored bytes: a document read back
/// with the same bytes is the same value, whoever wrote it and whatever happened in between, so a hit is never stale.
/// Under load most reads of a session are of a document this process wrote moments before (an offer set's offers
/// read by its client, accepted, then claimed and advanced by the forwarder, each step reading what the last one
/// wrote), and decoding them took a twentieth of the broker's CPU at a thousand requests a second.
///
/// Bounded twice: at most `capacity` documents, and at most `budget` bytes of their JSON (a request of up to 1 MiB
/// makes documents that large; one over a sixteenth of the budget is not kept at all). The oldest entry goes when a
/// new one comes (first in, first out), so it holds only the documents written or read last.
final class DecodedDocuments<Value: Sendable>: Sendable {
    private struct State {
        var values: [DocumentBytes: (value: Value, size: Int)] = [:]
        /// The keys in the order they came, as a ring: `next` is the slot the next one takes, `oldest` the next to go.
        var order: [DocumentBytes?]
        var next = 0, oldest = 0
        var bytes = 0
    }

    let capacity: Int
    let budget: Int
    private let state: Mutex<State>

    init(capacity: Int, budget: Int) {
        precondition(capacity > 0 && budget > 0)
        (self.capacity, self.budget) = (capacity, budget)
        state = Mutex(State(order: Array(repeating: nil, count: capacity)))
    }

    func value(_ key: DocumentBytes) -> Value? { state.withLock { $0.values[key]?.value } }

    /// Remembers `value` as what `key` decodes to; `size` is its JSON's length in bytes.
    func remember(_ key: DocumentBytes, _ value: Value, size: Int) {
        guard size <= budget / 16 else { return }
        // What it pushes out is handed out of the lock, and freed there (a decoded offer set is many allocations).
        let evicted = state.withLock { s -> [(value: Value, size: Int)?] in
            guard s.values[key] == nil else { return [] }
            var evicted: [(value: Value, size: Int)?] = []
            while s.order[s.next] != nil || s.bytes + size > budget {
                guard let oldest = s.order[s.oldest] else { break }
                let value = s.values.removeValue(forKey: oldest)
                s.bytes -= value?.size ?? 0
                evicted.append(value)
                s.order[s.oldest] = nil
                s.oldest = (s.oldest + 1) % capacity
            }
            s.values[key] = (value, size)
            s.order[s.next] = key
            s.next = (s.next + 1) % capacity
            s.bytes += size
            return evicted
        }
        withExtendedLifetime(evicted) {}
    }

    /// The value of `key`, decoded by `decode` only when it is not already known.
    func value(_ key: DocumentBytes, size: Int, decode: () throws -> Value) rethrows -> Value {
        if let known = value(key) { return known }
        let decoded = try decode()
        remember(key, decoded, size: size)
        return decoded
    }

    var count: Int { state.withLock { $0.values.count } }
    var size: Int { state.withLock { $0.bytes } }
}

/// A stored document as its bytes: equal only when every byte is (a `String` compares by canonical equivalence, so
/// that `é` and `e` with a combining accent would be one key). The bytes are hashed once, when the key is made: a key
/// is hashed again for every lookup, insertion and eviction, and an offer set's document is tens of kilobytes.
struct DocumentBytes: Hashable, Sendable {
    let text: String
    let packed: Data?
    private let digest: Int

    init(text: String, packed: Data? = nil) {
        (self.text, self.packed) = (text, packed)
        var hasher = Hasher()
        hasher.combine(packed)
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        digest = hasher.finalize()
    }

    static func == (a: DocumentBytes, b: DocumentBytes) -> Bool {
        guard a.digest == b.digest, a.packed == b.packed else { return false }
        var (x, y) = (a.text, b.text)
        return x.withUTF8 { x in y.withUTF8 { y in x.count == y.count && (x.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0) } }
    }

    func hash(into hasher: inout Hasher) { hasher.combine(digest) }
}

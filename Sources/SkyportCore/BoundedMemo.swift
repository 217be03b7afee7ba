import Foundation
import Synchronization

/// Values worked out from keys that say everything they depend on, the latest kept: a key equal to one remembered
/// gives the same value, so a hit is never stale. Used where the same work is asked again and again under load:
/// documents decoded from their exact stored bytes (`DecodedDocuments`), an offer set's rejections explained from the
/// facilities and the request's shape (`RejectionsKey`), and those rejections written as JSON.
///
/// Bounded twice: at most `capacity` values, and at most `budget` bytes (the size the caller gives each: its JSON's
/// length; one over a sixteenth of the budget is not kept at all). The oldest entry goes when a new one comes (first
/// in, first out), so it holds only the values remembered last.
///
/// Inlinable, so that each module that keeps one gets it specialized for its keys and values: called across modules
/// unspecialized, every use looked up the generic metadata of its dictionary and tuples at run time.
public final class BoundedMemo<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    @usableFromInline struct State {
        @usableFromInline var values: [Key: (value: Value, size: Int)] = [:]
        /// The keys in the order they came, as a ring: `next` is the slot the next one takes, `oldest` the next to go.
        @usableFromInline var order: [Key?]
        @usableFromInline var next = 0, oldest = 0
        @usableFromInline var bytes = 0

        @usableFromInline init(order: [Key?]) { self.order = order }
    }

    public let capacity: Int
    public let budget: Int
    @usableFromInline let state: Mutex<State>

    public init(capacity: Int, budget: Int) {
        precondition(capacity > 0 && budget > 0)
        (self.capacity, self.budget) = (capacity, budget)
        state = Mutex(State(order: Array(repeating: nil, count: capacity)))
    }

    @inlinable public func value(_ key: Key) -> Value? { state.withLock { $0.values[key]?.value } }

    /// Remembers `value` as what `key` decodes to; `size` is its JSON's length in bytes.
    @inlinable public func remember(_ key: Key, _ value: Value, size: Int) {
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

    /// The value of `key`, worked out by `make` only when it is not already known.
    @inlinable public func value(_ key: Key, size: Int, make: () throws -> Value) rethrows -> Value {
        if let known = value(key) { return known }
        let made = try make()
        remember(key, made, size: size)
        return made
    }

    /// The value of `key`, worked out by `make` only when it is not already known; `make` also gives its size.
    @inlinable public func value(_ key: Key, make: () throws -> (Value, size: Int)) rethrows -> Value {
        if let known = value(key) { return known }
        let (made, size) = try make()
        remember(key, made, size: size)
        return made
    }

    public var count: Int { state.withLock { $0.values.count } }
    public var size: Int { state.withLock { $0.bytes } }
}

/// A text (and a blob beside it) as its bytes: equal only when every byte is (a `String` compares by canonical
/// equivalence, so that `é` and `e` with a combining accent would be one key). The bytes are hashed once, when the key
/// is made: a key is hashed again for every lookup, insertion and eviction, and a stored offer set's document is tens
/// of kilobytes.
public struct DocumentBytes: Hashable, Sendable {
    public let text: String
    public let packed: Data?
    private let digest: Int

    public init(text: String, packed: Data? = nil) {
        (self.text, self.packed) = (text, packed)
        var hasher = Hasher()
        hasher.combine(packed)
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        digest = hasher.finalize()
    }

    public static func == (a: DocumentBytes, b: DocumentBytes) -> Bool {
        guard a.digest == b.digest, a.packed == b.packed else { return false }
        var (x, y) = (a.text, b.text)
        return x.withUTF8 { x in y.withUTF8 { y in x.count == y.count && (x.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0) } }
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(digest) }
}

import Foundation
import Synchronization

extension UUID {
    /// A version 7 UUID (RFC 9562 §5.7): the first 48 bits are `time` in milliseconds since 1970, the other 74 are
    /// random. Offer sets and sessions get these, so that ids made later sort after earlier ones and the store's
    /// indexes on them grow at one end: a random id lands on a page of its own in every index that holds it, and at
    /// a thousand offer requests a second that was a page written per index per request. 74 random bits keep an id
    /// as hard to guess as a URL nobody was given must be.
    public static func timeOrdered(at time: Date) -> UUID {
        var random = IdentifierRandom()
        return timeOrdered(at: time, using: &random)
    }

    public static func timeOrdered(at time: Date, using random: inout some RandomNumberGenerator) -> UUID {
        let ms = UInt64(max(0, min(time.timeIntervalSince1970 * 1000, Double(1 << 48 - 1))))
        let a = random.next() as UInt64, b = random.next() as UInt64
        func byte(_ v: UInt64, _ shift: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: v >> shift) }
        return UUID(uuid: (
            byte(ms, 40), byte(ms, 32), byte(ms, 24), byte(ms, 16), byte(ms, 8), byte(ms, 0),
            0x70 | (byte(a, 0) & 0x0F), byte(a, 8),          // version 7, then 12 random bits
            0x80 | (byte(b, 0) & 0x3F), byte(b, 8),          // variant 10, then 62 random bits
            byte(b, 16), byte(b, 24), byte(b, 32), byte(b, 40), byte(b, 48), byte(b, 56)))
    }
}

/// The random bits of identifiers: the kernel's (`arc4random_buf`, which is `getrandom(2)` on Linux), fetched 4 KiB
/// at a time and each handed out once. `SystemRandomNumberGenerator` asks the kernel for every eight bytes, and an offer
/// request's five identifiers were ten of the ~130 system calls it made.
public struct IdentifierRandom: RandomNumberGenerator {
    private struct Pool {
        var words = [UInt64](repeating: 0, count: 512)
        var used = 512

        mutating func next() -> UInt64 {
            if used == words.count {
                words.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
                used = 0
            }
            defer { used += 1 }
            return words[used]
        }
    }

    private static let pool = Mutex(Pool())

    public init() {}

    public mutating func next() -> UInt64 { Self.pool.withLock { $0.next() } }
}

import CZlib
import Foundation
import GRDB
import SkyportCore

/// Offer-set documents as the SQLite store keeps them: deflated. An offer set is written once per offer request and
/// is mostly its rejections, funnel and messages (about 2.4 KB of JSON with a hundred facilities, more with longer
/// facility ids). At that size one row filled a 4 KiB page of its own, and every page is written twice (the
/// write-ahead log, then the file), so that a thousand requests a second wrote some 10 MB/s for the sets alone;
/// deflated they take about a third, several to a page.
///
/// The form: the `packed` column (a BLOB) holds the format byte 1, the JSON's length (4 bytes, little-endian), and the
/// JSON as a raw DEFLATE stream (zlib, 4 KiB window: JSON repeats itself within a few hundred bytes, and the small
/// window keeps each call's working memory under 64 KiB); `document` is then ''. Rows written before have their
/// JSON in `document` and no `packed`, and are read as they are. SQL cannot look into `packed`: a migration that needs
/// a field of these documents reads them in Swift (`json(text:packed:)`).
struct StoredDocument: Sendable {
    static let format: UInt8 = 1
    static let windowBits: Int32 = -12   // raw DEFLATE, 2^12-byte window
    /// Larger documents are refused when read (no offer set comes near it: a request's body is limited far below).
    static let largest = 64 << 20

    /// The columns `document` and `packed`.
    let text: String
    let packed: Data?

    init(text: String, packed: Data?) { (self.text, self.packed) = (text, packed) }

    /// `json` deflated; the JSON text itself should deflating fail (it does not, short of memory).
    init(json: [UInt8]) {
        if json.count <= Self.largest, let packed = Self.deflate(json) {
            (text, self.packed) = ("", packed)
        } else {
            (text, packed) = (String(decoding: json, as: UTF8.self), nil)
        }
    }

    /// The JSON of a stored document: `packed` inflated, or else `text` as it is.
    static func json(text: String, packed: Data?) throws -> [UInt8] {
        guard let packed else { return Array(text.utf8) }
        return try inflate(packed)
    }

    private static func deflate(_ input: [UInt8]) -> Data? {
        guard !input.isEmpty else { return nil }
        // zlib keeps the stream's address and refuses a stream that moved: one allocation for the whole use.
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deallocate() }
        guard skyport_deflate_init(stream, Z_BEST_SPEED, windowBits, 6) == Z_OK else { return nil }
        defer { deflateEnd(stream) }
        let bound = Int(deflateBound(stream, uLong(input.count)))
        var out = [UInt8](repeating: 0, count: 5 + bound)
        out[0] = format
        for i in 0..<4 { out[1 + i] = UInt8(truncatingIfNeeded: input.count >> (8 * i)) }
        let status = input.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.pointee.avail_in = uInt(source.count)
                stream.pointee.next_out = target.baseAddress.map { $0 + 5 }
                stream.pointee.avail_out = uInt(bound)
                return CZlib.deflate(stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { return nil }
        return Data(out[..<(5 + Int(stream.pointee.total_out))])
    }

    private static func inflate(_ blob: Data) throws -> [UInt8] {
        let bytes = [UInt8](blob)
        guard bytes.count > 5, bytes[0] == format else { throw StoreError.unavailable("a stored document's blob is not in a known form") }
        let length = (0..<4).reduce(0) { $0 | Int(bytes[1 + $1]) << (8 * $1) }
        guard length > 0, length <= largest else { throw StoreError.unavailable("a stored document's length (\(length)) is out of range") }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deallocate() }
        guard skyport_inflate_init(stream, windowBits) == Z_OK else { throw StoreError.unavailable("zlib: inflateInit2 failed") }
        defer { inflateEnd(stream) }
        var out = [UInt8](repeating: 0, count: length)
        let status = bytes.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: source.baseAddress.map { $0 + 5 })
                stream.pointee.avail_in = uInt(source.count - 5)
                stream.pointee.next_out = target.baseAddress
                stream.pointee.avail_out = uInt(length)
                return CZlib.inflate(stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END, Int(stream.pointee.total_out) == length else {
            throw StoreError.unavailable("a stored document does not inflate (zlib status \(status))")
        }
        return out
    }
}

import SkyportCore

/// The values of the documents most recently written or read, by their exact stored bytes: a document read back
/// with the same bytes is the same value, whoever wrote it and whatever happened in between, so a hit is never stale.
/// Under load most reads of a session are of a document this process wrote moments before (an offer set's offers
/// read by its client, accepted, then claimed and advanced by the forwarder, each step reading what the last one
/// wrote), and decoding them took a twentieth of the broker's CPU at a thousand requests a second. Sized by the
/// documents' JSON: a request of up to 1 MiB makes documents that large.
typealias DecodedDocuments<Value: Sendable> = BoundedMemo<DocumentBytes, Value>

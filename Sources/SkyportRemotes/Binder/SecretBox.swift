import Crypto
import Foundation
import SkyportCore

/// Seals secrets with AES-256-GCM under the broker's key; a sealed value is `v1:` and the base64 of nonce,
/// ciphertext and tag. The key lives in a file next to the database (mode 0600), made on first start.
public struct SecretBox: SecretSealer {
    let key: SymmetricKey

    public init(key: SymmetricKey) { self.key = key }

    /// A key that lives as long as the process (for the in-memory store: nothing outlives it anyway).
    public static func ephemeral() -> SecretBox { SecretBox(key: SymmetricKey(size: .bits256)) }

    /// Reads the key file, or creates it (32 random bytes, readable by the owner only) when it is missing.
    public static func keyFile(_ path: String) throws -> SecretBox {
        let url = URL(fileURLWithPath: path)
        if let data = try? Data(contentsOf: url) {
            guard data.count == 32 else {
                throw FieldError("SKYPORT_SECRET_KEY", "\(path) holds \(data.count) bytes, not a 256-bit key; move it away to make a new one")
            }
            return SecretBox(key: SymmetricKey(data: data))
        }
        let key = SymmetricKey(size: .bits256)
        let bytes = key.withUnsafeBytes { Data($0) }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: bytes, attributes: [.posixPermissions: 0o600]) else {
            throw FieldError("SKYPORT_SECRET_KEY", "cannot write the key file \(path)")
        }
        return SecretBox(key: key)
    }

    public func seal(_ secret: String) throws -> String {
        guard let combined = try AES.GCM.seal(Data(secret.utf8), using: key).combined else {
            throw FieldError("secret", "could not be sealed")
        }
        return "v1:" + combined.base64EncodedString()
    }

    public func open(_ sealed: String) -> String? {
        guard sealed.hasPrefix("v1:"), let data = Data(base64Encoded: String(sealed.dropFirst(3))),
              let box = try? AES.GCM.SealedBox(combined: data), let plain = try? AES.GCM.open(box, using: key) else { return nil }
        return String(data: plain, encoding: .utf8)
    }
}

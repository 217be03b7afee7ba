import Crypto
import Foundation

/// Operator bearer tokens: 32 random bytes, shown once, kept only as a SHA-256 hash.
public enum OperatorToken {
    /// A new token, `skp_` followed by 43 URL-safe base64 characters.
    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
        let b64 = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return "skp_" + b64
    }

    /// The hex SHA-256 of a token: what the store keeps and looks up.
    public static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}

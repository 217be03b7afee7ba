import Foundation

/// Which git repository URLs a user may name (`executable.repository`, codemeta `codeRepository`): the broker clones
/// them on its own host, so a local path or `file://` URL would send the broker's files to the staging remote, and
/// other transports (`ssh://`, `ext::`, scp-like `host:path`) run programs or use the broker's keys.
public enum RepositoryURL {
    /// The schemes a user's repository may use.
    public static let schemes: Set<String> = ["https", "http", "git"]

    /// Why `url` may not be cloned, or nil.
    public static func problem(_ url: String) -> String? {
        let allowed = "https://, http:// or git:// URL of a public git repository"
        guard !url.isEmpty, url.utf8.count <= 2_048 else { return "must be a \(allowed), of at most 2048 bytes" }
        guard url.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value < 127 }) else { return "must be a \(allowed) without spaces or control characters" }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            return "'\(url.prefix(100))' is not a URL: give an \(allowed) (local paths are not cloned)"
        }
        guard schemes.contains(scheme) else {
            return "the \(scheme): scheme is not allowed: give an \(allowed) (file://, ssh:// and local paths are not cloned)"
        }
        guard let host = components.host, !host.isEmpty else { return "'\(url.prefix(100))' names no host: give an \(allowed)" }
        return nil
    }
}

import Foundation

/// Where BinderHub is to build from, and the `/build/{provider}/{spec}` path that asks for it
/// (`binderhub.md` §1.3): a repository on GitHub goes through the `gh` provider when nothing has to be staged,
/// anything else (and every staged commit) through `git` with the URL-escaped clone URL.
public struct BinderSource: Sendable, Hashable {
    public enum Provider: String, Sendable, Hashable { case gh, git }
    public var provider: Provider
    /// The spec, already escaped as BinderHub expects it in the path.
    public var spec: String

    /// The source for a repository and ref as the user gave them.
    public static func direct(repository: String, ref: String?) -> BinderSource {
        let ref = ref.flatMap { $0.isEmpty ? nil : $0 } ?? "HEAD"
        if let (owner, name) = github(repository) {
            return BinderSource(provider: .gh, spec: "\(escape(owner))/\(escape(name))/\(ref)")
        }
        return git(url: repository, ref: ref)
    }

    /// A commit (or ref) in any git repository BinderHub can clone.
    public static func git(url: String, ref: String) -> BinderSource {
        BinderSource(provider: .git, spec: "\(escape(url))/\(ref)")
    }

    /// The build URL at a BinderHub whose base is `binderhub`.
    public func buildURL(binderhub: String) -> String {
        let base = binderhub.hasSuffix("/") ? String(binderhub.dropLast()) : binderhub
        return "\(base)/build/\(provider.rawValue)/\(spec)"
    }

    /// `owner/name` of a github.com repository URL (`https://github.com/o/n[.git][/]`), else nil.
    public static func github(_ repository: String) -> (String, String)? {
        guard let url = URL(string: repository), url.scheme == "https" || url.scheme == "http",
              url.host?.lowercased() == "github.com" else { return nil }
        let parts = url.path.split(separator: "/").map(String.init)
        guard parts.count == 2 else { return nil }
        let name = parts[1].hasSuffix(".git") ? String(parts[1].dropLast(4)) : parts[1]
        guard !parts[0].isEmpty, !name.isEmpty else { return nil }
        return (parts[0], name)
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters (Python's `quote(s, safe="")`).
    public static func escape(_ s: String) -> String {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }
}

/// The user-facing parts of a launched notebook server.
public enum BinderAccess {
    /// The path inside the server to open: the notebook (or folder) the request named, in JupyterLab.
    public static func urlpath(for path: String?) -> String {
        guard let path, !path.isEmpty else { return "" }
        let trimmed = path.hasPrefix("/") ? String(path.dropFirst()) : path
        let encoded = trimmed.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? String($0) }
            .joined(separator: "/")
        return "lab/tree/" + encoded
    }

    /// Where the user goes: `url + urlpath + ?token=` (as BinderHub's own UI redirects).
    public static func link(server: String, path: String?, token: String?) -> String {
        let base = server.hasSuffix("/") ? server : server + "/"
        let target = base + urlpath(for: path)
        guard let token else { return target }
        return target + "?token=" + (token.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.~"))) ?? token)
    }

    /// The JupyterHub behind a server URL (`{hub}/user/{name}/`) and the user's name, when it has that form.
    public static func hubUser(server: String) -> (hub: String, user: String)? {
        guard let range = server.range(of: "/user/", options: .backwards) else { return nil }
        let hub = String(server[..<range.lowerBound]) + "/"
        let rest = server[range.upperBound...].split(separator: "/")
        guard let user = rest.first, !user.isEmpty else { return nil }
        return (hub, String(user))
    }
}

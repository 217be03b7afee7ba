import Foundation

/// How the user's basket reaches a BinderHub server (the ESCAPE ESAP design): Skyport adds a `postBuild`
/// script to a derived commit of the repository. At build time the script downloads the basket's URL items
/// into `data/`, checks their sizes and checksums where the basket gave them, and writes
/// `data/skyport-manifest.json` listing what was staged, plus the Rucio items (by DID, for the notebook to fetch
/// with the user's own token: no token is ever written into the repository).
///
/// Pure: `plan` decides what is staged and `files` writes the script; the git work is the remotes module's.
public enum BasketStaging {
    /// Every line the staging script prints starts with this; a failed build's message quotes the last one.
    public static let logPrefix = "skyport:"
    /// What an existing `postBuild` is renamed to; the new script runs it first and stops if it fails.
    public static let originalName = "postBuild.skyport-original"
    public static let manifestPath = "data/skyport-manifest.json"

    public struct Download: Sendable, Hashable, Codable {
        public var name: String
        public var url: String
        public var size: Int64?
        /// `algorithm:value`: md5, sha1, sha256, sha512 or adler32.
        public var checksum: String?
    }

    public struct Listed: Sendable, Hashable, Codable {
        public var name: String
        public var kind: String
        public var did: String?
        public var rses: [String]?
        public var url: String?
        public var note: String
    }

    public struct Plan: Sendable, Hashable, Codable {
        public var session: String
        public var downloads: [Download]
        /// Rucio items, for the notebook to fetch with the user's own token.
        public var rucio: [Listed]
        /// Items Skyport cannot stage (an S3 object, a query, a URL that carries credentials), with why.
        public var notStaged: [Listed]

        /// Whether a derived commit is needed at all.
        public var isEmpty: Bool { downloads.isEmpty && rucio.isEmpty && notStaged.isEmpty }
    }

    static let checksumAlgorithms: Set<String> = ["md5", "sha1", "sha256", "sha512", "adler32"]

    /// Decides what the basket's items become.
    public static func plan(session: String, items: [DataItem]) -> Plan {
        var plan = Plan(session: session, downloads: [], rucio: [], notStaged: [])
        var used: Set<String> = [fileName(manifestPath)]
        func unique(_ base: String) -> String {
            var name = base, n = 2
            while used.contains(name.lowercased()) {
                let ext = (base as NSString).pathExtension
                let stem = (base as NSString).deletingPathExtension
                name = ext.isEmpty ? "\(stem)-\(n)" : "\(stem)-\(n).\(ext)"
                n += 1
            }
            used.insert(name.lowercased())
            return name
        }
        for (i, item) in items.enumerated() {
            let label = item.name ?? item.did ?? item.url ?? "item \(i + 1)"
            switch item.kind {
            case .rucio:
                plan.rucio.append(Listed(
                    name: label, kind: "rucio", did: item.did, rses: item.rses.isEmpty ? nil : item.rses, url: nil,
                    note: "fetch it with your own Rucio token (rucio download \(item.did ?? label))"))
            case .url, .ivoa:
                guard let text = item.url, let url = URL(string: text), let scheme = url.scheme?.lowercased(),
                      scheme == "http" || scheme == "https", url.host != nil else {
                    plan.notStaged.append(Listed(name: label, kind: item.kind.rawValue, url: item.url, note: "no http(s) URL to download it from"))
                    continue
                }
                if url.user != nil || url.password != nil {
                    plan.notStaged.append(Listed(
                        name: label, kind: item.kind.rawValue, url: nil, note: "its URL carries credentials, which Skyport never writes into a repository"))
                    continue
                }
                let base = sanitised(item.name ?? url.lastPathComponent, fallback: "item-\(i + 1)")
                let checksum = item.checksum.flatMap { c -> String? in
                    let parts = c.split(separator: ":", maxSplits: 1)
                    guard parts.count == 2, checksumAlgorithms.contains(parts[0].lowercased()) else { return nil }
                    return "\(parts[0].lowercased()):\(parts[1].lowercased())"
                }
                plan.downloads.append(Download(name: unique(base), url: text, size: item.size, checksum: checksum))
            case .s3, .other:
                plan.notStaged.append(Listed(name: label, kind: item.kind.rawValue, url: item.url, note: "Skyport cannot stage \(item.kind.rawValue) items"))
            }
        }
        return plan
    }

    /// A file name that cannot leave `data/`: no separators, no control characters, no leading dots.
    static func sanitised(_ name: String, fallback: String) -> String {
        var out = String(name.unicodeScalars.map { s -> Character in
            (s == "/" || s == "\\" || s.properties.generalCategory == .control) ? "_" : Character(s)
        })
        while out.hasPrefix(".") { out.removeFirst() }
        out = out.trimmingSpaces()
        if out.count > 200 { out = String(out.suffix(200)) }
        return out.isEmpty ? fallback : out
    }

    static func fileName(_ path: String) -> String { (path as NSString).lastPathComponent.lowercased() }

    /// Where repo2docker looks for `postBuild`: `.binder/` or `binder/` when the repository has one, else the root.
    public static func configDirectory(existing directories: Set<String>) -> String {
        if directories.contains(".binder") { return ".binder" }
        if directories.contains("binder") { return "binder" }
        return ""
    }

    /// The files of the derived commit.
    public struct Files: Sendable, Hashable {
        /// Path of the new `postBuild` in the repository.
        public var postBuild: String
        public var script: String
        /// When the repository had a `postBuild`: its path, and the path it moves to.
        public var moveOriginal: (from: String, to: String)?

        public static func == (a: Files, b: Files) -> Bool {
            a.postBuild == b.postBuild && a.script == b.script && a.moveOriginal?.from == b.moveOriginal?.from && a.moveOriginal?.to == b.moveOriginal?.to
        }
        public func hash(into h: inout Hasher) { h.combine(postBuild); h.combine(script) }
    }

    /// The script and where it goes, for a repository whose config directory is `directory` ("" for the root).
    public static func files(_ plan: Plan, directory: String, hasPostBuild: Bool, downloadTimeout: Int = 600) -> Files {
        let prefix = directory.isEmpty ? "" : directory + "/"
        let json = (try? JSONEncoder.sorted.encode(plan)) ?? Data("{}".utf8)
        let script = self.script(
            planBase64: json.base64EncodedString(), original: hasPostBuild ? originalName : nil,
            levels: directory.isEmpty ? 0 : 1, timeout: downloadTimeout, session: plan.session)
        return Files(
            postBuild: prefix + "postBuild", script: script,
            moveOriginal: hasPostBuild ? (prefix + "postBuild", prefix + originalName) : nil)
    }

    /// The staging script: `staging-postBuild.py` (a resource of this module) with its `{{placeholders}}` filled.
    static func script(planBase64: String, original: String?, levels: Int, timeout: Int, session: String) -> String {
        let values = [
            "session": session, "manifestPath": manifestPath, "originalName": originalName, "levels": String(levels),
            "planBase64": planBase64, "original": original.map { "\"\($0)\"" } ?? "None", "timeout": String(timeout),
            "logPrefix": logPrefix,
        ]
        var out = stagingTemplate
        for (name, value) in values { out = out.replacingOccurrences(of: "{{\(name)}}", with: value) }
        return out
    }

    static let stagingTemplate = String(decoding: PackageResources.staging_postBuild_py, as: UTF8.self)
}

extension JSONEncoder {
    /// Sorted keys, so that the same plan always gives the same script (and commit).
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

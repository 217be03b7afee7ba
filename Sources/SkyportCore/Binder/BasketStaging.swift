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
        out = out.trimmingCharacters(in: .whitespaces)
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

    static func script(planBase64: String, original: String?, levels: Int, timeout: Int, session: String) -> String {
        """
        #!/usr/bin/env python3
        # Written by Skyport for session \(session).
        # Stages the data basket into data/ and lists it in \(manifestPath); the repository's own postBuild,
        # if it had one, is kept as \(originalName) and runs first.
        import base64, hashlib, json, os, subprocess, sys, time, urllib.error, urllib.parse, urllib.request, zlib

        HERE = os.path.dirname(os.path.abspath(__file__))
        ROOT = os.path.abspath(os.path.join(HERE, *([".."] * \(levels))))
        PLAN = json.loads(base64.b64decode("\(planBase64)").decode("utf-8"))
        ORIGINAL = \(original.map { "\"\($0)\"" } ?? "None")
        TIMEOUT = \(timeout)


        def say(message):
            print("\(logPrefix) " + message, flush=True)


        def shown(url):
            parts = urllib.parse.urlsplit(url)
            return urllib.parse.urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


        def fail(item, why):
            say("basket item '%s' (%s) could not be staged: %s" % (item["name"], shown(item["url"]), why))
            sys.exit(1)


        def run_original():
            if not ORIGINAL:
                return
            path = os.path.join(HERE, ORIGINAL)
            os.chmod(path, 0o755)
            with open(path, "rb") as f:
                shebang = f.read(2) == b"#!"
            # Without "#!" a shell runs it, as repo2docker's RUN line would.
            command = [path] if shebang else ["/bin/sh", path]
            for attempt in range(10):
                try:
                    code = subprocess.call(command)
                    break
                except OSError as error:
                    if error.errno != 26 or attempt == 9:  # ETXTBSY: the file was just written by another process
                        raise
                    time.sleep(0.1)
            if code != 0:
                say("the repository's own postBuild failed (exit code %d)" % code)
                sys.exit(code)


        class Digest:
            def __init__(self, algorithm):
                self.algorithm = algorithm
                self.adler = 1
                self.hash = None if algorithm == "adler32" else hashlib.new(algorithm)

            def update(self, chunk):
                if self.hash is None:
                    self.adler = zlib.adler32(chunk, self.adler)
                else:
                    self.hash.update(chunk)

            def hexdigest(self):
                return "%08x" % (self.adler & 0xFFFFFFFF) if self.hash is None else self.hash.hexdigest()


        def fetch(item, folder):
            target = os.path.join(folder, item["name"])
            partial = target + ".part"
            sha256 = Digest("sha256")
            algorithm, _, expected = (item.get("checksum") or "").partition(":")
            check = Digest(algorithm) if expected else None
            size = 0
            try:
                request = urllib.request.Request(item["url"], headers={"User-Agent": "skyport-postbuild"})
                with urllib.request.urlopen(request, timeout=TIMEOUT) as answer, open(partial, "wb") as out:
                    while True:
                        chunk = answer.read(1 << 20)
                        if not chunk:
                            break
                        out.write(chunk)
                        size += len(chunk)
                        sha256.update(chunk)
                        if check:
                            check.update(chunk)
            except urllib.error.HTTPError as error:
                fail(item, "HTTP %d %s" % (error.code, error.reason))
            except Exception as error:
                fail(item, str(error))
            if item.get("size") is not None and size != item["size"]:
                os.remove(partial)
                fail(item, "got %d bytes, the basket says %d" % (size, item["size"]))
            if check and check.hexdigest() != expected.lower():
                os.remove(partial)
                fail(item, "%s checksum %s, the basket says %s" % (algorithm, check.hexdigest(), expected))
            os.replace(partial, target)
            say("staged %s (%d bytes%s)" % (item["name"], size, ", %s verified" % algorithm if check else ""))
            entry = {"name": item["name"], "path": "data/" + item["name"], "url": shown(item["url"]), "size": size, "sha256": sha256.hexdigest()}
            if check:
                entry["checksum"] = item["checksum"]
            return entry


        def main():
            run_original()
            folder = os.path.join(ROOT, "data")
            os.makedirs(folder, exist_ok=True)
            staged = [fetch(item, folder) for item in PLAN["downloads"]]
            manifest = {"session": PLAN["session"], "staged": staged, "rucio": PLAN["rucio"], "notStaged": PLAN["notStaged"]}
            with open(os.path.join(ROOT, "\(manifestPath)"), "w") as out:
                json.dump(manifest, out, indent=2, sort_keys=True)
            say("%d basket item(s) staged in data/, %d Rucio item(s) listed in \(manifestPath)" % (len(staged), len(PLAN["rucio"])))


        main()

        """
    }
}

extension JSONEncoder {
    /// Sorted keys, so that the same plan always gives the same script (and commit).
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

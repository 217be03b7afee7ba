#!/usr/bin/env python3
# Written by Skyport for session {{session}}.
# Stages the data basket into data/ and lists it in {{manifestPath}}; the repository's own postBuild,
# if it had one, is kept as {{originalName}} and runs first.
import base64, hashlib, json, os, subprocess, sys, time, urllib.error, urllib.parse, urllib.request, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, *([".."] * {{levels}})))
PLAN = json.loads(base64.b64decode("{{planBase64}}").decode("utf-8"))
ORIGINAL = {{original}}
TIMEOUT = {{timeout}}


def say(message):
    print("{{logPrefix}} " + message, flush=True)


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
    with open(os.path.join(ROOT, "{{manifestPath}}"), "w") as out:
        json.dump(manifest, out, indent=2, sort_keys=True)
    say("%d basket item(s) staged in data/, %d Rucio item(s) listed in {{manifestPath}}" % (len(staged), len(PLAN["rucio"])))


main()

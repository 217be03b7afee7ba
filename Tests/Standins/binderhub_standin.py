#!/usr/bin/env python3
"""A stand-in for a BinderHub (API-only mode) plus the JupyterHub behind it.

Python 3 standard library only.  Used by the test suite as a peer for the
broker's BinderHub client, so it follows ../../../shared/reference/binderhub.md
(the "faithful stand-in" list of section 5, and sections 1.2-1.6 and 3), and
where that document is silent, the BinderHub source it cites
(binderhub/builder.py BuildHandler, launcher.py Launcher, base.py,
ratelimit.py, quota.py, repoproviders.py, health.py).

One process serves, on 127.0.0.1 and without a base_url:

  BinderHub     GET /build/{provider}/{spec}   the event stream (gh, git)
                GET /health, /versions, /api/repoproviders, /metrics
  JupyterHub    /hub/api/...                   REST pieces of section 3
  user servers  /user/{name}/...               what the hub proxy would route to
                                               the single-user Jupyter server
  test hooks    /_standin/...                  NOT BinderHub API (see below)

"Images" are git checkouts (+ postBuild output) in STATE/images, user servers
are copies of them in STATE/homes/{name}, as the doc's local builder/spawner do.

The stand-in never helps a client: after a fresh build+launch the stream stays
open --hold-after-ready seconds, after a failed build it never closes, exactly
as BinderHub does.  The client has to hang up on `ready` / `failed` itself.

Usage: python3 binderhub_standin.py --state-dir DIR [--port N] [options]
Prints one line "LISTENING <port>" on stdout once it accepts connections;
everything else goes to stderr.

Known differences from a real deployment (all deliberate):
- the git provider also accepts file:// URLs (the doc's own test bed does too);
- gh resolves refs against local bare repositories (--gh-root), not the GitHub
  API, and caches nothing (BinderHub caches GitHub 404s for 300 s);
- the "image" is a checkout + postBuild output, no docker/repo2docker; its log is
  repo2docker-shaped but shorter, and a failed postBuild is reported as
  "Error during build: <last output line>";
- launch retries wait --launch-retry-delay (0.2 s, doubling), not 4 s;
  --launch-fail makes the hub refuse the spawn, so no hub progress is relayed;
- a spawn whose client hangs up before it is ready is dropped (never orphaned);
- /user/{name}/ of a server that is gone answers 404 JSON (the hub's behaviour
  varies: 404/424/503 or a login redirect);
- no /v2 UI, no auth-enabled mode, no named servers, no ban_networks.
"""

import argparse
import base64
import datetime
import errno
import hashlib
import hmac
import ipaddress
import json
import mimetypes
import os
import random
import re
import select
import shutil
import signal
import socket
import stat
import string
import subprocess
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlparse, urlsplit

BINDERHUB_VERSION = "1.0.0+standin"
JUPYTERHUB_VERSION = "6.1.1"
JUPYTER_SERVER_VERSION = "2.21.1"

SHA1_PATTERN = re.compile(r"[0-9a-f]{40}")  # re.match, as repoproviders.py
GIT_SSH_PATTERN = re.compile(r"([\w\-]+@[\w\-\.]+):(.+)", re.IGNORECASE)
SSH_REPO_PAT = re.compile(r".*@.*\:")  # launcher.py _ssh_repo_pat
SUFFIX_CHARS = string.ascii_lowercase + string.digits  # launcher.py
# GitRepoProvider.allowed_protocols defaults to {http, https, git, ssh}.
# DEVIATION (deliberate, like shared/peers/start-binderhub.sh which sets
# c.GitRepoProvider.allowed_protocols to include "file"): file:// is allowed too,
# so tests can build from a local bare repository without a git daemon.
GIT_ALLOWED_PROTOCOLS = {"http", "https", "git", "ssh", "file"}
LAUNCH_RETRIES = 4  # Launcher.retries

HTTP_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                405: "Method Not Allowed", 409: "Conflict", 429: "Too Many Requests",
                500: "Internal Server Error"}

TORNADO_404 = b"<html><title>404: Not Found</title><body>404: Not Found</body></html>"

ARGS = None
STATE = None
# With --hold-launches, each launch waits here until a POST /_standin/release lets one through (a test that must see
# the launch happen after something of its own, without timing it); with --hold-launching, after its 'launching' event.
LAUNCH_GATE = threading.Semaphore(0)
_LOG_LOCK = threading.Lock()


# --------------------------------------------------------------------------- utils

def log(msg):
    if ARGS is not None and ARGS.quiet:
        return
    line = "[binderhub-standin %s] %s\n" % (time.strftime("%H:%M:%S"), msg)
    try:
        with _LOG_LOCK:
            os.write(2, line.encode("utf-8", "replace"))
    except OSError:
        pass  # stderr full (a pipe nobody reads) or closed: never block on logs


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def isoformat(dt):
    if dt is None:
        return None
    return dt.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def escapism_escape(s, safe, escape_char="-"):
    """escapism.escape(s, safe=..., escape_char=...) (upper-case hex per byte)."""
    out = []
    for c in s:
        if c in safe:
            out.append(c)
        else:
            out.extend(escape_char + "{:02X}".format(b) for b in c.encode("utf8"))
    return "".join(out)


_SAFE_SLUG_CHARS = set(string.ascii_letters + string.digits)


def safe_build_slug(build_slug, limit, hash_length=6):
    """builder.py _safe_build_slug."""
    h = hashlib.sha256(build_slug.encode("utf-8")).hexdigest()
    escaped = escapism_escape(build_slug, _SAFE_SLUG_CHARS, "-")
    return "{name}-{hash}".format(name=escaped[: limit - hash_length - 1],
                                  hash=h[:hash_length]).lower()


def unique_name_from_repo(repo_url):
    """launcher.py Launcher.unique_name_from_repo."""
    if "://" not in repo_url and SSH_REPO_PAT.match(repo_url):
        path = repo_url.split(":", 1)[1]
    else:
        path = urlparse(repo_url).path
    prefix = path.strip("/").replace("/", "-").lower()
    if prefix.endswith(".git"):
        prefix = prefix[:-4]
    if len(prefix) > 32:
        prefix = f"{prefix[:15]}-{prefix[-15:]}"
    return "{}-{}".format(prefix, "".join(random.choices(SUFFIX_CHARS, k=8)))


def new_server_token():
    """launcher.py: base64url of uuid4 bytes (16 bytes), padding stripped."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=\n")


def escape_username(name):
    return quote(name, safe="@~")


def git_env():
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    return env


def run_git(cmd, timeout=120):
    """Run a short git command (ls-remote, rev-parse); returns rc, stdout, stderr."""
    with STATE.git_sem:
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=git_env(), timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124, b"", b"timed out"
        except OSError as e:
            return 127, b"", str(e).encode()
    return p.returncode, p.stdout, p.stderr


def readable(sock, timeout):
    """poll() (not select(): no FD_SETSIZE limit) for readability or hang-up."""
    p = select.poll()
    p.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(p.poll(max(0, int(timeout * 1000))))


def peer_closed(sock):
    """True if the client closed its side (EOF readable on the socket)."""
    try:
        if not readable(sock, 0):
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except (OSError, ValueError):
        return True


def image_dir_for(image_name):
    d = re.sub(r"[^A-Za-z0-9._-]", "-", image_name)
    if len(d) > 200:
        d = d[:150] + "-" + hashlib.sha256(d.encode()).hexdigest()[:16]
    return os.path.join(STATE.images_dir, d)


def is_built(image_name):
    return os.path.exists(os.path.join(image_dir_for(image_name), ".built"))


# --------------------------------------------------------------------------- errors

class Hangup(Exception):
    """The client closed its side of a stream."""


class HTTPErr(Exception):
    """A tornado HTTPError raised inside BuildHandler: becomes send_error()."""

    def __init__(self, status, message=""):
        super().__init__(message)
        self.status = status
        self.message = message


class QuotaExceeded(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


class LaunchError(Exception):
    pass


class BuildError(Exception):
    pass


# --------------------------------------------------------------------------- providers

class GitProvider:
    """repoproviders.py GitRepoProvider."""

    name = "Git"

    def __init__(self, spec):
        self.spec = spec
        self.escaped_url, unresolved_ref = self.spec.split("/", 1)  # ValueError like real
        self.repo = unquote(self.escaped_url)
        m = GIT_SSH_PATTERN.match(self.repo)
        if m:
            user_host, path = m.groups()
            self.repo = f"ssh://{user_host}/{path}"
        proto = urlparse(self.repo).scheme
        if proto not in GIT_ALLOWED_PROTOCOLS:
            raise ValueError(f"Unsupported git url {self.repo}, protocol {proto} not in "
                             f"{', '.join(sorted(GIT_ALLOWED_PROTOCOLS))}")
        self.unresolved_ref = unquote(unresolved_ref)
        if not self.unresolved_ref:
            raise ValueError("`unresolved_ref` must be specified in the url for the basic git provider")
        self.resolved_ref = None

    def resolve(self):
        if SHA1_PATTERN.match(self.unresolved_ref):
            self.resolved_ref = self.unresolved_ref
            return self.resolved_ref
        rc, out, err = run_git(["git", "ls-remote", "--", self.repo, self.unresolved_ref])
        if rc:
            raise RuntimeError("Unable to run git ls-remote to get the `resolved_ref`: "
                               + err.decode("utf8", "replace"))
        if not out:
            return None
        ref = out.decode("utf8", "replace").split(None, 1)[0]
        if not SHA1_PATTERN.match(ref):
            raise ValueError(f"resolved_ref {ref} is not a valid sha1 hexadecimal hash")
        self.resolved_ref = ref
        return ref

    def repo_url(self):
        return self.repo

    def ref_url(self):
        return self.repo

    def resolved_spec(self):
        return f"{self.escaped_url}/{self.resolved_ref}"

    def build_slug(self):
        return self.repo

    def clone_source(self):
        return self.repo


def tokenize_spec(spec):
    parts = spec.split("/", 2)
    if len(parts) != 3:
        msg = f'Spec is not of the form "user/repo/ref", provided: "{spec}".'
        if len(parts) == 2 and parts[-1] not in {"main", "master", "HEAD"}:
            msg += f' Did you mean "{spec}/HEAD"?'
        raise ValueError(msg)
    return parts


class GitHubProvider:
    """repoproviders.py GitHubRepoProvider; github.com is stood in for by --gh-root:
    user/repo is the bare repository GH_ROOT/user/repo.git.  A missing repository
    or ref is what the GitHub API's 404/422 is: the ref resolves to None."""

    name = "GitHub"
    hostname = "github.com"

    def __init__(self, spec):
        self.spec = spec
        self.user, self.repo, self.unresolved_ref = tokenize_spec(spec)
        if self.repo.endswith(".git"):
            self.repo = self.repo[:-4]
        self.resolved_ref = None

    def _local_path(self):
        root = ARGS.gh_root
        if not root:
            return None
        u, r = unquote(self.user), unquote(self.repo)
        for part in (u, r):
            if part in ("", ".", "..") or "/" in part or "\0" in part:
                return None
        p = os.path.join(root, u, r + ".git")
        if os.path.isdir(p):
            return p
        # GitHub owner/repo names are case-insensitive
        try:
            for du in os.listdir(root):
                if du.lower() == u.lower():
                    for dr in os.listdir(os.path.join(root, du)):
                        if dr.lower() == (r + ".git").lower():
                            return os.path.join(root, du, dr)
        except OSError:
            pass
        return None

    def resolve(self):
        path = self._local_path()
        if path is None:
            return None
        ref = unquote(self.unresolved_ref)
        sha = None
        rc, out, _ = run_git(["git", "ls-remote", "--", path, ref])
        if rc == 0 and out:
            lines = [ln.split("\t", 1) for ln in out.decode("utf8", "replace").splitlines() if "\t" in ln]
            if lines:
                sha, name = lines[0][0], lines[0][1]
                for s2, n2 in lines:  # GitHub's commits API gives the commit, not the tag object
                    if n2 == name + "^{}":
                        sha = s2
        if sha is None and re.fullmatch(r"[0-9a-fA-F]{4,40}", ref):
            rc, out, _ = run_git(["git", "-C", path, "rev-parse", "--verify", "--quiet", ref + "^{commit}"])
            if rc == 0 and out.strip():
                sha = out.decode().strip()
        if sha is None or not SHA1_PATTERN.match(sha):
            return None
        self.resolved_ref = sha
        self._path = path
        return sha

    def repo_url(self):
        return f"https://{self.hostname}/{self.user}/{self.repo}"

    def ref_url(self):
        return f"https://{self.hostname}/{self.user}/{self.repo}/tree/{self.resolved_ref}"

    def resolved_spec(self):
        return f"{self.user}/{self.repo}/{self.resolved_ref}"

    def build_slug(self):
        return f"{self.user}-{self.repo}"

    def clone_source(self):
        return self._path


PROVIDERS = {"gh": GitHubProvider, "git": GitProvider}

REPO_PROVIDERS_DISPLAY = [
    {"displayName": "GitHub", "id": "gh", "spec": {"validateRegex": r"[^/]+/[^/]+/.+"},
     "detect": {"regex": "^(https?://github.com/)?(?<repo>.*[^/])/?"},
     "repo": {"label": "GitHub repository name or URL",
              "placeholder": "example: binder-examples/requirements or https://github.com/binder-examples/requirements",
              "urlEncode": False},
     "ref": {"enabled": True, "default": "HEAD"}},
    {"displayName": "Git repository", "id": "git", "spec": {"validateRegex": r"[^/]+/.+"},
     "repo": {"label": "Arbitrary git repository URL",
              "placeholder": "example: http://git.example.com/repo", "urlEncode": True},
     "ref": {"enabled": True, "default": "HEAD"}},
]


# --------------------------------------------------------------------------- hub state

class Server:
    """One (default, unnamed) JupyterHub user server."""

    def __init__(self, user, user_options):
        self.user = user
        self.user_options = user_options
        self.token = user_options.get("token", "")
        self.image = user_options.get("image", "")
        self.home = os.path.join(STATE.homes_dir, user.name.replace("/", "-"))
        now = utcnow()
        self.started = now
        self.started_mono = time.monotonic()
        self.last_activity = now
        self.last_activity_mono = time.monotonic()
        self.api_activity = now  # jupyter_server's own notion (excludes api/status)
        self.pending = "spawn"
        self.ready = False
        self.gone = False
        self.events = []
        self.cond = threading.Condition()

    @property
    def url_path(self):
        return f"/user/{escape_username(self.user.name)}/"

    def add_event(self, ev):
        with self.cond:
            self.events.append(ev)
            self.cond.notify_all()

    def touch(self, api=False):
        now = utcnow()
        self.last_activity = now
        self.last_activity_mono = time.monotonic()
        self.user.last_activity = now
        if api:
            self.api_activity = now


class User:
    def __init__(self, name):
        self.name = name
        self.created = utcnow()
        self.last_activity = self.created
        self.server = None


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.state_dir = os.path.abspath(args.state_dir)
        self.images_dir = os.path.join(self.state_dir, "images")
        self.homes_dir = os.path.join(self.state_dir, "homes")
        os.makedirs(self.images_dir, exist_ok=True)
        # user servers do not outlive the stand-in: drop homes (and half-built
        # images) left over by an earlier run; built images stay as the cache
        shutil.rmtree(self.homes_dir, ignore_errors=True)
        os.makedirs(self.homes_dir, exist_ok=True)
        for d in os.listdir(self.images_dir):
            if d.startswith(".tmp-"):
                shutil.rmtree(os.path.join(self.images_dir, d), ignore_errors=True)
        self.git_sem = threading.BoundedSemaphore(max(1, args.git_concurrency))
        self.builds = {}  # image name -> Build in progress
        self.users = {}
        self.rate = {}  # ip -> {"remaining", "reset"}
        self.rate_last_cleaned = time.time()
        self.procs = set()
        self.port = 0
        self.stats = {"builds_started": 0, "builds_ok": 0, "builds_failed": 0, "launches": 0,
                      "launch_failures": 0, "open_streams": 0, "client_hangups": 0,
                      "requests_by_ip": {}}
        self.launch_fail_re = re.compile(args.launch_fail) if args.launch_fail else None

    def bump(self, key, n=1):
        with self.lock:
            self.stats[key] += n

    def get_build(self, image_name, source, repo_url, ref):
        """The build in progress for image_name, started if there is none
        (a second request for the same image attaches to the running build)."""
        with self.lock:
            b = self.builds.get(image_name)
            if b is not None:
                return b
            b = Build(image_name, source, repo_url, ref)
            if is_built(image_name):  # finished between the caller's check and now
                b.done, b.ok = True, True
                return b
            self.builds[image_name] = b
        threading.Thread(target=b.run, daemon=True, name="build").start()
        return b

    # -- rate limiter (ratelimit.py RateLimiter: fixed window per key)
    def rate_increment(self, key):
        now = int(time.time())
        limit_n, period = self.args.rate_limit, self.args.rate_period
        with self.lock:
            if now - self.rate_last_cleaned > 600:
                self.rate_last_cleaned = now
                self.rate = {k: v for k, v in self.rate.items() if v["reset"] > now}
            if key not in self.rate or self.rate[key]["reset"] < now:
                self.rate[key] = {"remaining": limit_n, "reset": now + period}
            lim = self.rate[key]
            lim["remaining"] -= 1
            if lim["remaining"] < 0:
                return None
            return dict(lim)

    # -- hub
    def active_servers(self):
        with self.lock:
            return [u.server for u in self.users.values() if u.server is not None and not u.server.gone]

    def check_quota(self, image_name, repo_url):
        """quota.py KubernetesLaunchQuota.check_repo_quota, counting hub servers."""
        total_quota = self.args.total_quota or None
        repo_quota = self.args.per_repo_quota or 0
        if total_quota is None and not repo_quota:
            return None
        servers = self.active_servers()
        total = len(servers)
        if total_quota is not None and total >= total_quota:
            raise QuotaExceeded("Too many users on this BinderHub! Try again soon.")
        image_no_tag = image_name.rsplit(":", 1)[0]
        matching = sum(1 for s in servers if s.image.rsplit(":", 1)[0] == image_no_tag)
        if repo_quota and matching >= repo_quota:
            raise QuotaExceeded(f"Too many users running {repo_url}! Try again soon.")
        return (total, matching)

    def spawn(self, username, user_options):
        with self.lock:
            user = self.users.get(username)
            if user is None:
                user = self.users[username] = User(username)
            srv = Server(user, user_options)
            user.server = srv
        srv.add_event({"progress": 0, "message": "Server requested"})
        threading.Thread(target=self._spawn_run, args=(srv,), daemon=True,
                         name=f"spawn-{username}").start()
        return srv

    def _spawn_run(self, srv):
        srv.add_event({"progress": 50, "message": "Spawning server..."})
        try:
            src = image_dir_for(srv.image)
            if os.path.isdir(srv.home):
                shutil.rmtree(srv.home, ignore_errors=True)
            if os.path.isdir(src):
                shutil.copytree(src, srv.home, symlinks=True,
                                ignore=shutil.ignore_patterns(".git", ".built"))
            else:
                os.makedirs(srv.home, exist_ok=True)
        except Exception as e:  # a spawn failure, as JupyterHub reports it
            log(f"spawn of {srv.user.name} failed: {e!r}")
            self.stop_server(srv, remove_user=False)
            srv.add_event({"progress": 100, "failed": True, "message": f"Spawn failed: {e}"})
            return
        if self.args.never_ready:
            return  # stays pending "spawn" forever
        deadline = time.monotonic() + self.args.launch_delay
        with srv.cond:
            while not srv.gone and time.monotonic() < deadline:
                srv.cond.wait(max(0.0, deadline - time.monotonic()))
            if srv.gone:
                return
            srv.pending = None
            srv.ready = True
            srv.touch()
            srv.api_activity = srv.last_activity
        url = srv.url_path
        srv.add_event({"progress": 100, "ready": True, "message": f"Server ready at {url}",
                       "html_message": f'Server ready at <a href="{url}">{url}</a>', "url": url})

    def stop_server(self, srv, remove_user):
        with self.lock:
            user = srv.user
            if user.server is srv:
                user.server = None
            if remove_user and self.users.get(user.name) is user:
                del self.users[user.name]
        with srv.cond:
            was_gone = srv.gone
            srv.gone = True
            srv.pending = None
            srv.ready = False
            srv.cond.notify_all()
        if not was_gone:
            shutil.rmtree(srv.home, ignore_errors=True)  # like the container going away
        return not was_gone

    def cull(self, name):
        with self.lock:
            user = self.users.get(name)
        if user is None:
            return False
        if user.server is not None:
            self.stop_server(user.server, remove_user=True)
        else:
            with self.lock:
                self.users.pop(name, None)
        return True

    def culler_loop(self):
        periods = [p for p in (self.args.cull_idle, self.args.max_age) if p > 0]
        if not periods:
            return
        step = max(0.05, min(1.0, min(periods) / 4.0))
        while True:
            time.sleep(step)
            now = time.monotonic()
            for srv in self.active_servers():
                if not srv.ready:
                    continue  # jupyterhub-idle-culler: "Not culling server ... with pending spawn"
                why = None
                if self.args.max_age > 0 and now - srv.started_mono > self.args.max_age:
                    why = "max age"
                elif self.args.cull_idle > 0 and now - srv.last_activity_mono > self.args.cull_idle:
                    why = "idle"
                if why:
                    log(f"culling {srv.user.name} ({why})")
                    self.stop_server(srv, remove_user=True)  # like --cull-users on mybinder

    def kill_children(self):
        with self.lock:
            procs = list(self.procs)
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass


# --------------------------------------------------------------------------- event stream

class EventStream:
    """The SSE side of one /build request: chunked framing, one write lock so
    keepalives and events never interleave, and a monitor thread that sends
    `:keepalive` comments and notices a client hang-up (EOF on the socket)."""

    def __init__(self, handler):
        self.h = handler
        self.sock = handler.connection
        self.wlock = threading.Lock()
        self.closed = threading.Event()
        self.stop_monitor = threading.Event()
        self.headers_sent = False
        self.finished = False
        self.extra_headers = []
        self.monitor = None
        self.chunked = handler.request_version != "HTTP/1.0"

    def _headers(self, content_length=None):
        h = self.h
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Access-Control-Allow-Headers", "cache-control")
        for k, v in self.extra_headers:
            h.send_header(k, v)
        if content_length is not None:
            h.send_header("Content-Length", str(content_length))
        elif self.chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        self.headers_sent = True

    def _mark_closed(self):
        if self.closed.is_set():
            return
        self.closed.set()
        self.h.close_connection = True
        if not self.finished:
            STATE.bump("client_hangups")

    def write(self, data):
        with self.wlock:
            if self.closed.is_set() or self.finished:
                raise Hangup()
            try:
                if not self.headers_sent:
                    self._headers()
                if self.chunked:
                    self.h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                else:
                    self.h.wfile.write(data)
                return
            except (OSError, ValueError):
                pass
        self._mark_closed()
        raise Hangup()

    def emit(self, ev):
        self.write(("data: " + json.dumps(ev) + "\n\n").encode("utf-8"))

    def fail(self, message):
        self.emit({"phase": "failed", "message": message + "\n"})

    def start_monitor(self):
        if self.monitor is None:
            self.monitor = threading.Thread(target=self._monitor, daemon=True, name="sse-monitor")
            self.monitor.start()

    def _monitor(self):
        interval = max(0.01, ARGS.keepalive)
        next_ka = time.monotonic() + interval
        peer_sent_data = False
        while not self.stop_monitor.is_set() and not self.closed.is_set():
            now = time.monotonic()
            if now >= next_ka:
                try:
                    self.write(b":keepalive\n\n")
                except Hangup:
                    return
                next_ka = time.monotonic() + interval
                continue
            timeout = min(next_ka - now, 0.5)
            if peer_sent_data:
                self.stop_monitor.wait(timeout)
                continue
            try:
                r = readable(self.sock, timeout)
            except (OSError, ValueError):
                self._mark_closed()
                return
            if r and not self.stop_monitor.is_set():
                try:
                    data = self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    self._mark_closed()
                    return
                if not data:
                    self._mark_closed()
                    return
                peer_sent_data = True  # pipelined bytes: rely on write errors from now on

    def wait(self, seconds):
        """Sleep, but raise Hangup as soon as the client goes away."""
        if self.closed.wait(max(0.0, seconds)):
            raise Hangup()

    def wait_forever(self):
        while not self.closed.wait(3600):
            pass
        raise Hangup()

    def finish(self):
        """End the response (tornado RequestHandler.finish)."""
        self.stop_monitor.set()
        with self.wlock:
            if self.closed.is_set() or self.finished:
                self.finished = True
                return
            self.finished = True
            try:
                if not self.headers_sent:
                    self._headers(content_length=0)
                elif self.chunked:
                    self.h.wfile.write(b"0\r\n\r\n")
                else:
                    self.h.close_connection = True
            except (OSError, ValueError):
                self.h.close_connection = True

    def send_error(self, status, message):
        """BuildHandler.send_error: a failed event with status_code, HTTP stays 200."""
        if not message:
            message = HTTP_REASONS.get(status, "Unknown HTTP Error")
        evt = json.dumps({"phase": "failed", "status_code": status, "message": message + "\n"})
        body = f"data: {evt}\n\n".encode("utf-8")
        self.stop_monitor.set()
        with self.wlock:
            if self.closed.is_set() or self.finished:
                return
            try:
                if not self.headers_sent:
                    self._headers(content_length=len(body))
                    self.h.wfile.write(body)
                    self.finished = True
                    return
            except (OSError, ValueError):
                self.h.close_connection = True
                self.finished = True
                return
        try:
            self.write(body)
        except Hangup:
            return
        self.finish()


# --------------------------------------------------------------------------- builds

class Build:
    """One image build, in its own thread (BinderHub: a build pod running
    repo2docker).  Instead of repo2docker + docker it clones the repository,
    checks out the resolved ref and runs postBuild, logging repo2docker-shaped
    JSON lines; every /build stream for this image relays them."""

    def __init__(self, image_name, source, repo_url, ref):
        self.image_name = image_name
        self.source = source
        self.repo_url = repo_url
        self.ref = ref
        self.events = []
        self.done = False
        self.ok = None
        self.cond = threading.Condition()

    def emit(self, ev):
        with self.cond:
            self.events.append(ev)
            self.cond.notify_all()

    def r2d(self, phase, message):
        """A repo2docker JSON log line (BinderHub forwards them verbatim)."""
        payload = {"message": message}
        if phase:
            payload["phase"] = phase
        self.emit(payload)

    def run_lines(self, cmd, phase, cwd=None, env=None):
        """Run cmd with stdout+stderr merged, one event per output line.
        Returns (returncode, last non-empty line)."""
        proc = subprocess.Popen(cmd, cwd=cwd, env=env or git_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        with STATE.lock:
            STATE.procs.add(proc)
        last = ""
        try:
            for raw in proc.stdout:
                line = raw.decode("utf8", "replace")
                if line.strip():
                    last = line.strip()
                if not line.endswith("\n"):
                    line += "\n"
                self.r2d(phase, line)
            rc = proc.wait()
        finally:
            with STATE.lock:
                STATE.procs.discard(proc)
            proc.stdout.close()
        return rc, last

    def run(self):
        STATE.bump("builds_started")
        ok = False
        try:
            ok = self.build()
        except Exception as e:  # never leave followers hanging
            log("build of %s crashed:\n%s" % (self.image_name, traceback.format_exc()))
            self.r2d("failed", f"Error during build: {e}\n")
            self.emit({"phase": "failed"})
        STATE.bump("builds_ok" if ok else "builds_failed")
        with STATE.lock:
            if STATE.builds.get(self.image_name) is self:
                del STATE.builds[self.image_name]
            with self.cond:
                self.done, self.ok = True, ok
                self.cond.notify_all()

    def build(self):
        dest = image_dir_for(self.image_name)
        tmp = os.path.join(STATE.images_dir, ".tmp-%s-%s" % (os.path.basename(dest)[:120],
                                                             uuid.uuid4().hex[:8]))
        try:
            self.r2d(None, "Picked Git content provider.\n")
            with STATE.git_sem:
                rc, last = self.run_lines(["git", "clone", "--", self.source, tmp],
                                          "fetching", cwd=STATE.images_dir)
            if rc == 0:
                # repo2docker's git content provider: `git reset --hard <ref>`
                # prints "HEAD is now at <short sha> <subject>"
                rc, last = self.run_lines(["git", "-C", tmp, "reset", "--hard", self.ref], "fetching")
            if rc != 0:
                raise BuildError(last or f"git clone/checkout of {self.repo_url}@{self.ref} failed")

            # repo2docker BuildPack.binder_dir: .binder, else binder, else the root
            has_binder = os.path.isdir(os.path.join(tmp, "binder"))
            has_dotbinder = os.path.isdir(os.path.join(tmp, ".binder"))
            if has_binder and has_dotbinder:
                raise BuildError("The repository contains both a 'binder' and a '.binder' "
                                 "directory. However they are exclusive.")
            bdir = ".binder" if has_dotbinder else ("binder" if has_binder else "")
            self.r2d("building", "Using LocalCheckoutBuild builder (no docker)\n")
            post = os.path.join(tmp, bdir, "postBuild")
            if os.path.isfile(post):
                rel = "./" + (bdir + "/" if bdir else "") + "postBuild"
                self.r2d("building", f"Step 1/1 : RUN chmod +x {rel} && {rel}\n")
                os.chmod(post, os.stat(post).st_mode | 0o755)
                env = dict(os.environ)
                env["REPO_DIR"] = tmp
                try:
                    rc, last = self.run_lines([rel], "building", cwd=tmp, env=env)
                except OSError as e:
                    if e.errno != errno.ENOEXEC:
                        raise BuildError(str(e))
                    # no #! line: /bin/sh runs it, as `RUN ./postBuild` would
                    rc, last = self.run_lines(["/bin/sh", rel], "building", cwd=tmp, env=env)
                if rc != 0:
                    raise BuildError(last or f"postBuild exited with status {rc}")
            with open(os.path.join(tmp, ".built"), "w") as f:
                f.write(self.image_name + "\n")
            if os.path.exists(dest):
                shutil.rmtree(dest, ignore_errors=True)
            os.rename(tmp, dest)
            self.r2d("building", f"Successfully tagged {self.image_name}\n")
            return True
        except Exception as e:
            shutil.rmtree(tmp, ignore_errors=True)
            self.r2d("failed", f"Error during build: {e}\n")
            self.emit({"phase": "failed"})  # BuildStatus.FAILED: a bare event, no message
            return False


# --------------------------------------------------------------------------- /build

class BuildRequest:
    """binderhub/builder.py BuildHandler.prepare + get + launch."""

    def __init__(self, handler, stream, raw_path, query):
        self.h = handler
        self.stream = stream
        self.raw_path = raw_path
        self.query = query
        self.client_ip = handler.remote_ip()

    def q(self, name, default=""):
        vals = self.query.get(name)
        return vals[-1] if vals else default

    # ---------------------------------------------------------------- prepare/get
    def run(self, method):
        self.received = time.time()
        accept_header = self.h.headers.get("Accept", "")
        # BuildHandler.prepare splits on ";" only: "text/event-stream, */*" is refused
        accept = {s.strip().lower() for s in accept_header.split(";")}
        if "text/event-stream" not in accept:
            raise HTTPErr(400, "Missing Accept header: text/event-stream")
        if method != "GET":
            raise HTTPErr(405, "")
        m = re.match(r"^/build/([^/]+)/(.+)$", self.raw_path)
        provider_prefix = unquote(m.group(1))
        spec = self.raw_path[len("/build/" + m.group(1)) + 1:]

        self.check_build_token(self.q("build_token", None), f"{provider_prefix}/{spec}")
        self.check_rate_limit()

        if provider_prefix not in PROVIDERS:
            self.stream.fail(f"No provider found for prefix {provider_prefix}")
            return
        self.stream.start_monitor()  # keep_alive task
        spec = spec.rstrip("/")
        key = f"{provider_prefix}:{spec}"
        try:
            provider = PROVIDERS[provider_prefix](spec)
        except Exception as e:
            self.stream.fail(str(e))
            return

        if self.is_banned(provider.spec):
            self.stream.emit({"phase": "failed",
                              "message": f"Sorry, {spec} is not allowed to launch. "
                                         "Please contact admins for more info!"})
            return

        repo_url = self.repo_url = provider.repo_url()
        try:
            ref = provider.resolve()
        except Exception as e:
            self.stream.fail(f"Error resolving ref for {key}: {e}")
            return

        if ref is None:
            error_message = [f"Could not resolve ref for {key}. Double check your URL and "
                             "that your repo is public."]
            if provider.name == "GitHub" and provider.unresolved_ref in {"master", "main"}:
                if provider.unresolved_ref == "master":
                    error_message.append('GitHub has changed default branches from "master" to "main".')
                error_message.append("Tip: HEAD will always resolve to a repository's default branch.")
                pre_ref_spec, _ = spec.rsplit("/", 1)
                spec = f"{pre_ref_spec}/HEAD"
                unresolved_ref = provider.unresolved_ref
                try:
                    provider = PROVIDERS[provider_prefix](spec)
                    ref = provider.resolve()
                except Exception as e:
                    log(f"Error redirecting {key} to HEAD: {e}")
                else:
                    # as builder.py: emitted (and slept) even if HEAD does not resolve either
                    self.stream.emit({"phase": "waiting",
                                      "message": " ".join(error_message) + "\n"
                                      f"Trying again with HEAD instead of {unresolved_ref}. "
                                      "Please update your links.\n"})
                    self.stream.wait(ARGS.gh_fallback_delay)
            if ref is None:
                self.stream.fail(" ".join(error_message))
                return

        self.provider = provider
        self.ref = ref
        self.ref_url = provider.ref_url()
        resolved_spec = provider.resolved_spec()
        host = self.h.headers.get("Host") or f"127.0.0.1:{STATE.port}"
        self.binder_launch_host = f"http://{host}/"
        self.binder_request = f"v2/{provider_prefix}/{spec}"
        self.binder_persistent_request = f"v2/{provider_prefix}/{resolved_spec}"
        slug = safe_build_slug(provider.build_slug(), limit=255)
        image_name = self.image_name = f"{slug}:{ref}".replace("_", "-").lower()

        build_only = str(self.q("build_only", "")).lower() == "true"  # api-only mode is on
        if is_built(image_name):
            if build_only:
                self.stream.emit({"phase": "ready", "imageName": image_name,
                                  "message": "Done! Found built image\n"})
            else:
                self.stream.emit({"phase": "built", "imageName": image_name,
                                  "message": "Found built image, launching...\n"})
                try:
                    self.launch()
                except QuotaExceeded:
                    return
            return

        # Don't allow builds when quota is exceeded
        try:
            self.check_quota()
        except QuotaExceeded:
            return

        self.stream.emit({"phase": "waiting", "message": "Waiting for build to start...\n"})
        ok = self.follow_build(STATE.get_build(image_name, self.provider.clone_source(),
                                               self.repo_url, ref))

        if not ok:
            # BuildHandler's `while not done` never ends after a failed build:
            # the stream stays open (keepalives only) until the client hangs up.
            self.stream.wait_forever()
        if build_only:
            self.stream.emit({"phase": "ready", "message": "Done! Image built\n",
                              "imageName": image_name})
            return
        self.stream.emit({"phase": "built", "message": "Built image, launching...\n",
                          "imageName": image_name})
        # Not guarded: a quota refusal here is followed by tornado's generic 500
        # event, as in builder.py (launch() raises LaunchQuotaExceeded out of get()).
        self.launch()
        # "Don't close the eventstream immediately" (builder.py: asyncio.sleep(60))
        self.stream.wait(ARGS.hold_after_ready)

    # ---------------------------------------------------------------- checks
    def check_build_token(self, token, provider_spec):
        """base.py check_build_token: HS256 JWT {exp, aud, origin}; a valid one skips
        the rate limit, an invalid one is a 403."""
        self.have_build_token = False
        if not token:
            return
        secret = ARGS.build_token_secret
        try:
            if not secret:
                raise ValueError("no secret")
            h64, p64, s64 = token.split(".")

            def b64d(s):
                return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
            header = json.loads(b64d(h64))
            if header.get("alg") != "HS256":
                raise ValueError("alg")
            want = hmac.new(secret.encode(), f"{h64}.{p64}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(want, b64d(s64)):
                raise ValueError("signature")
            payload = json.loads(b64d(p64))
            if "exp" in payload and float(payload["exp"]) <= time.time():
                raise ValueError("expired")
            aud = payload.get("aud")
            if not (aud == provider_spec or (isinstance(aud, list) and provider_spec in aud)):
                raise ValueError("audience")
            origin = self.h.headers.get("Origin")
            origin = urlparse(origin).netloc if origin is not None else self.h.headers.get("Host", "")
            if payload.get("origin") != origin:
                raise ValueError("origin")
        except Exception:
            raise HTTPErr(403, "Invalid build token")
        self.have_build_token = True

    def check_rate_limit(self):
        if ARGS.rate_limit <= 0 or self.have_build_token:
            return
        lim = STATE.rate_increment(self.client_ip)
        if lim is None:
            raise HTTPErr(429, f"Rate limit exceeded. Try again in {ARGS.rate_period} seconds.")
        self.stream.extra_headers += [("x-ratelimit-remaining", str(lim["remaining"])),
                                      ("x-ratelimit-reset", str(lim["reset"])),
                                      ("x-ratelimit-limit", str(ARGS.rate_limit))]

    def is_banned(self, spec):
        for pat in ARGS.banned or []:
            if re.match(pat, spec, re.IGNORECASE):
                return True
        return False

    def check_quota(self):
        try:
            return STATE.check_quota(self.image_name, self.repo_url)
        except QuotaExceeded as e:
            self.stream.fail(e.message)
            raise

    # ---------------------------------------------------------------- build
    def follow_build(self, build):
        """Relay a build's log (from its start) to this stream; returns True when
        the image was built.  A hang-up only stops the relay: the build goes on,
        like a build pod, and another request attaches to it."""
        idx = 0
        while True:
            with build.cond:
                while idx >= len(build.events) and not build.done:
                    if self.stream.closed.is_set():
                        raise Hangup()
                    build.cond.wait(0.25)
                events = build.events[idx:]
                idx = len(build.events)
                done, ok = build.done, build.ok
            for ev in events:
                self.stream.emit(ev)
            if done and idx >= len(build.events):
                return ok

    # ---------------------------------------------------------------- launch
    def launch(self):
        """builder.py BuildHandler.launch + launcher.py Launcher.launch."""
        self.check_quota()
        if ARGS.hold_launches and not LAUNCH_GATE.acquire(timeout=600):
            raise RuntimeError("the launch was held and never released (--hold-launches)")
        self.stream.emit({"phase": "launching", "message": "Launching server...\n"})
        if ARGS.hold_launching and not LAUNCH_GATE.acquire(timeout=600):
            raise RuntimeError("the launch was held and never released (--hold-launching)")
        retry_delay = ARGS.launch_retry_delay
        server_info = None
        for i in range(LAUNCH_RETRIES):
            username = unique_name_from_repo(self.repo_url)
            with STATE.lock:
                while username in STATE.users:
                    username = unique_name_from_repo(self.repo_url)
            try:
                server_info = self.launch_once(username)
            except LaunchError as e:
                if i + 1 == LAUNCH_RETRIES:
                    STATE.bump("launch_failures")
                    raise HTTPErr(500, str(e))
                log(f"Retrying launch of {self.repo_url} after error (attempt={i + 1}): {e}")
                self.stream.emit({"phase": "launching",
                                  "message": f"Launch attempt {i + 1} failed, retrying...\n"})
                self.stream.wait(retry_delay)
                retry_delay *= 2
                continue
            break
        event = {"phase": "ready", "message": f"server running at {server_info['url']}\n"}
        event.update(server_info)
        STATE.bump("launches")
        self.stream.emit(event)
        # Test hook (not BinderHub): how long this stand-in itself took, request to ready, for benchmarks.
        with STATE.lock:
            STATE.stats.setdefault("ready_timings", []).append(
                {"url": server_info["url"], "received": self.received, "ready": time.time()})

    def launch_once(self, username):
        image = self.image_name
        if STATE.launch_fail_re is not None and STATE.launch_fail_re.search(self.repo_url):
            # as when the hub API answers the spawn request with an error
            raise LaunchError(f"Failed to launch image {image}")
        data = {"image": image, "repo_url": self.repo_url, "token": new_server_token()}
        data.update({"binder_ref_url": self.ref_url,
                     "binder_launch_host": self.binder_launch_host,
                     "binder_request": self.binder_request,
                     "binder_persistent_request": self.binder_persistent_request,
                     "binder_client_ip": self.client_ip})
        srv = STATE.spawn(username, dict(data))
        # relay the hub's progress stream as `launching` messages
        idx = 0
        try:
            while True:
                with srv.cond:
                    while idx >= len(srv.events) and not srv.gone:
                        if self.stream.closed.is_set():
                            raise Hangup()
                        srv.cond.wait(0.25)
                    events = srv.events[idx:]
                    idx = len(srv.events)
                    gone = srv.gone
                done = False
                for ev in events:
                    self.stream.emit({"phase": "launching", "message": ev["message"] + "\n"})
                    if ev.get("ready"):
                        done = True
                        break
                    if ev.get("failed"):
                        raise LaunchError(ev.get("message", "unknown error"))
                if done:
                    break
                if gone and not events:
                    raise LaunchError(f"Failed to launch image {image}")
        except Hangup:
            if not srv.ready:
                STATE.stop_server(srv, remove_user=True)  # nobody will ever use it
            raise
        data["url"] = f"http://127.0.0.1:{STATE.port}/user/{escape_username(username)}/"
        return data


# --------------------------------------------------------------------------- HTTP handler

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TornadoServer/6.5"

    def version_string(self):
        return self.server_version
    timeout = 300  # idle keep-alive connections and stuck writes

    def log_message(self, fmt, *args):
        log("%s %s" % (self.client_address[0], fmt % args))

    def remote_ip(self):
        """tornado xheaders=True (BinderHub runs with it): X-Real-Ip, else the
        last X-Forwarded-For hop, else the peer address."""
        ip = self.headers.get("X-Forwarded-For", self.client_address[0])
        ip = ip.split(",")[-1].strip()
        ip = self.headers.get("X-Real-Ip", ip).strip()
        try:
            ipaddress.ip_address(ip)
            return ip
        except ValueError:
            return self.client_address[0]

    # -- plumbing
    def _read_body(self):
        n = self.headers.get("Content-Length")
        if n:
            try:
                return self.rfile.read(int(n))
            except (ValueError, OSError):
                self.close_connection = True
                return b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def reply(self, status, body=b"", ctype="application/json", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
        elif isinstance(body, str):
            body = body.encode("utf-8")
        try:
            self.send_response(status)
            if body or status not in (204, 304):
                self.send_header("Content-Type", ctype)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)
        except (OSError, ValueError):
            self.close_connection = True

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_OPTIONS(self):
        self.dispatch("OPTIONS")

    def dispatch(self, method):
        target = self.path
        if target.startswith("http://") or target.startswith("https://"):
            parts = urlsplit(target)
            target = parts.path + ("?" + parts.query if parts.query else "")
        path, _, query = target.partition("?")
        path = path.split("#", 1)[0]
        self.body = self._read_body()
        qs = parse_qs(query, keep_blank_values=True)
        try:
            if re.match(r"^/build/([^/]+)/(.+)$", path):
                return self.route_build(method, path, qs)
            if path.startswith("/hub/"):
                return self.route_hub(method, path, qs)
            if path.startswith("/user/"):
                return self.route_user(method, path, qs)
            if path.startswith("/_standin/"):
                return self.route_standin(method, path, qs)
            if path == "/health" and method in ("GET", "HEAD"):
                ok = not ARGS.unhealthy
                checks = [{"service": "Docker registry", "ok": True},
                          {"service": "JupyterHub API", "ok": ok}]
                return self.reply(200 if ok else 503, {"ok": ok, "checks": checks},
                                  "application/json; charset=UTF-8")
            if path == "/versions" and method == "GET":
                return self.reply(200, {"builder_info": {"build_image": "standin"},
                                        "binderhub": BINDERHUB_VERSION, "builder": "standin"},
                                  "application/json", [("Access-Control-Allow-Origin", "*")])
            if path == "/api/repoproviders" and method == "GET":
                return self.reply(200, REPO_PROVIDERS_DISPLAY, "application/json; charset=UTF-8")
            if path == "/metrics" and method == "GET":
                return self.reply(200, "# binderhub stand-in: no metrics\n",
                                  "text/plain; version=0.0.4; charset=utf-8")
            return self.reply(404, TORNADO_404, "text/html; charset=UTF-8")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            log("error handling %s %s:\n%s" % (method, path, traceback.format_exc()))
            self.close_connection = True

    # ---------------------------------------------------------------- /build
    def route_build(self, method, path, qs):
        if method == "HEAD":  # no body allowed: tornado's 405 without the event
            return self.reply(405, b"", "text/event-stream")
        ip = self.remote_ip()
        with STATE.lock:
            by_ip = STATE.stats["requests_by_ip"]
            by_ip[ip] = by_ip.get(ip, 0) + 1
            STATE.stats["open_streams"] += 1
        stream = EventStream(self)
        try:
            req = BuildRequest(self, stream, path, qs)
            req.run(method)
        except Hangup:
            log(f"client hung up: {path}")
        except HTTPErr as e:
            stream.send_error(e.status, e.message)
        except Exception:
            # tornado: uncaught exception -> send_error(500) -> "Internal Server Error"
            log("build handler error for %s:\n%s" % (path, traceback.format_exc()))
            stream.send_error(500, "")
        else:
            stream.finish()
        finally:
            stream.stop_monitor.set()
            if stream.closed.is_set():
                self.close_connection = True
            with STATE.lock:
                STATE.stats["open_streams"] -= 1

    # ---------------------------------------------------------------- hub REST
    def hub_authorized(self):
        token = ARGS.hub_token
        if not token:
            return False
        m = re.match(r"^\s*(token|bearer)\s+(\S+)\s*$", self.headers.get("Authorization", ""), re.I)
        return bool(m) and hmac.compare_digest(m.group(2), token)

    def hub_error(self, status, message):
        return self.reply(status, {"status": status, "message": message})

    def user_model(self, u):
        s = u.server if (u.server is not None and not u.server.gone) else None
        servers = {}
        if s is not None:
            esc = escape_username(u.name)
            servers[""] = {"name": "", "full_name": f"{u.name}/",
                           "last_activity": isoformat(s.last_activity),
                           "started": isoformat(s.started), "pending": s.pending,
                           "ready": s.ready, "stopped": False, "url": s.url_path,
                           "user_options": s.user_options,
                           "progress_url": f"/hub/api/users/{esc}/server/progress",
                           "full_url": None, "full_progress_url": None}
        return {"kind": "user", "name": u.name, "admin": False, "roles": ["user"], "groups": [],
                "server": s.url_path if (s is not None and s.ready) else None,
                "pending": s.pending if s is not None else None,
                "created": isoformat(u.created), "last_activity": isoformat(u.last_activity),
                "servers": servers}

    def route_hub(self, method, path, qs):
        if not path.startswith("/hub/api"):
            return self.reply(404, TORNADO_404, "text/html; charset=UTF-8")
        sub = path[len("/hub/api"):]
        if sub in ("", "/") and method == "GET":  # not authenticated in JupyterHub
            return self.reply(200, {"version": JUPYTERHUB_VERSION})
        if sub == "/health" and method in ("GET", "HEAD"):  # not authenticated either
            if ARGS.unhealthy:
                return self.reply(503, {"status": 503, "message": "Service Unavailable"})
            return self.reply(200, b"", "text/html; charset=UTF-8")
        if not self.hub_authorized():
            return self.hub_error(403, "Missing or invalid credentials.")
        if sub == "/user" and method == "GET":
            return self.reply(200, {"kind": "service", "name": "binder", "admin": False,
                                    "roles": ["binder"],
                                    "scopes": ["admin:users", "servers", "read:users:activity",
                                               "list:users", "read:servers", "delete:servers"]})
        if sub == "/users" and method == "GET":
            with STATE.lock:
                users = list(STATE.users.values())
            return self.reply(200, [self.user_model(u) for u in users])
        m = re.match(r"^/users/([^/]+)(/.*)?$", sub)
        if not m:
            return self.hub_error(404, "Not Found")
        name, rest = unquote(m.group(1)), (m.group(2) or "")
        with STATE.lock:
            user = STATE.users.get(name)
        if rest in ("", "/"):
            if method == "GET":
                if user is None:
                    return self.hub_error(404, "Not Found")
                return self.reply(200, self.user_model(user))
            if method == "POST":
                with STATE.lock:
                    if name in STATE.users:
                        return self.hub_error(409, f"User {name} already exists")
                    user = STATE.users[name] = User(name)
                return self.reply(201, self.user_model(user))
            if method == "DELETE":
                if user is None:
                    return self.hub_error(404, "Not Found")
                STATE.cull(name)
                return self.reply(204)
            return self.hub_error(405, "Method Not Allowed")
        sm = re.match(r"^/(server|servers/([^/]*))(/progress)?/?$", rest)
        if not sm:
            return self.hub_error(404, "Not Found")
        if sm.group(2):  # a named server
            if user is None:
                return self.hub_error(404, "Not Found")
            return self.hub_error(400, "Named servers are not enabled.")
        if user is None:
            return self.hub_error(404, "Not Found")
        srv = user.server if (user.server is not None and not user.server.gone) else None
        if sm.group(3):  # progress
            if method != "GET":
                return self.hub_error(405, "Method Not Allowed")
            return self.hub_progress(user, srv)
        if method == "DELETE":
            if srv is not None:
                STATE.stop_server(srv, remove_user=False)
            return self.reply(204)
        if method == "POST":
            if srv is not None:
                return self.hub_error(400, f"{name} is already running")
            # Starting servers directly through the hub is not modelled: BinderHub does it.
            return self.hub_error(400, "stand-in: servers are started through /build only")
        return self.hub_error(405, "Method Not Allowed")

    def hub_progress(self, user, srv):
        if srv is None:
            return self.hub_error(400, f"{user.name} is not starting...")
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def send(ev):
                d = ("data: " + json.dumps(ev) + "\n\n").encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(d), d))
            if srv.ready:
                url = srv.url_path
                send({"progress": 100, "ready": True, "message": f"Server ready at {url}",
                      "html_message": f'Server ready at <a href="{url}">{url}</a>', "url": url})
            else:
                idx = 0
                while True:
                    with srv.cond:
                        while idx >= len(srv.events) and not srv.gone:
                            srv.cond.wait(1.0)
                            if peer_closed(self.connection):
                                self.close_connection = True
                                return
                        events, idx, gone = srv.events[idx:], len(srv.events), srv.gone
                    end = False
                    for ev in events:
                        send(ev)
                        end = end or ev.get("ready") or ev.get("failed")
                    if end or (gone and not events):
                        break
            self.wfile.write(b"0\r\n\r\n")
        except (OSError, ValueError):
            self.close_connection = True

    # ---------------------------------------------------------------- user servers
    def route_user(self, method, path, qs):
        m = re.match(r"^/user/([^/]+)(/.*)?$", path)
        if not m:
            return self.reply(404, TORNADO_404, "text/html; charset=UTF-8")
        name = unquote(m.group(1))
        rel = (m.group(2) or "/")[1:]
        with STATE.lock:
            user = STATE.users.get(name)
            srv = user.server if (user is not None and user.server is not None
                                  and not user.server.gone) else None
        if srv is None:
            return self.reply(404, {"message": f"JupyterHub server no longer running at {path}"})
        if not srv.ready:
            return self.reply(503, {"message": f"Server for {name} is not ready yet (pending spawn)"})
        srv.touch()
        base = srv.url_path

        token = None
        if "token" in qs:
            token = qs["token"][-1]
        am = re.match(r"^\s*(token|bearer)\s+(\S+)\s*$", self.headers.get("Authorization", ""), re.I)
        if am:
            token = am.group(2)
        cookie_name = "standin-user-" + re.sub(r"[^A-Za-z0-9-]", "-", name)
        cookie_ok = False
        for part in self.headers.get("Cookie", "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == cookie_name and srv.token and hmac.compare_digest(v, srv.token):
                cookie_ok = True
        token_ok = bool(token) and bool(srv.token) and hmac.compare_digest(token, srv.token)
        authed = token_ok or cookie_ok
        set_cookie = [("Set-Cookie", f"{cookie_name}={srv.token}; Path={base}; HttpOnly")] if token_ok else []

        if rel == "api" or rel.startswith("api/"):
            if not authed:
                return self.reply(403, {"message": "Forbidden", "reason": None})
            return self.jupyter_api(method, srv, rel[4:] if rel.startswith("api/") else "", qs)
        # pages: jupyter_server redirects unauthenticated browsers to its login page
        if rel == "login":
            return self.reply(200, "<!DOCTYPE html><html><head><title>Jupyter Server</title></head>"
                                   "<body><form>Password or token: <input name=\"password\"></form>"
                                   "</body></html>", "text/html; charset=UTF-8")
        if not authed:
            return self.reply(302, b"", "text/html",
                              [("Location", f"{base}login?next={quote(path, safe='')}")])
        if rel == "":
            return self.reply(302, b"", "text/html", set_cookie + [("Location", f"{base}lab")])
        if rel in ("lab", "lab/", "tree", "tree/") or rel.startswith("lab/") or rel.startswith("tree/"):
            return self.reply(200, "<!DOCTYPE html><html><head><title>JupyterLab</title></head>"
                                   f"<body>stand-in single-user server for {name}</body></html>",
                              "text/html; charset=UTF-8", set_cookie)
        return self.reply(404, "<html><title>404 : Not Found</title><body>Not Found</body></html>",
                          "text/html; charset=UTF-8")

    def jupyter_api(self, method, srv, rel, qs):
        if rel.rstrip("/") == "status":
            if method != "GET":
                return self.reply(405, {"message": "Method Not Allowed", "reason": None})
            return self.reply(200, {"started": isoformat(srv.started),
                                    "last_activity": isoformat(srv.api_activity),
                                    "connections": 0, "kernels": 0})
        srv.touch(api=True)
        if rel in ("", "/"):
            return self.reply(200, {"version": JUPYTER_SERVER_VERSION})
        if rel.rstrip("/") in ("kernels", "sessions", "terminals"):
            return self.reply(200, [])
        if rel == "contents" or rel.startswith("contents/"):
            if method != "GET":
                return self.reply(405, {"message": "Method Not Allowed", "reason": None})
            return self.contents(srv, unquote(rel[len("contents"):]).strip("/"), qs)
        return self.reply(404, {"message": "Not Found", "reason": None})

    def contents(self, srv, relpath, qs):
        """jupyter_server's GET /api/contents/{path} (hidden files are not served)."""
        def not_found():
            return self.reply(404, {"message": f"No such file or directory: {relpath}", "reason": None})
        parts = [p for p in relpath.split("/") if p]
        if any(p in (".", "..") or p.startswith(".") for p in parts):
            return not_found()
        root = os.path.realpath(srv.home)
        full = os.path.realpath(os.path.join(root, *parts))
        if full != root and not full.startswith(root + os.sep):
            return not_found()
        if not os.path.exists(full):
            return not_found()
        want_content = qs.get("content", ["1"])[-1] not in ("0", "false")
        fmt = qs.get("format", [None])[-1]
        want_type = qs.get("type", [None])[-1]
        try:
            model = self.content_model(full, "/".join(parts), want_content, fmt, want_type)
        except ValueError as e:
            return self.reply(400, {"message": str(e), "reason": None})
        except OSError:
            return not_found()
        return self.reply(200, model)

    def content_model(self, full, rel, want_content, fmt=None, want_type=None):
        st = os.stat(full)
        name = rel.rsplit("/", 1)[-1] if rel else ""
        modified = isoformat(datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc))
        model = {"name": name, "path": rel, "last_modified": modified, "created": modified,
                 "content": None, "format": None, "mimetype": None, "size": None,
                 "writable": os.access(full, os.W_OK), "hash": None, "hash_algorithm": None}
        if stat.S_ISDIR(st.st_mode):
            if want_type not in (None, "directory"):
                raise ValueError(f"{rel} is a directory, not a {want_type}")
            model["type"] = "directory"
            if want_content:
                entries = []
                for entry in sorted(os.listdir(full)):
                    if entry.startswith("."):
                        continue
                    p = os.path.join(full, entry)
                    if not os.path.exists(p):
                        continue
                    entries.append(self.content_model(p, f"{rel}/{entry}" if rel else entry, False))
                model["content"] = entries
                model["format"] = "json"
            return model
        model["size"] = st.st_size
        if full.endswith(".ipynb") and want_type in (None, "notebook"):
            model["type"] = "notebook"
            if want_content:
                with open(full, "rb") as f:
                    try:
                        model["content"] = json.loads(f.read().decode("utf-8"))
                    except ValueError:
                        raise ValueError(f"Unreadable Notebook: {rel}")
                model["format"] = "json"
            return model
        if want_type == "directory":
            raise ValueError(f"{rel} is not a directory")
        model["type"] = "file"
        model["mimetype"] = mimetypes.guess_type(full)[0]
        if want_content:
            with open(full, "rb") as f:
                data = f.read()
            if fmt in (None, "text"):
                try:
                    model["content"] = data.decode("utf-8")
                    model["format"] = "text"
                except UnicodeDecodeError:
                    if fmt == "text":
                        raise ValueError(f"{rel} is not UTF-8 encoded")
            if model["format"] is None:
                model["content"] = base64.b64encode(data).decode("ascii")
                model["format"] = "base64"
            if model["mimetype"] is None:
                model["mimetype"] = "text/plain" if model["format"] == "text" else "application/octet-stream"
        return model

    # ---------------------------------------------------------------- test hooks
    # /_standin/* is NOT part of the BinderHub or JupyterHub API: hooks for tests only.
    def route_standin(self, method, path, qs):
        if path == "/_standin/stats" and method == "GET":
            with STATE.lock:
                stats = json.loads(json.dumps(STATE.stats))
                active = [u.server for u in STATE.users.values()
                          if u.server is not None and not u.server.gone]
            stats["servers_running"] = sum(1 for s in active if s.ready)
            stats["servers_pending"] = sum(1 for s in active if not s.ready)
            stats["users"] = sorted(u for u in STATE.users)
            return self.reply(200, stats)
        if path == "/_standin/release" and method == "POST":
            LAUNCH_GATE.release()
            return self.reply(204)
        m = re.match(r"^/_standin/cull/([^/]+)/?$", path)
        if m:
            if method != "POST":
                return self.reply(405, {"message": "Method Not Allowed"})
            if STATE.cull(unquote(m.group(1))):
                return self.reply(204)
            return self.reply(404, {"message": "no such user"})
        return self.reply(404, {"message": "Not Found"})


class Server_(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout)):
            return
        log("connection error from %s: %r" % (client_address, exc))


# --------------------------------------------------------------------------- main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description="BinderHub + JupyterHub stand-in for tests")
    p.add_argument("--state-dir", required=True, help="where images/ and homes/ live")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: pick a free one)")
    p.add_argument("--keepalive", type=float, default=25.0,
                   help="seconds between ':keepalive' comments on open build streams")
    p.add_argument("--hold-after-ready", type=float, default=60.0,
                   help="after a fresh build+launch keep the stream open this long after ready")
    p.add_argument("--rate-limit", type=int, default=0, help="/build requests per IP per window (0: off)")
    p.add_argument("--rate-period", type=int, default=3600, help="rate limit window, seconds")
    p.add_argument("--total-quota", type=int, default=0, help="max running servers (0: unlimited)")
    p.add_argument("--per-repo-quota", type=int, default=0, help="max servers per repo (0: unlimited)")
    p.add_argument("--hub-token", default=None, help="JupyterHub service token for /hub/api")
    p.add_argument("--gh-root", default=None, help="gh:user/repo is the bare repo GH_ROOT/user/repo.git")
    p.add_argument("--gh-fallback-delay", type=float, default=10.0,
                   help="delay before retrying a missing gh master/main as HEAD")
    p.add_argument("--launch-fail", default=None, help="regex: repo URLs that fail to launch")
    p.add_argument("--launch-retry-delay", type=float, default=0.2,
                   help="first delay between launch attempts (doubles; BinderHub: 4 s)")
    p.add_argument("--launch-delay", type=float, default=0.3, help="seconds a spawn takes")
    p.add_argument("--hold-launches", action="store_true",
                   help="each launch waits for a POST /_standin/release (test hook)")
    p.add_argument("--hold-launching", action="store_true",
                   help="each launch, once it has sent its 'launching' event, waits for a POST /_standin/release (test hook)")
    p.add_argument("--cull-idle", type=float, default=0.0, help="cull servers idle this long (0: never)")
    p.add_argument("--max-age", type=float, default=0.0, help="cull servers this long after start (0: never)")
    p.add_argument("--banned", action="append", default=None,
                   help="regex (re.match, case-insensitive) of banned specs; repeatable")
    p.add_argument("--never-ready", action="store_true", help="spawns never become ready")
    p.add_argument("--unhealthy", action="store_true", help="/health answers 503, ok false")
    p.add_argument("--build-token-secret", default=None,
                   help="HS256 secret for build tokens (a valid one bypasses the rate limit)")
    p.add_argument("--git-concurrency", type=int, default=16,
                   help="max concurrent git network commands (ls-remote, clone)")
    p.add_argument("--exit-on-stdin-eof", action="store_true",
                   help="exit when stdin closes (the parent test process went away)")
    p.add_argument("--quiet", action="store_true", help="no logs on stderr")
    return p.parse_args(argv)


def main(argv=None):
    global ARGS, STATE
    ARGS = parse_args(argv)
    STATE = State(ARGS)

    def on_term(signum, frame):
        STATE.kill_children()
        os._exit(0)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    httpd = Server_(("127.0.0.1", ARGS.port), Handler)
    STATE.port = httpd.server_address[1]
    threading.Thread(target=STATE.culler_loop, daemon=True, name="culler").start()
    if ARGS.exit_on_stdin_eof:
        def watch_stdin():
            try:
                while os.read(0, 4096):
                    pass
            except OSError:
                pass
            STATE.kill_children()
            os._exit(0)
        threading.Thread(target=watch_stdin, daemon=True, name="stdin-watch").start()
    sys.stdout.write(f"LISTENING {STATE.port}\n")
    sys.stdout.flush()
    try:
        if stat.S_ISFIFO(os.fstat(2).st_mode):
            os.set_blocking(2, False)  # a stderr pipe nobody drains must not stall us
    except OSError:
        pass
    log(f"listening on http://127.0.0.1:{STATE.port}/ state={STATE.state_dir}")
    try:
        httpd.serve_forever(poll_interval=0.5)
    finally:
        STATE.kill_children()


if __name__ == "__main__":
    main()

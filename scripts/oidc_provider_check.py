#!/usr/bin/env python3
"""End-to-end self-check of Skyport's test OpenID Connect provider (scripts/oidc_provider.py).

Starts `scripts/oidc_provider.sh --port 0`, waits for its OIDC_ISSUER line, and checks discovery, the JWKS,
/test/login JWTs (verified with cryptojwt against the published JWKS), two users, groups, opaque tokens and
introspection, RFC 8693 token exchange, refresh, client_credentials, key rotation and expiry. Prints one line
per check (`ok ...` or `FAIL ...`), exits 1 if any failed, and always stops the provider it started.

Run it with the provider's venv python (stdlib + cryptojwt):
  scripts/oidc_provider.sh --install-only
  "${XDG_CACHE_HOME:-$HOME/.cache}/skyport/oidc-venv/bin/python" scripts/oidc_provider_check.py
"""
import base64
import json
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

try:
    from cryptojwt.jwt import JWT
    from cryptojwt.key_jar import KeyJar
except ImportError:
    sys.exit("oidc_provider_check: no cryptojwt: run this with the venv python that scripts/oidc_provider.sh makes")

HERE = Path(__file__).resolve().parent
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
GROUPS = ["/skao", "/skao/users"]
UWS = "https://uws.example.org"
failures = []


def check(name, ok, detail=""):
    print(f"ok {name}" if ok else f"FAIL {name}" + (f": {detail}" if detail else ""), flush=True)
    if not ok:
        failures.append(name)
    return ok


def part(token, i):
    seg = token.split(".")[i]
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))


class Client:
    def __init__(self, issuer):
        self.issuer = issuer

    def get(self, path):
        with urllib.request.urlopen(self.issuer + path, timeout=20) as resp:
            return json.load(resp)

    def post(self, path, form, basic=None):
        req = urllib.request.Request(self.issuer + path, urllib.parse.urlencode(form).encode())
        if basic:
            req.add_header("Authorization", "Basic " + base64.b64encode(":".join(basic).encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                return resp.status, json.load(resp)
        except urllib.error.HTTPError as err:
            return err.code, json.load(err)

    def verify(self, token, jwks, alg="ES256"):
        """cryptojwt verification against a JWKS as fetched; returns the claims or raises."""
        keys = KeyJar()
        keys.import_jwks(jwks, self.issuer)
        return JWT(key_jar=keys, allowed_sign_algs=[alg]).unpack(token)


def start_provider(stderr):
    proc = subprocess.Popen(["bash", str(HERE / "oidc_provider.sh"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 180)
    line = proc.stdout.readline().strip() if ready else ""
    if not line.startswith("OIDC_ISSUER=http://127.0.0.1:"):
        raise RuntimeError(f"no OIDC_ISSUER line from the provider (got {line!r})")
    return proc, line.split("=", 1)[1]


def run_checks(c):
    conf = c.get("/.well-known/openid-configuration")
    check("discovery: issuer", conf.get("issuer") == c.issuer, conf.get("issuer"))
    for field, path in [("jwks_uri", "/jwks.json"), ("token_endpoint", "/token"),
                        ("introspection_endpoint", "/introspect")]:
        check(f"discovery: {field}", conf.get(field) == c.issuer + path, conf.get(field))
    check("discovery: grant_types_supported has token exchange, code, refresh",
          {EXCHANGE, "authorization_code", "refresh_token"} <= set(conf.get("grant_types_supported", [])),
          conf.get("grant_types_supported"))

    jwks = c.get("/jwks.json")
    kinds = {(k["kty"], k.get("crv")) for k in jwks["keys"]}
    rsa_bits = [len(base64.urlsafe_b64decode(k["n"] + "==")) * 8 for k in jwks["keys"] if k["kty"] == "RSA"]
    check("jwks: one EC P-256 and one RSA >= 2048-bit key, each with a kid",
          kinds == {("EC", "P-256"), ("RSA", None)} and rsa_bits and min(rsa_bits) >= 2048
          and all(k.get("kid") for k in jwks["keys"]) and all("d" not in k for k in jwks["keys"]), jwks)
    kids = {k["kid"] for k in jwks["keys"]}

    clients = c.get("/test/clients")
    check("test/clients: skyport-test and skyport", {"skyport-test", "skyport"} <= set(clients), clients)
    skyport = ("skyport", clients["skyport"]["client_secret"])
    user_client = ("skyport-test", clients["skyport-test"]["client_secret"])

    status, alice = c.post("/test/login", {"user": "alice", "groups": ",".join(GROUPS)})
    check("login alice: 200 with access and refresh tokens", status == 200 and "access_token" in alice
          and "refresh_token" in alice, alice)
    token = alice["access_token"]
    header = part(token, 0)
    check("alice JWT: header alg ES256, kid in the JWKS", header.get("alg") == "ES256" and header.get("kid") in kids,
          header)
    claims = c.verify(token, jwks)
    check("alice JWT: signature verifies against the published JWKS (cryptojwt)", claims.get("iss") == c.issuer)
    now = time.time()
    expect = {"iss": c.issuer, "sub": alice.get("sub"), "aud": ["skyport"], "client_id": "skyport-test",
              "wlcg.ver": "1.0", "wlcg.groups": GROUPS, "groups": GROUPS, "name": "alice",
              "preferred_username": "alice"}
    wrong = {k: claims.get(k) for k, v in expect.items() if claims.get(k) != v}
    check("alice JWT: iss, sub, aud, client_id, wlcg.ver, wlcg.groups (in order), groups, names", not wrong, wrong)
    check("alice JWT: iat <= now < exp, nbf <= iat, exp - iat = 600, jti",
          claims["iat"] <= now + 2 < claims["exp"] and claims["nbf"] <= claims["iat"]
          and claims["exp"] - claims["iat"] == 600 and claims.get("jti"), claims)
    check("alice JWT: scope has the compute capabilities",
          {"compute.create", "compute.read"} <= set(claims.get("scope", "").split()), claims.get("scope"))

    status, alice2 = c.post("/test/login", {"user": "alice", "audience": "https://a.example https://b.example"})
    aud2 = c.verify(alice2["access_token"], jwks).get("aud")
    check("login audience=two values: aud is exactly those", status == 200 and aud2 == ["https://a.example",
          "https://b.example"], aud2)
    check("login again: alice's sub is stable", alice2.get("sub") == alice["sub"], alice2.get("sub"))
    check("login again without groups: alice keeps her groups",
          c.verify(alice2["access_token"], jwks).get("wlcg.groups") == GROUPS)

    status, bob = c.post("/test/login", {"user": "bob", "groups": "/lofar"})
    bob_claims = c.verify(bob["access_token"], jwks)
    check("login bob: a different sub, his own groups", bob_claims["sub"] != claims["sub"]
          and bob_claims["sub"] == bob.get("sub") and bob_claims["wlcg.groups"] == ["/lofar"], bob_claims)

    status, opaque = c.post("/test/login", {"user": "carol", "groups": "/skao", "token_format": "opaque"})
    check("login token_format=opaque: not a JWT", status == 200 and opaque["access_token"].count(".") == 0, opaque)
    status, intro = c.post("/introspect", {"token": opaque["access_token"]}, skyport)
    want = {"active": True, "sub": opaque.get("sub"), "aud": ["skyport"], "iss": c.issuer,
            "wlcg.groups": ["/skao"], "groups": ["/skao"]}
    wrong = {k: intro.get(k) for k, v in want.items() if intro.get(k) != v}
    check("introspect opaque (client_secret_basic): active with sub, aud, iss, groups", status == 200 and not wrong,
          wrong or intro)
    check("introspect opaque: exp, iat, scope", intro.get("exp", 0) > time.time() and intro.get("iat")
          and "compute.read" in intro.get("scope", ""), intro)
    status, intro = c.post("/introspect", {"token": opaque["access_token"], "client_id": skyport[0],
                                           "client_secret": skyport[1]})
    check("introspect opaque (client_secret_post): active", status == 200 and intro.get("active") is True, intro)
    status, intro = c.post("/introspect", {"token": "no-such-token"}, skyport)
    check("introspect unknown token: {\"active\": false}", status == 200 and intro == {"active": False}, intro)
    status, intro = c.post("/introspect", {"token": token}, skyport)
    check("introspect alice JWT: active, same sub", intro.get("active") is True and intro.get("sub") == claims["sub"],
          intro)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    status, intro = c.post("/introspect", {"token": tampered}, skyport)
    check("introspect JWT with a tampered signature: inactive", intro == {"active": False}, intro)
    status, intro = c.post("/introspect", {"token": token}, ("skyport", "wrong-secret"))
    check("introspect with a wrong client secret: 401 invalid_client",
          status == 401 and intro.get("error") == "invalid_client", (status, intro))

    status, ex = c.post("/token", {"grant_type": EXCHANGE, "subject_token": token,
                                   "subject_token_type": ACCESS_TOKEN_TYPE, "audience": UWS,
                                   "scope": "compute.read"}, skyport)
    check("token exchange by skyport: 200, issued_token_type access_token",
          status == 200 and ex.get("issued_token_type") == ACCESS_TOKEN_TYPE, ex)
    ex_claims = c.verify(ex["access_token"], jwks)
    check(f"exchanged JWT: aud contains {UWS}", UWS in ex_claims.get("aud", []), ex_claims.get("aud"))
    check("exchanged JWT: alice's sub and groups, client_id skyport, scope compute.read",
          ex_claims["sub"] == claims["sub"] and ex_claims.get("client_id") == "skyport"
          and ex_claims.get("scope") == "compute.read" and ex_claims.get("wlcg.groups") == GROUPS, ex_claims)
    check("exchanged JWT: lifetime 300 s (--exchange-lifetime), expires_in agrees",
          ex_claims["exp"] - ex_claims["iat"] == 300 and abs(ex.get("expires_in", 0) - 300) <= 2, (ex_claims, ex))
    status, ex2 = c.post("/token", {"grant_type": EXCHANGE, "subject_token": opaque["access_token"],
                                    "subject_token_type": ACCESS_TOKEN_TYPE, "audience": UWS}, skyport)
    check("token exchange of an opaque token: a JWT for the audience",
          status == 200 and UWS in c.verify(ex2["access_token"], jwks).get("aud", []), ex2)

    status, ref = c.post("/token", {"grant_type": "refresh_token", "refresh_token": alice["refresh_token"]},
                         user_client)
    ref_claims = c.verify(ref["access_token"], jwks) if status == 200 else {}
    check("refresh_token grant: a new JWT, same sub and aud", status == 200 and ref_claims.get("sub") == claims["sub"]
          and ref_claims.get("aud") == ["skyport"], (status, ref_claims or ref))

    status, cc = c.post("/token", {"grant_type": "client_credentials"}, skyport)
    check("client_credentials: a token verifying against the JWKS",
          status == 200 and c.verify(cc["access_token"], jwks).get("iss") == c.issuer, cc)

    status, rot = c.post("/test/rotate", {})
    new_jwks = c.get("/jwks.json")
    new_kids = {k["kid"] for k in new_jwks["keys"]}
    check("rotate: new kids published, the old ones gone", status == 200 and set(rot.get("kids", [])) == new_kids
          and len(new_kids) == 2 and not new_kids & kids, (kids, new_kids))
    status, after = c.post("/test/login", {"user": "alice", "groups": ",".join(GROUPS)})
    after_kid = part(after["access_token"], 0).get("kid")
    check("after rotate: a new token carries a new kid and verifies against the new JWKS",
          after_kid in new_kids and c.verify(after["access_token"], new_jwks)["sub"] == claims["sub"], after_kid)
    try:
        c.verify(after["access_token"], jwks)
        check("after rotate: the new token does not verify with the old JWKS", False)
    except Exception:
        check("after rotate: the new token does not verify with the old JWKS", True)

    status, short = c.post("/test/login", {"user": "alice", "lifetime": "1"})
    short_claims = c.verify(short["access_token"], new_jwks)
    check("login lifetime=1: exp - iat = 1", short_claims["exp"] - short_claims["iat"] == 1, short_claims)
    time.sleep(2)
    status, intro = c.post("/introspect", {"token": short["access_token"]}, skyport)
    check("lifetime=1 token after 2 s: introspection says inactive", intro == {"active": False}, intro)


def main():
    with tempfile.TemporaryFile(mode="w+") as stderr:
        proc = None
        try:
            proc, issuer = start_provider(stderr)
            check(f"provider started: {issuer}", True)
            run_checks(Client(issuer))
        except Exception as err:
            check("check run", False, f"{type(err).__name__}: {err}")
        finally:
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                try:
                    rc = proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    rc = proc.wait()
                check("provider stops on SIGTERM with status 0", rc == 0, f"status {rc}")
        if failures:
            stderr.seek(0)
            sys.stderr.write("--- provider stderr (last 40 lines) ---\n" + "".join(stderr.readlines()[-40:]))
    print(f"{len(failures)} failed" if failures else "all checks passed", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

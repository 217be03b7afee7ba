#!/usr/bin/env python3
"""Skyport's test OpenID Connect provider: a real idpyoidc 5.0.0 OP behind Python's http.server, on loopback only.

Tokens are minted and signed by idpyoidc's own token handlers, sessions and grants; this file only configures
idpyoidc, adds the WLCG claims, and serves its endpoints over HTTP. It is a test fixture: no TLS, fixed client
secrets, and a non-interactive login helper. Never expose it beyond 127.0.0.1.

Run:   scripts/oidc_provider.sh [--port 0] [--audience skyport] [--alg ES256|RS256] [--exchange-lifetime 300]
       (the .sh makes the venv with idpyoidc==5.0.0 and cryptojwt==1.11.0, then runs this file with it).
Ready: prints exactly one line `OIDC_ISSUER=http://127.0.0.1:PORT` on stdout, then serves until SIGTERM/SIGINT.
Check: scripts/oidc_provider.sh --install-only &&
       "${XDG_CACHE_HOME:-$HOME/.cache}/skyport/oidc-venv/bin/python" scripts/oidc_provider_check.py
       (starts this provider and tests it end to end).

Endpoints (paths relative to the issuer):
  GET  /.well-known/openid-configuration  idpyoidc's discovery document (issuer, jwks_uri, token_endpoint,
                                          introspection_endpoint, grant_types_supported incl. token exchange).
  GET  /jwks.json                         the public signing keys (an ES256 P-256 key and an RS256 2048-bit key;
                                          like idpyoidc they carry kid, use and crv but no alg).
  POST /token                             form-encoded; client auth client_secret_basic or client_secret_post.
                                          grant_type authorization_code, refresh_token, client_credentials, and
                                          urn:ietf:params:oauth:grant-type:token-exchange (RFC 8693: subject_token,
                                          subject_token_type, audience, scope). The exchanged token's aud is the
                                          requested audience (the exchanging client's id if none was asked) and
                                          its lifetime is --exchange-lifetime seconds, whatever the subject
                                          token's. client_credentials tokens are idpyoidc's as they are: iss,
                                          iat, exp, jti and scope (all the client's scopes), no sub, aud or
                                          client_id, and token_type "access_token" in the response.
                                          Refresh tokens and codes are idpyoidc's opaque (encrypted) tokens.
  POST /introspect                        RFC 7662, client-authenticated like /token; {"active": false} for
                                          unknown, expired or revoked tokens. Any client may introspect any token
                                          (audience restriction off), so a resource server must check aud itself.
  GET  /authorization                     the authorization endpoint for a browser's code flow (RFC 6749 §4.1, with
                                          PKCE, RFC 7636): answers 302 to redirect_uri with code and state. The user
                                          is logged in without a form: login_hint names them (default web-user), and
                                          groups (a test-only parameter, comma-separated) sets their groups. A loopback
                                          redirect_uri is accepted on any port (RFC 8252 §7.3): it is registered for
                                          the client when first used. Errors: 400 JSON (no redirect is trusted then).

Test-only helpers:
  POST /test/login   form fields: user (required, e.g. alice); groups (comma-separated, e.g. /skao,/skao/users;
                     they are the user's attributes in idpyoidc's user-info store, so they stay until a later
                     login gives groups again, and tokens, introspection and exchanges show the latest ones);
                     audience (space-separated, default --audience); lifetime (access token seconds, default 600);
                     client (default skyport-test); token_format (jwt, the default, or opaque); scope (default
                     DEFAULT_SCOPE below). Runs the real code flow in-process: the authorization endpoint with that
                     user authenticated, then POST /token with the code (client_secret_post). Returns the token
                     endpoint's JSON (access_token, refresh_token, id_token, expires_in, scope, token_type) plus
                     "sub", the subject idpyoidc gave that user (a stable salted hash of the user name).
                     A JWT access token carries iss, sub, aud, exp, iat, nbf, jti, client_id, scope, wlcg.ver "1.0",
                     wlcg.groups and groups (the groups in the order given), name and preferred_username.
                     An opaque token is only meaningful through /introspect, which then returns active, sub, aud,
                     exp, iat, iss, scope, client_id and the same user claims.
  POST /test/rotate  replaces both signing keys with new ones (new kids); the old keys leave the published JWKS
                     at once, and tokens signed with them stop being active at /introspect and as exchange
                     subjects here (a relying party that cached the old JWKS still accepts them until it
                     refetches). Returns {"kids": [...]}, the new published kids.
  GET  /test/clients the test clients and their secrets: {"skyport-test": {...}, "skyport": {...}}.
"""
import argparse
import base64
import json
import signal
import sys
import threading
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptojwt.key_jar import build_keyjar

from idpyoidc.message import Message
from idpyoidc.server import Server
from idpyoidc.server.authz import AuthzHandling
from idpyoidc.server.exception import ClientAuthenticationError, UnAuthorizedClient
from idpyoidc.server.oauth2.token_helper.client_credentials import ClientCredentials
from idpyoidc.server.oidc.token import Token as OidcToken
from idpyoidc.server.oidc.token_helper.token_exchange import TokenExchangeHelper
from idpyoidc.server.session.grant import ExchangeGrant
from idpyoidc.server.token import DefaultToken
from idpyoidc.server.token.jwt_token import JWTToken
from idpyoidc.server.user_authn.user import UserAuthnMethod
from idpyoidc.time_util import utc_time_sans_frac
from idpyoidc.util import rndstr

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
REDIRECT_URI = "http://127.0.0.1/callback"  # never called: /test/login reads the code in-process
CAPABILITIES = ["compute.create", "compute.read", "compute.cancel", "compute.modify"]
DEFAULT_SCOPE = "openid profile offline_access wlcg wlcg.groups " + " ".join(CAPABILITIES)
USER_CLAIMS = ["name", "preferred_username", "groups", "wlcg.groups"]
CLIENTS = {  # client_id -> secret; fixed because this is a test fixture
    "skyport-test": "skyport-test-secret",  # the scientists' client: /test/login logs users in through it
    "skyport": "skyport-secret",  # Skyport itself: introspects and exchanges tokens
}
CLIENT_AUTH = ["client_secret_basic", "client_secret_post"]
SIGNING_KEYS = [{"type": "EC", "crv": "P-256", "use": ["sig"]}, {"type": "RSA", "size": 2048, "use": ["sig"]}]
MODULE = __name__  # idpyoidc imports configured classes by dotted name: this module's classes are MODULE.X

# --- idpyoidc customisations: subclasses of its own classes, plugged in through its configuration ----------------


class WlcgAccessToken(JWTToken):
    """idpyoidc's JWT access-token handler plus the WLCG claims; mints an opaque (encrypted, idpyoidc
    DefaultToken) value instead when the grant asks for one (grant.extra["token_format"] == "opaque")."""

    def __init__(self, token_class, **kwargs):
        JWTToken.__init__(self, token_class, **kwargs)
        self.opaque = DefaultToken(token_class, lifetime=self.lifetime)

    def load_custom_claims(self, payload=None):  # JWTToken's hook for extra claims
        payload["wlcg.ver"] = "1.0"
        payload["nbf"] = utc_time_sans_frac()  # cryptojwt sets iat and exp when it signs, never nbf
        return payload

    def __call__(self, session_id="", **kwargs):
        grant = self.upstream_get("context").session_manager.get_grant(session_id)
        if grant.extra.get("token_format") == "opaque":
            return self.opaque(session_id=session_id)
        return JWTToken.__call__(self, session_id=session_id, **kwargs)

    def info(self, token):
        return JWTToken.info(self, token) if token.count(".") == 2 else self.opaque.info(token)

    def is_expired(self, token, when=0):  # an opaque token's expiry is its session record's (idpyoidc checks it)
        return JWTToken.is_expired(self, token, when) if token.count(".") == 2 else False


class AudienceAuthz(AuthzHandling):
    """idpyoidc's authz handler gives every grant the audience [client_id]; this one takes the authorization
    request's `audience` parameter (a list) when there is one."""

    def __call__(self, session_id, request, resources=None):
        return AuthzHandling.__call__(self, session_id, request, resources=resources or request.get("audience"))


class AudienceTokenExchange(TokenExchangeHelper):
    """RFC 8693 as idpyoidc does it, except that the new token's aud is the requested audience and its lifetime
    is --exchange-lifetime. idpyoidc's ExchangeGrant writes its own (empty) resources into aud and has a fixed
    60 s usage rule, and the helper then copies the subject token's expiry onto the new one."""

    lifetime = 300  # set from --exchange-lifetime

    def _mint_token(self, token_class, grant, session_id, client_id, token_args=None, **kwargs):
        audience = (token_args or {}).get("resources") or [client_id]
        token_args = dict(token_args or {}, resources=audience)
        saved = grant.usage_rules, grant.resources
        rule = dict(grant.usage_rules.get(token_class, {}), expires_in=self.lifetime)
        grant.usage_rules = dict(grant.usage_rules, **{token_class: rule})
        if isinstance(grant, ExchangeGrant):  # a grant of its own, made for this exchange
            grant.resources = audience
        try:
            return TokenExchangeHelper._mint_token(self, token_class, grant, session_id, client_id,
                                                   token_args=token_args, **kwargs)
        finally:
            if not isinstance(grant, ExchangeGrant):  # the subject token's own grant: leave it as it was
                grant.usage_rules, grant.resources = saved

    def token_exchange_response(self, token, issued_token_type):
        token.expires_at = token.issued_at + self.lifetime
        return TokenExchangeHelper.token_exchange_response(self, token, issued_token_type)


class TokenEndpoint(OidcToken):
    """idpyoidc's OIDC token endpoint with client_credentials added, CIBA left out, and the exchange above."""

    helper_by_grant_type = {
        "authorization_code": OidcToken.helper_by_grant_type["authorization_code"],
        "refresh_token": OidcToken.helper_by_grant_type["refresh_token"],
        "client_credentials": ClientCredentials,
        TOKEN_EXCHANGE: AudienceTokenExchange,
    }
    token_exchange_helper = AudienceTokenExchange
    _supports = dict(OidcToken._supports, grant_types_supported=list(helper_by_grant_type),
                     token_endpoint_auth_methods_supported=CLIENT_AUTH)


class TestUserAuthn(UserAuthnMethod):
    """Non-interactive user authentication: the user is whoever /test/login names (passed in-process as the
    authorization endpoint's `authn` argument). The uid goes back as base64-encoded JSON, the form idpyoidc's
    authorization endpoint unwraps (it tries to base64-decode every uid, which could mangle a plain name)."""

    def authenticated_as(self, client_id="", cookie=None, authorization="", **kwargs):
        if not authorization:
            return None, 0
        uid = base64.urlsafe_b64encode(json.dumps({"uid": authorization}).encode()).decode()
        return {"uid": uid}, utc_time_sans_frac()


# --- configuration ----------------------------------------------------------------------------------------------


def make_server(issuer, audience, alg, exchange_lifetime):
    AudienceTokenExchange.lifetime = exchange_lifetime
    user_claims = {c: None for c in USER_CLAIMS}
    conf = {
        "issuer": issuer,
        "key_conf": {"key_defs": SIGNING_KEYS, "uri_path": "jwks.json", "read_only": False},
        "httpc_params": {"verify": False},
        "preference": {"subject_types_supported": ["public"], "scopes_supported": DEFAULT_SCOPE.split(),
                       "response_types_supported": ["code"], "response_modes_supported": ["query"],
                       "token_endpoint_auth_methods_supported": CLIENT_AUTH},
        "scopes_to_claims": {
            "openid": ["sub"], "profile": ["name", "preferred_username"], "offline_access": [],
            "wlcg": [], "wlcg.groups": ["groups", "wlcg.groups"], **{c: [] for c in CAPABILITIES},
        },
        # PKCE (RFC 7636): checked whenever an authorization request carries a code_challenge.
        "add_on": {"pkce": {"function": "idpyoidc.server.oauth2.add_on.pkce.add_support", "kwargs": {"essential": False}}},
        "authentication": {"test": {"acr": "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified",
                                    "class": f"{MODULE}.TestUserAuthn", "kwargs": {}}},
        "authz": {"class": f"{MODULE}.AudienceAuthz", "kwargs": {"grant_config": {
            "usage_rules": {
                "authorization_code": {"supports_minting": ["access_token", "refresh_token", "id_token"],
                                       "max_usage": 1, "expires_in": 120},
                "access_token": {"supports_minting": ["access_token"], "expires_in": 600},
                "refresh_token": {"supports_minting": ["access_token", "refresh_token", "id_token"],
                                  "expires_in": 86400},
            },
            "expires_in": 86400}}},
        "session_params": {"sub_func": {"public": {"class": "idpyoidc.server.session.manager.PublicID",
                                                   "kwargs": {"salt": "skyport-test-provider"}}}},
        "token_handler_args": {
            "code": {"kwargs": {"lifetime": 120}},
            "token": {"class": f"{MODULE}.WlcgAccessToken",
                      "kwargs": {"lifetime": 600, "alg": alg, "base_claims": user_claims}},
            "refresh": {"kwargs": {"lifetime": 86400}},
            "id_token": {"class": "idpyoidc.server.token.id_token.IDToken", "kwargs": {}},
        },
        "userinfo": {"class": "idpyoidc.server.user_info.UserInfo", "kwargs": {"db": {}}},
        "endpoint": {
            "provider_config": {"path": ".well-known/openid-configuration",
                                "class": "idpyoidc.server.oidc.provider_config.ProviderConfiguration",
                                "kwargs": {"client_authn_method": None}},
            "authorization": {"path": "authorization",
                              "class": "idpyoidc.server.oidc.authorization.Authorization",
                              "kwargs": {"client_authn_method": None, "response_types_supported": ["code"],
                                         "response_modes_supported": ["query"]}},
            "token": {"path": "token", "class": f"{MODULE}.TokenEndpoint",
                      "kwargs": {"client_authn_method": CLIENT_AUTH}},
            "introspection": {"path": "introspect",
                              "class": "idpyoidc.server.oauth2.introspection.Introspection",
                              "kwargs": {"client_authn_method": CLIENT_AUTH, "base_claims": user_claims,
                                         "enforce_audience_restriction": False}},
        },
    }
    server = Server(conf)
    for client_id, secret in CLIENTS.items():
        server.context.cdb[client_id] = {
            "client_id": client_id, "client_secret": secret, "client_salt": rndstr(8),
            "redirect_uris": [(REDIRECT_URI, {})], "response_types_supported": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", TOKEN_EXCHANGE],
            "allowed_scopes": DEFAULT_SCOPE.split(),
        }
    server.default_audience = audience.split()
    return server


# --- HTTP ------------------------------------------------------------------------------------------------------


class Provider:
    """The idpyoidc Server plus the test helpers. One lock: idpyoidc's session store is not thread-safe."""

    def __init__(self, server):
        self.server = server
        self.lock = threading.Lock()

    def endpoint(self, name, request, authorization=None, **process_kwargs):
        """Runs one idpyoidc endpoint: parse (incl. client authentication), process, build the response.
        Returns (HTTP status, JSON-able dict)."""
        ep = self.server.get_endpoint(name)
        http_info = {"headers": {"authorization": authorization} if authorization else {}}
        try:
            req = ep.parse_request(request, http_info=http_info)
        except (UnAuthorizedClient, ClientAuthenticationError) as err:
            return 401, {"error": "invalid_client", "error_description": str(err)}
        if isinstance(req, Message) and "error" in req:
            return (401 if req["error"] == "invalid_client" else 400), req.to_dict()
        args = ep.process_request(req, http_info=http_info, **process_kwargs)
        error = args if "error" in args else args.get("response_args", {})  # idpyoidc returns errors either way
        if "error" in error:
            return 400, {k: error[k] for k in ("error", "error_description") if k in error}
        if name == "authorization":  # in-process only: hand back the response arguments (code, state, ...)
            return 200, args["response_args"].to_dict()
        out = ep.do_response(request=req, **args)
        return 200, json.loads(out["response"])

    def discovery(self):
        return self.endpoint("provider_config", {})

    def jwks(self):
        return 200, self.server.keyjar.export_jwks(issuer_id=self.server.issuer)

    def login(self, form):
        user = form.get("user", "")
        if not user:
            return 400, {"error": "invalid_request", "error_description": "user is required"}
        client_id = form.get("client", "skyport-test")
        if client_id not in CLIENTS:
            return 400, {"error": "invalid_request", "error_description": f"unknown client {client_id}"}
        audience = form.get("audience", "").split() or self.server.default_audience
        lifetime = form.get("lifetime", "600")
        if not lifetime.isdigit() or int(lifetime) < 1:
            return 400, {"error": "invalid_request", "error_description": "lifetime is a positive integer"}
        token_format = form.get("token_format", "jwt")
        if token_format not in ("jwt", "opaque"):
            return 400, {"error": "invalid_request", "error_description": "token_format is jwt or opaque"}
        context = self.server.context
        groups = context.userinfo.db.get(user, {}).get("groups", [])
        if "groups" in form:  # else the user keeps the groups an earlier login gave
            groups = [g for g in form["groups"].split(",") if g]
        claims = {"name": user, "preferred_username": user}
        if groups:  # no groups: neither claim (idpyoidc would drop an empty "groups" but keep "wlcg.groups")
            claims.update({"groups": groups, "wlcg.groups": groups})
        context.userinfo.db[user] = claims
        status, aresp = self.endpoint("authorization", {
            "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
            "scope": form.get("scope", DEFAULT_SCOPE), "state": rndstr(16), "nonce": rndstr(16),
            "prompt": "consent",  # OIDC wants it with offline_access; the test user always consents
            "audience": audience}, authn=user)
        if status != 200 or "code" not in aresp:
            return 400, aresp
        # Per-login settings live on the grant the authorization step made.
        grant = context.session_manager.get_session_info_by_token(
            aresp["code"], grant=True, handler_key="authorization_code")["grant"]
        grant.usage_rules["access_token"] = dict(grant.usage_rules["access_token"], expires_in=int(lifetime))
        grant.extra["token_format"] = token_format
        status, tresp = self.endpoint("token", urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": aresp["code"], "redirect_uri": REDIRECT_URI,
            "client_id": client_id, "client_secret": CLIENTS[client_id]}))
        if status == 200:
            tresp["sub"] = grant.sub
        return status, tresp

    def authorize(self, query):
        """A browser's authorization request: the test user logged in without a form, 302 back with the code."""
        client_id, redirect = query.get("client_id", ""), query.get("redirect_uri", "")
        if client_id not in CLIENTS:
            return 400, {"error": "invalid_request", "error_description": f"unknown client {client_id}"}
        target = urllib.parse.urlsplit(redirect)
        if target.scheme != "http" or target.hostname not in ("127.0.0.1", "localhost", "::1"):
            return 400, {"error": "invalid_request", "error_description": "this test provider redirects to loopback only"}
        registered = self.server.context.cdb[client_id]["redirect_uris"]
        if (redirect, {}) not in registered:
            registered.append((redirect, {}))
        user = query.get("login_hint") or "web-user"
        claims = {"name": user, "preferred_username": user}
        groups = [g for g in query.get("groups", "").split(",") if g]
        if groups:
            claims.update({"groups": groups, "wlcg.groups": groups})
        self.server.context.userinfo.db[user] = claims
        request = {k: v for k, v in query.items() if k in (
            "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method",
            "audience")}
        request["prompt"] = "consent"
        status, aresp = self.endpoint("authorization", request, authn=user)
        if status != 200 or "code" not in aresp:
            return 400, aresp
        back = {"code": aresp["code"]}
        if "state" in query:
            back["state"] = query["state"]
        return 302, {"location": redirect + ("&" if "?" in redirect else "?") + urllib.parse.urlencode(back)}

    def rotate(self):
        """New signing keys, made and stored the way idpyoidc does at start-up: generated under the owner ""
        and copied to the issuer's own entry. The old keys are dropped from both at once. (cryptojwt's
        KeyJar.rotate_keys only marks them inactive: JWT signing then still picks the first matching key, an
        old one, while verification already refuses it.)"""
        kj, issuer = self.server.keyjar, self.server.issuer
        fresh = build_keyjar(SIGNING_KEYS).export_jwks(private=True)
        for owner in ("", issuer):
            del kj[owner]
            kj.import_jwks(fresh, owner)
        return 200, {"kids": [k["kid"] for k in self.jwks()[1]["keys"]]}

    def clients(self):
        return 200, {c: {"client_id": c, "client_secret": s,
                         "token_endpoint_auth_methods": CLIENT_AUTH}
                     for c, s in CLIENTS.items()}


def make_handler(provider, verbose):
    class Handler(BaseHTTPRequestHandler):
        def send_json(self, status, body, cache="no-store"):
            data = json.dumps(body).encode()
            self.send_response(status)
            if status == 302:
                self.send_header("Location", body["location"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", cache)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def dispatch(self, routes):
            path = urllib.parse.urlsplit(self.path).path
            route = routes.get(path)
            if route is None:
                return self.send_json(404, {"error": "not_found", "path": path})
            try:
                with provider.lock:
                    status, body = route()
            except Exception as err:  # a fixture bug or a malformed request: say so, keep serving
                traceback.print_exc()
                status, body = 500, {"error": "server_error", "error_description": f"{type(err).__name__}: {err}"}
            # Discovery and keys are cacheable, as at a real OP: a relying party learns of a rotation from an
            # unknown kid, not from a cache that never holds anything.
            self.send_json(status, body, "public, max-age=3600" if self.command == "GET" and status == 200
                           and path != "/test/clients" else "no-store")

        def do_GET(self):
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query, keep_blank_values=True))
            self.dispatch({"/.well-known/openid-configuration": provider.discovery,
                           "/jwks.json": provider.jwks, "/test/clients": provider.clients,
                           "/authorization": lambda: provider.authorize(query)})

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            auth = self.headers.get("Authorization")
            form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
            self.dispatch({"/token": lambda: provider.endpoint("token", body, auth),
                           "/introspect": lambda: provider.endpoint("introspection", body, auth),
                           "/test/login": lambda: provider.login(form), "/test/rotate": provider.rotate})

        def log_message(self, fmt, *args):
            if verbose:
                sys.stderr.write("oidc_provider: " + (fmt % args) + "\n")

    return Handler


def main():
    ap = argparse.ArgumentParser(description="Skyport's test OpenID Connect provider (idpyoidc) on 127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    ap.add_argument("--audience", default="skyport", help="default aud of /test/login tokens (space-separated)")
    ap.add_argument("--alg", choices=["ES256", "RS256"], default="ES256", help="access-token signing algorithm")
    ap.add_argument("--exchange-lifetime", type=int, default=300, help="lifetime (s) of exchanged tokens")
    ap.add_argument("--verbose", action="store_true", help="log each HTTP request on stderr")
    args = ap.parse_args()

    try:
        httpd = ThreadingHTTPServer(("127.0.0.1", args.port), None)
    except OSError as err:
        sys.exit(f"oidc_provider: cannot listen on 127.0.0.1:{args.port}: {err}")
    issuer = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.RequestHandlerClass = make_handler(
        Provider(make_server(issuer, args.audience, args.alg, args.exchange_lifetime)), args.verbose)
    httpd.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"OIDC_ISSUER={issuer}", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()

"""Authlib on the other side of Warden (driven by test/authlib-client.test.ts; Debian's python3-authlib,
with python3-requests and python3-cryptography).

  authlib_client.py password <base> <username> <password>
      authlib.integrations.requests_client.OAuth2Session: fetch_token(grant_type="password") from
      /oauth/token, a protected call with it (GET /api/v1/auth/verify), revoke_token() of the refresh
      token at /oauth/revoke, then refresh_token() with it and the protected call again:
      {"ok": true, "token": {...}, "before": {"status", "user_id"}, "revoke_status", "refresh_after_revoke":
       {"error", "description"}, "after": {"status", "user_id"}}
      With CLIENT_SECRET set, the client authenticates as a confidential one would (HTTP Basic).
  authlib_client.py verify <jwks_url> <token> <alg>
      authlib.jose.JsonWebToken([alg]) decodes the token with the key set fetched from the JWKS URL
      (the key picked by kid) and validates the claims: exp always, iss and aud when ISSUER and
      AUDIENCE are set: {"ok": true, "header", "claims"}

Failures print {"ok": false, "error": <exception class>, "oauth_error": <its .error, if any>}.
"""
import json
import os
import sys

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, JsonWebToken


def protected(session, base):
    r = session.get(base + "/api/v1/auth/verify")
    return {"status": r.status_code, "user_id": r.headers.get("x-auth-user")}


def password(base, username, pw):
    session = OAuth2Session(client_id="orders-cli", client_secret=os.environ.get("CLIENT_SECRET"))
    token = session.fetch_token(base + "/oauth/token", grant_type="password", username=username, password=pw)
    before = protected(session, base)
    revoked = session.revoke_token(base + "/oauth/revoke", token=token["refresh_token"], token_type_hint="refresh_token")
    try:
        session.refresh_token(base + "/oauth/token", refresh_token=token["refresh_token"])
        refreshed = {"error": None}
    except Exception as e:
        refreshed = {"error": getattr(e, "error", type(e).__name__), "description": getattr(e, "description", None)}
    return {
        "token": dict(token),
        "before": before,
        "revoke_status": revoked.status_code,
        "refresh_after_revoke": refreshed,
        "after": protected(session, base),
    }


def verify(jwks_url, token, alg):
    keys = JsonWebKey.import_key_set(requests.get(jwks_url, timeout=10).json())
    options = {"exp": {"essential": True}}
    if os.environ.get("ISSUER"):
        options["iss"] = {"essential": True, "value": os.environ["ISSUER"]}
    if os.environ.get("AUDIENCE"):
        options["aud"] = {"essential": True, "value": os.environ["AUDIENCE"]}
    claims = JsonWebToken([alg]).decode(token, keys, claims_options=options)
    claims.validate()
    return {"header": dict(claims.header), "claims": dict(claims)}


def main():
    mode, rest = sys.argv[1], sys.argv[2:]
    try:
        out = password(*rest) if mode == "password" else verify(*rest)
        print(json.dumps({"ok": True, **out}))
    except Exception as e:  # the test asserts which exception Authlib raises
        print(json.dumps({"ok": False, "error": type(e).__name__, "oauth_error": getattr(e, "error", None)}))


if __name__ == "__main__":
    main()

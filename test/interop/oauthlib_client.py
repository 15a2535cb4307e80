"""requests-oauthlib and oauthlib as an OAuth 2.0 client of Warden's /oauth/token and /oauth/revoke
(driven by test/oauthlib-client.test.ts; Debian's python3-requests-oauthlib and python3-oauthlib).

  oauthlib_client.py password <base> <username> <password>
      OAuth2Session(client=LegacyApplicationClient(...)).fetch_token(...), then GET /api/v1/auth/verify
      with the token: {"ok": true, "token": {...}, "me": {"status", "user_id"}}; with SCOPE set,
      the session asks for that scope
  oauthlib_client.py call <base> <token json>
      GET /api/v1/auth/verify through a session holding the stored token, with auto_refresh_url and a
      token_updater: {"ok": true, "status", "user_id", "updated": <the token given to token_updater, or null>}
  oauthlib_client.py refresh <base> <token json>
      session.refresh_token(...) with the stored token's refresh token: {"ok": true, "token": {...}}
  oauthlib_client.py revoke <base> <token json>
      the RFC 7009 request oauthlib prepares (prepare_token_revocation_request) for the refresh
      token, sent by the session: {"ok": true, "status"}

Failures print {"ok": false, "error": <exception class>, "oauth_error": <its .error>, "status": <its .status_code>}.
The token is what a client stores (token_updater's argument). CLOCK_OFFSET (seconds) moves this
process's clock, as the test moves Warden's: oauthlib decides that an access token expired from
time.time() and the token's expires_at. Plain http is allowed with OAUTHLIB_INSECURE_TRANSPORT.
"""
import json
import os
import sys
import time

os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # the test's Warden listens on http://127.0.0.1

_offset = float(os.environ.get("CLOCK_OFFSET", "0"))
if _offset:
    _real_time = time.time
    time.time = lambda: _real_time() + _offset

from oauthlib.oauth2 import LegacyApplicationClient  # noqa: E402
from requests_oauthlib import OAuth2Session  # noqa: E402

CLIENT_ID = "orders-cli"


def me(session, base):
    """A protected call: Warden's forward-auth route answers 200 with X-Auth-User, or 401."""
    r = session.get(base + "/api/v1/auth/verify")
    return {"status": r.status_code, "user_id": r.headers.get("x-auth-user")}


def main():
    mode, base, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    token_url = base + "/oauth/token"
    try:
        if mode == "password":
            username, password = rest
            scope = os.environ["SCOPE"].split() if os.environ.get("SCOPE") else None
            session = OAuth2Session(client=LegacyApplicationClient(client_id=CLIENT_ID), scope=scope)
            token = session.fetch_token(token_url, username=username, password=password)
            out = {"token": dict(token), "me": me(session, base)}
        elif mode == "call":
            updated = []
            session = OAuth2Session(
                client=LegacyApplicationClient(client_id=CLIENT_ID),
                token=json.loads(rest[0]),
                auto_refresh_url=token_url,
                token_updater=lambda t: updated.append(dict(t)),
            )
            out = {**me(session, base), "updated": updated[0] if updated else None}
        elif mode == "refresh":
            token = json.loads(rest[0])
            session = OAuth2Session(client=LegacyApplicationClient(client_id=CLIENT_ID), token=token)
            out = {"token": dict(session.refresh_token(token_url, refresh_token=token["refresh_token"]))}
        elif mode == "revoke":
            token = json.loads(rest[0])
            session = OAuth2Session(client=LegacyApplicationClient(client_id=CLIENT_ID), token=token)
            url, headers, body = session._client.prepare_token_revocation_request(
                base + "/oauth/revoke", token["refresh_token"], token_type_hint="refresh_token"
            )
            out = {"status": session.post(url, headers=headers, data=body, withhold_token=True).status_code}
        else:
            raise SystemExit("unknown mode " + mode)
        print(json.dumps({"ok": True, **out}))
    except Exception as e:  # the test asserts which exception oauthlib raises, and its RFC 6749 error
        out = {"ok": False, "error": type(e).__name__, "oauth_error": getattr(e, "error", None), "status": getattr(e, "status_code", None)}
        if type(e) is Warning:  # oauthlib's "Scope has changed": its message, and the token it held back
            out.update(message=str(e), token_keys=sorted(getattr(e, "token", {}).keys()))
        print(json.dumps(out))


if __name__ == "__main__":
    main()

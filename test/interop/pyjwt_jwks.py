"""PyJWT on the other side of Warden's tokens, as a FastAPI service behind Warden would verify them
(driven by test/pyjwt-jwks.test.ts; Debian's python3-jwt and python3-cryptography).

  pyjwt_jwks.py jwks <jwks_url> <token>   PyJWKClient fetches Warden's JWKS, picks the key by kid, verifies
  pyjwt_jwks.py secret <token>            seed 001's get_current_user: jwt.decode(token, SECRET_KEY, algorithms=["HS256"])
  pyjwt_jwks.py jose <token>              the same with python-jose, which the seed imports (from jose import jwt)
Prints {"ok": true, "alg", "kid", "sub", "claims"} or {"ok": false, "error": <exception class>}.
The shared secret comes from the environment variable SECRET_KEY; with AUDIENCE set, the decode is
given audience=AUDIENCE (what a service needs once Warden writes JWT_AUDIENCE into tokens).
"""
import json
import os
import sys

import jwt


def main():
    mode, rest = sys.argv[1], sys.argv[2:]
    try:
        if mode == "jwks":
            url, token = rest
            signing_key = jwt.PyJWKClient(url).get_signing_key_from_jwt(token)
            header = jwt.get_unverified_header(token)
            payload = jwt.decode(token, signing_key.key, algorithms=["EdDSA", "RS256"], options={"require": ["exp", "iat", "sub"]})
            kid = signing_key.key_id
        else:
            (token,) = rest
            header = jwt.get_unverified_header(token)
            audience = {"audience": os.environ["AUDIENCE"]} if os.environ.get("AUDIENCE") else {}
            if mode == "jose":
                from jose import jwt as jose_jwt

                payload = jose_jwt.decode(token, os.environ["SECRET_KEY"], algorithms=["HS256"], **audience)
            else:
                payload = jwt.decode(token, os.environ["SECRET_KEY"], algorithms=["HS256"], **audience)
            kid = header.get("kid")
        print(json.dumps({"ok": True, "alg": header["alg"], "kid": kid, "sub": payload.get("sub"), "claims": payload}))
    except Exception as e:  # the test asserts which exception class a bad token raises
        print(json.dumps({"ok": False, "error": type(e).__name__}))


if __name__ == "__main__":
    main()

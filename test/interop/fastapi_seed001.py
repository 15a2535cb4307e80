"""Seed 001's FastAPI service, as its author wrote it, behind Warden (driven by
test/fastapi-seed001.test.ts; Debian's python3-fastapi, python3-httpx for its TestClient,
python3-uvicorn to serve it, python3-jose or python3-jwt to decode).

The service: OAuth2PasswordBearer(tokenUrl="token") and a get_current_user that decodes the bearer
token with SECRET_KEY and ALGORITHM, reads "sub", and answers 401 "Could not validate credentials"
with WWW-Authenticate: Bearer. Settings from the environment:
  SECRET_KEY    the secret it shares with Warden (ALGORITHM is HS256, as in the seed)
  DECODER       jose (from jose import JWTError, jwt: the seed's import) or pyjwt (import jwt)
  ACCESS_ONLY   1: the line README's "Seed 001" section adds, refusing a token whose "type" is not "access"
  TOKEN_URL     the password flow's tokenUrl (default the seed's "token")
  SWAGGER_JS_URL, SWAGGER_CSS_URL, SWAGGER_FAVICON_URL   where /docs loads Swagger UI from (default FastAPI's CDN)

  fastapi_seed001.py call <token or "-"> ...   GET /users/me through FastAPI's TestClient with each token
                                               ("-": no Authorization header); prints a JSON list of
                                               {"status", "body", "www_authenticate"}
  fastapi_seed001.py openapi                   prints the app's OpenAPI document
  fastapi_seed001.py serve <port>              serves the app with uvicorn on 127.0.0.1:<port>
"""
import json
import os
import sys

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.security import OAuth2PasswordBearer

SECRET_KEY = os.environ["SECRET_KEY"]
ALGORITHM = "HS256"

if os.environ.get("DECODER", "jose") == "jose":
    from jose import JWTError as DecodeError
    from jose import jwt
else:
    import jwt
    from jwt import PyJWTError as DecodeError

oauth2_scheme = OAuth2PasswordBearer(tokenUrl=os.environ.get("TOKEN_URL", "token"))
app = FastAPI(title="seed 001", docs_url=None)


async def get_current_user(token: str = Depends(oauth2_scheme)):
    credentials_exception = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )
    try:
        payload = jwt.decode(token, SECRET_KEY, algorithms=[ALGORITHM])
        user_id = payload.get("sub")
        if user_id is None:
            raise credentials_exception
        if os.environ.get("ACCESS_ONLY") == "1" and payload.get("type") != "access":
            raise credentials_exception
    except DecodeError:
        raise credentials_exception
    return {"id": user_id, "roles": payload.get("roles", [])}


@app.get("/users/me")
async def read_users_me(current_user: dict = Depends(get_current_user)):
    return current_user


@app.get("/docs", include_in_schema=False)
async def docs():
    # FastAPI's own docs page; only where Swagger UI's files come from can change (a test has no CDN).
    settings = (("swagger_js_url", "SWAGGER_JS_URL"), ("swagger_css_url", "SWAGGER_CSS_URL"), ("swagger_favicon_url", "SWAGGER_FAVICON_URL"))
    urls = {k: os.environ[v] for k, v in settings if os.environ.get(v)}
    return get_swagger_ui_html(openapi_url=app.openapi_url, title=app.title + " - Swagger UI", **urls)


def main():
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "call":
        from fastapi.testclient import TestClient

        client = TestClient(app)
        out = []
        for token in rest:
            r = client.get("/users/me", headers={} if token == "-" else {"Authorization": "Bearer " + token})
            out.append({"status": r.status_code, "body": r.json(), "www_authenticate": r.headers.get("www-authenticate")})
        print(json.dumps(out))
    elif mode == "openapi":
        print(json.dumps(app.openapi()))
    elif mode == "serve":
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=int(rest[0]), log_level="warning")
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()

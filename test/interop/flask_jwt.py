"""flask-jwt-extended on the other side of Warden's tokens (driven by test/flask-interop.test.ts).

  flask_jwt.py create <identity>   prints an access token made by create_access_token(fresh=True)
  flask_jwt.py refresh <identity>  prints a refresh token made by create_refresh_token(identity=<identity>)
  flask_jwt.py refresh-int <n>     the same with the integer n as identity (an integer primary key)
  flask_jwt.py refresh-expired <n> the same, already expired (expires_delta of -1 s)
  flask_jwt.py refresh-noexp <n>   the same, never expiring (JWT_REFRESH_TOKEN_EXPIRES = False: no exp)
  flask_jwt.py refresh-long <n>    the same, living 365 days (an application that set a long JWT_REFRESH_TOKEN_EXPIRES)
  flask_jwt.py verify <token>      prints {"status": ..., "claims": ...} from a @jwt_required() route
  flask_jwt.py missing <cases>     for each case {"locations", "method", "headers", "body"} of the JSON
                                   list, prints the "msg" of a @jwt_required() route finding no token
The shared secret comes from the environment variable SECRET_KEY.
"""
import json
from datetime import timedelta
import os
import sys

from flask import Flask, jsonify
from flask_jwt_extended import JWTManager, create_access_token, create_refresh_token, get_jwt, jwt_required

app = Flask(__name__)
app.config["JWT_SECRET_KEY"] = os.environ["SECRET_KEY"]
app.config["JWT_TOKEN_LOCATION"] = ["headers", "cookies"]  # as seed 000: tokens carry a csrf claim
JWTManager(app)


@app.get("/protected")
@jwt_required()
def protected():
    return jsonify(get_jwt())


if __name__ == "__main__":
    mode, arg = sys.argv[1], sys.argv[2]
    if mode == "missing":
        app.add_url_rule("/any", "any", protected, methods=["GET", "POST"])
        out = []
        for case in json.loads(arg):
            app.config["JWT_TOKEN_LOCATION"] = case["locations"]
            res = app.test_client().open("/any", method=case["method"], headers=case.get("headers", {}), data=case.get("body"))
            out.append(res.get_json().get("msg"))
        print(json.dumps(out))
    elif mode == "create":
        with app.app_context():
            print(create_access_token(identity=arg, fresh=True, additional_claims={"roles": ["user"]}))
    elif mode in ("refresh", "refresh-int", "refresh-expired", "refresh-noexp", "refresh-long"):
        with app.app_context():
            identity = arg if mode == "refresh" else int(arg)
            delta = {"refresh-expired": timedelta(seconds=-1), "refresh-noexp": False, "refresh-long": timedelta(days=365)}.get(mode)
            print(create_refresh_token(identity=identity, expires_delta=delta))
    else:
        res = app.test_client().get("/protected", headers={"Authorization": "Bearer " + arg})
        print(json.dumps({"status": res.status_code, "claims": res.get_json()}))

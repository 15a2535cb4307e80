"""A FastAPI application written after FastAPI's tutorial (SQLAlchemy users table, passlib's
CryptContext with bcrypt, OAuth2PasswordBearer(tokenUrl="token")), moved to Warden as README's
"Migrating from Flask/FastAPI" step 3 says: its get_current_user is the README block
<!-- fastapi-lookup --> (read from README.md and run here), given Warden's access tokens. Driven by
test/fastapi-tutorial.test.ts with Debian's python3-fastapi, python3-httpx, python3-jwt,
python3-passlib, python3-bcrypt and python3-sqlalchemy.

  fastapi_tutorial.py setup DB                    creates the tutorial's users table in the SQLite
                                                  file DB, with its users (bcrypt hashes made by passlib)
  fastapi_tutorial.py call DB README token ...    GET /users/me through FastAPI's TestClient with each
                                                  token; prints a JSON list of {"status", "body"}
SECRET_KEY (the one shared with Warden) comes from the environment.
"""
import json
import os
import re
import sys

from sqlalchemy import Boolean, Column, Integer, String, create_engine
from sqlalchemy.orm import Session, declarative_base, sessionmaker

Base = declarative_base()


class User(Base):
    __tablename__ = "users"
    id = Column(Integer, primary_key=True, index=True)
    username = Column(String, unique=True, index=True)
    email = Column(String, unique=True, index=True)
    full_name = Column(String, nullable=True)
    hashed_password = Column(String)
    disabled = Column(Boolean, default=False)


def setup(db_path):
    from passlib.context import CryptContext

    pwd_context = CryptContext(schemes=["bcrypt"], deprecated="auto")
    engine = create_engine("sqlite:///" + db_path)
    Base.metadata.create_all(engine)
    with Session(engine) as db:
        db.add(User(username="johndoe", email="johndoe@example.com", full_name="John Doe", hashed_password=pwd_context.hash("secret"), disabled=False))
        db.add(User(username="alice", email="alice@example.com", full_name="Alice Wonderson", hashed_password=pwd_context.hash("secret2"), disabled=True))
        db.commit()


def call(db_path, readme, tokens):
    import jwt
    from fastapi import Depends, FastAPI, HTTPException, status
    from fastapi.security import OAuth2PasswordBearer
    from fastapi.testclient import TestClient
    from jwt.exceptions import InvalidTokenError

    SECRET_KEY = os.environ["SECRET_KEY"]
    ALGORITHM = "HS256"
    engine = create_engine("sqlite:///" + db_path, connect_args={"check_same_thread": False})
    SessionLocal = sessionmaker(bind=engine)

    def get_db():
        db = SessionLocal()
        try:
            yield db
        finally:
            db.close()

    oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")
    app = FastAPI()
    text = open(readme, encoding="utf-8").read()
    block = re.search(r"<!-- fastapi-lookup:start -->\n```python\n(.*?)```", text, re.S).group(1)
    scope = dict(globals(), **locals())
    exec(block, scope)
    get_current_user = scope["get_current_user"]

    @app.get("/users/me")
    async def read_users_me(current_user: User = Depends(get_current_user)):
        return {"id": current_user.id, "username": current_user.username}

    client = TestClient(app)
    out = []
    for token in tokens:
        r = client.get("/users/me", headers={"Authorization": "Bearer " + token})
        out.append({"status": r.status_code, "body": r.json()})
    print(json.dumps(out))


if __name__ == "__main__":
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "setup":
        setup(rest[0])
    elif mode == "call":
        call(rest[0], rest[1], rest[2:])
    else:
        raise SystemExit("unknown mode " + mode)

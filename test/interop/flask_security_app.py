"""A Flask-Security application's users table, made by Flask-Security itself (Debian's
python3-flask-security): for test/flask-security-import.test.ts.

  /usr/bin/python3 flask_security_app.py DB SALT   read [{"username", "email", "password",
                                                   "scheme"}] as JSON on stdin, write them into
                                                   the SQLite file DB as Flask-Security's
                                                   SQLAlchemy models lay out a user (fs_uniquifier,
                                                   active, roles_users), each password hashed by
                                                   flask_security.hash_password with that scheme
                                                   under SECURITY_PASSWORD_SALT=SALT (checked with
                                                   its verify_password), and print {"hashes": […]}.

Passwords travel on stdin, never in argv. Costs are lowered where the scheme allows, to keep the
test quick; the layout and the double hash are Flask-Security's own.
"""
import json
import sqlite3
import sys
import uuid

from flask import Flask
from flask_security import Security, hash_password, verify_password

# Lower costs than Flask-Security's defaults; passed to passlib as Flask-Security passes them.
OPTIONS = {"bcrypt__rounds": 4, "argon2__rounds": 1, "argon2__memory_cost": 1024, "argon2__parallelism": 1,
           "pbkdf2_sha512__rounds": 1000, "sha512_crypt__rounds": 5000}


class NoStore:
    """hash_password and verify_password never reach the datastore."""


def hasher(scheme, salt):
    app = Flask(__name__)
    app.config.update(SECRET_KEY="test", SECURITY_PASSWORD_SALT=salt, SECURITY_PASSWORD_HASH=scheme,
                      SECURITY_PASSWORD_HASH_PASSLIB_OPTIONS=OPTIONS)
    Security(app, datastore=NoStore())
    return app


def main():
    db_path, salt = sys.argv[1], sys.argv[2]
    users = json.load(sys.stdin)
    db = sqlite3.connect(db_path)
    db.executescript("""
        CREATE TABLE role (id INTEGER PRIMARY KEY, name VARCHAR(80) UNIQUE, description VARCHAR(255));
        CREATE TABLE user (
            id INTEGER PRIMARY KEY, email VARCHAR(255) UNIQUE, username VARCHAR(255) UNIQUE,
            password VARCHAR(255) NOT NULL, active BOOLEAN, fs_uniquifier VARCHAR(64) NOT NULL UNIQUE,
            confirmed_at DATETIME
        );
        CREATE TABLE roles_users (user_id INTEGER REFERENCES user (id), role_id INTEGER REFERENCES role (id));
        INSERT INTO role (id, name) VALUES (1, 'admin');
    """)
    hashes = []
    for i, u in enumerate(users, start=1):
        app = hasher(u["scheme"], salt)
        with app.app_context():
            # Flask-Security's forms normalise the password (NFKD) before hashing; so does this.
            password = app.extensions["security"]._password_util.normalize(u["password"])
            h = hash_password(password)
            assert verify_password(password, h), u["scheme"]
            assert not verify_password(password + "!", h), u["scheme"]
        db.execute("INSERT INTO user (id, email, username, password, active, fs_uniquifier) VALUES (?, ?, ?, ?, 1, ?)",
                   (i, u["email"], u["username"], h, uuid.uuid4().hex))
        hashes.append(h)
    db.execute("INSERT INTO roles_users (user_id, role_id) VALUES (1, 1)")
    db.commit()
    print(json.dumps({"hashes": hashes}))


if __name__ == "__main__":
    main()

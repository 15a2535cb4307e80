"""A Django project's users, made by Django itself (Debian's python3-django, with python3-argon2
and python3-bcrypt for those hashers), for test/django-import.test.ts.

  django_users.py DB    migrates django.contrib.auth into the SQLite file DB and creates the users
                        below: each hasher Django ships, capitals in usernames, usernames Warden
                        does not take, empty and duplicated emails, an unusable password, an
                        inactive user, a superuser, a staff member and a group.
"""
import sys

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": sys.argv[1]}},
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.BCryptPasswordHasher",
    ],
    USE_TZ=True,
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
)
django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0)


def make(username, email, password, hasher="default", **fields):
    user = User(username=username, email=email, **fields)
    if password is None:
        user.set_unusable_password()
    else:
        user.password = make_password(password, hasher=hasher)
    user.save()
    return user


editors = Group.objects.create(name="editors")
make("alice", "alice@example.com", "alice-pass-1").groups.add(editors)
make("Bob", "bob@example.com", "bob-pass-22", hasher="pbkdf2_sha1")
make("carol", "carol@example.com", "carol-pass-3", hasher="argon2")
make("dave", "dave@example.com", "dave-pass-4", hasher="bcrypt_sha256")
make("erin", "erin@example.com", "erin-pass-5", hasher="bcrypt")
make("frank", "", "frank-pass-6")
make("heidi", "shared@example.com", "heidi-pass-8")
make("ivan", "Shared@Example.com", "ivan-pass-9")
make("judy", "judy@example.com", None)
make("mallory", "mallory@example.com", "mallory-pass", is_active=False)
make("Admin", "admin@example.com", "admin-pass-10", is_staff=True, is_superuser=True)
make("staffer", "staff@example.com", "staff-pass-11", is_staff=True)
make("\u00c9TIENNE", "etienne@example.com", "etienne-pass")
make("zed@home", "zed@example.com", "zed-pass-13")
make("jo", "jo@example.com", "jo-pass-14")

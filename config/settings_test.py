"""Test settings: the real settings with the environment a test run needs.

Tests run against the real PostgreSQL (DATABASE_URL, default database `altar`;
pytest-django creates `test_altar…` per xdist worker) and never reach the
network: Stripe is the loopback stand-in started by tests/conftest.py.
"""

import os

os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-" + "x1y2z3" * 10)
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
# Production requires EMAIL_URL; tests read mail from Django's locmem outbox.
os.environ.setdefault("EMAIL_URL", "memorymail://")
os.environ.setdefault("STRIPE_SECRET_KEY", "sk_test_altarStandinLocalOnly000000")
# A closed loopback port: a test that reaches Stripe without the stand-in
# fixture fails at once instead of leaving the machine.
os.environ["STRIPE_API_BASE"] = "http://127.0.0.1:9"
# Production settings refuse a non-Stripe API base unless told otherwise.
os.environ["STRIPE_API_BASE_ALLOW_ANY"] = "true"
# Race tests start up to 50 threads at once; they share a bounded pool (the
# database still decides every race) so that xdist workers, and the other
# processes on the machine, stay well inside max_connections (100).
os.environ.setdefault("DB_POOL_MAX_SIZE", "20")
os.environ.setdefault("DB_POOL_TIMEOUT", "30")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {  # noqa: F405
    "client_ip": "100000/min",
    "tenant_key_client": "100000/min",
    "tenant_key": "100000/min",
}

# dj-stripe's migration history costs ~45 s of CPU per test database; its
# tables (and those of Django's contrib apps it points at, which must be
# built in the same pass) come straight from the models instead. Altar's own
# migrations, with their raw-SQL constraints, still run as in production.
MIGRATION_MODULES = {app: None for app in ("djstripe", "auth", "contenttypes", "admin", "sessions")}

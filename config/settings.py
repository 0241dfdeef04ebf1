"""Altar settings: everything comes from the environment (API.md §4).

`.env` is read only when present. Production differs from development by
environment variables alone; with DJANGO_DEBUG off, a missing or weak
DJANGO_SECRET_KEY stops the process at start.
"""

import datetime as dt
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.stripe_base import stripe_api_base_refusal

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

DEBUG = env.bool("DJANGO_DEBUG", default=False)

_DEV_SECRET_KEY = "dev-only-insecure-key-never-used-when-DJANGO_DEBUG-is-off"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not DEBUG and (
    len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
    or SECRET_KEY.startswith("django-insecure")
    or SECRET_KEY == _DEV_SECRET_KEY
):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters "
        "when DJANGO_DEBUG is off."
    )

# Rotation: the previous key keeps sessions and signed links valid meanwhile.
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if DEBUG else []
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's files, served from our static files instead of a CDN.
    "drf_spectacular_sidecar",
    "csp",
    "djstripe",
    "tenants",
    "catalog",
    "bookings",
    "webhooks",
    "storefront",
    "django_guid",
    "django_tasks",
    "django_tasks_db",
    "axes",
]

MIDDLEWARE = [
    # First, so every log line of the request carries its id.
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    # Early, so every response (error pages included) gets the policy.
    "csp.middleware.CSPMiddleware",
    # Before CommonMiddleware, as django-cors-headers requires.
    "corsheaders.middleware.CorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tenants.middleware.AdminTenantScopeMiddleware",
    # Last, as django-axes requires: refuses logins while locked out.
    "axes.middleware.AxesMiddleware",
]

# Admin login brute-force protection (django-axes): after AXES_FAILURE_LIMIT
# failures for one username from one address, that pair is locked out for
# AXES_COOLOFF_HOURS (an ops superuser can unlock with `axes_reset`).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# Behind a proxy the client address comes from the same setting DRF uses.
AXES_IPWARE_PROXY_COUNT = env.int("NUM_PROXIES", default=0) or None

# CORS: only the couples' API, only for origins a tenant lists
# (tenants/cors.py decides per request); no cookies are involved.
CORS_URLS_REGEX = r"^/api/v1/.*$"
CORS_ALLOW_HEADERS = ["content-type", "x-tenant-key", "idempotency-key", "x-request-id"]
CORS_EXPOSE_HEADERS = ["x-request-id", "retry-after"]
CORS_ALLOW_CREDENTIALS = False
CORS_PREFLIGHT_MAX_AGE = 600

# Request bodies: the JSON API takes small documents; photo uploads are
# files (checked at 5 MB by the catalog) and do not count here.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_BYTES", default=1_048_576)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL through psycopg 3's connection pool. Django requires
# CONN_MAX_AGE = 0 with a pool; CONN_HEALTH_CHECKS makes the pool test a
# connection before lending it, so a restarted server costs a reconnect
# instead of a failed request.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/altar")
}
# Django's PostgreSQL backend plus an on_rollback hook (config/db_engine):
# files written in a transaction that rolls back are deleted again.
DATABASES["default"]["ENGINE"] = "config.db_engine"
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})
# Behind PgBouncer < 1.21 in transaction mode, server-side prepared
# statements must be off (docs/deploy.md).
if env.str("DB_PREPARE_THRESHOLD", default="") == "off":
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
DATABASES["default"]["OPTIONS"]["pool"] = {
    "min_size": env.int("DB_POOL_MIN_SIZE", default=1),
    "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
    "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                # A Redis outage must degrade to cache misses, never to 500s.
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Staff accounts (accounts pages: /accounts/…). The login is the e-mail.
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/admin/"
# How long an e-mailed staff invitation link works (single use).
INVITATION_TTL = dt.timedelta(days=env.float("INVITATION_TTL_DAYS", default=7.0))
# Password-reset requests, per e-mail address asked about (whether or not it
# has an account) and per client address (NUM_PROXIES-aware), per hour.
PASSWORD_RESET_LIMIT_PER_EMAIL = env.int("PASSWORD_RESET_LIMIT_PER_EMAIL", default=5)
PASSWORD_RESET_LIMIT_PER_IP = env.int("PASSWORD_RESET_LIMIT_PER_IP", default=20)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Languages of the couple-facing pages and e-mails (storefront/, the couple's
# e-mails); the admin stays English. Catalogs: locale/<lang>/LC_MESSAGES.
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# --- Media: package photos and tenant logos (docs/deploy.md, "Media") ---
# Local disk by default (`make run` serves it under /media/ in debug). With
# AWS_STORAGE_BUCKET_NAME set, every host reads and writes one S3-compatible
# bucket, and browsers load the files from the bucket (or a CDN in front of
# it, AWS_S3_CUSTOM_DOMAIN) at plain, stable URLs: photos and logos are
# public on the couples' websites anyway, and the catalog cache keeps photo
# URLs for up to an hour, which a presigned URL could outlive. Presigned URLs
# (AWS_QUERYSTRING_AUTH=true, private bucket) are possible; the check
# altar.E031 then requires AWS_QUERYSTRING_EXPIRE to outlast cached entries.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    from botocore.config import Config as _BotoConfig

    _custom_domain = env.str("AWS_S3_CUSTOM_DOMAIN", default="") or None
    _url_protocol = env.str("AWS_S3_URL_PROTOCOL", default="https:")
    # Every call to the bucket has a timeout (an upload is inside a request).
    _s3_timeout = env.float("AWS_S3_TIMEOUT_SECONDS", default=10.0)
    _media_storage = {
        "BACKEND": "config.storage_s3.MediaS3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            # Unset: boto3's own chain (instance role, AWS_PROFILE, …).
            "access_key": env.str("AWS_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default="") or None,
            "custom_domain": _custom_domain,
            "url_protocol": _url_protocol,
            "querystring_auth": env.bool("AWS_QUERYSTRING_AUTH", default=False),
            "querystring_expire": env.int("AWS_QUERYSTRING_EXPIRE", default=7 * 24 * 3600),
            # None: the bucket policy decides (S3 buckets refuse ACLs by default).
            "default_acl": env.str("AWS_DEFAULT_ACL", default="") or None,
            "file_overwrite": False,
            # Names are never reused (random, or suffixed): cache for good.
            "object_parameters": {"CacheControl": "public, max-age=31536000, immutable"},
            "client_config": _BotoConfig(
                connect_timeout=_s3_timeout,
                read_timeout=_s3_timeout,
                retries={"mode": "standard", "max_attempts": 3},
                signature_version="s3v4",
                s3={"addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default="auto")},
            ),
        },
    }
    _media_url_default = f"{_url_protocol}//{_custom_domain}/" if _custom_domain else "media/"
else:
    _media_storage = {"BACKEND": "config.storage.MediaFileSystemStorage"}
    _media_url_default = "media/"
MEDIA_URL = env.str("MEDIA_URL", default=_media_url_default)
STORAGES = {
    "default": _media_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Mail: console in development. In production EMAIL_URL is required:
# without it, invitations and password-reset links would go to the log.
if not DEBUG and not env.str("EMAIL_URL", default=""):
    raise ImproperlyConfigured(
        "EMAIL_URL must be set when DJANGO_DEBUG is off "
        "(e.g. smtp+tls://user:password@smtp.example.com:587)."
    )
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Altar <bookings@altar.localhost>")

# --- HTTPS and security headers ------------------------------------------
# Behind a TLS-terminating proxy, set SECURE_PROXY_SSL_HEADER_ENABLED so
# Django trusts X-Forwarded-Proto from it.
if env.bool("SECURE_PROXY_SSL_HEADER_ENABLED", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy on every response (django-csp; config/csp.py).
# Scripts and styles come from this origin, or inline with the request's
# nonce ({{ request.csp_nonce }}; the header names a nonce only on pages
# that used one); never 'unsafe-inline', so injected markup cannot run or
# restyle anything. data: images: Swagger UI's icons are data: URIs in its
# CSS. Nothing may frame a page unless its view says which origins may
# (config.csp.allow_framing).
# (Local names: django-csp takes module-level CSP_* settings for its
# pre-4.0 format and refuses to start.)
_csp_img_src_extra = env.list("CSP_IMG_SRC_EXTRA", default=[])
_csp_report_uri = env.str("CSP_REPORT_URI", default="")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:", *_csp_img_src_extra],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        **({"report-uri": _csp_report_uri} if _csp_report_uri else {}),
    }
}
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- API --------------------------------------------------------------------
REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    # Checked in this order (tenants/api/throttling.py). Per address over
    # every key (key guessing included); per client of one key (a couple's
    # browser: generous for a person, so one client cannot spend everyone's
    # budget); per key in total, only a circuit breaker far above any one
    # client, so a single abusive client never locks out a tenant's couples.
    "DEFAULT_THROTTLE_RATES": {
        "client_ip": env.str("THROTTLE_RATE_PER_IP", default="300/min"),
        "tenant_key_client": env.str("THROTTLE_RATE_PER_KEY_CLIENT", default="120/min"),
        "tenant_key": env.str("THROTTLE_RATE_PER_KEY", default="6000/min"),
    },
    # How many proxies in front of the app append to X-Forwarded-For; 0
    # trusts only the socket's address, so clients cannot forge their IP
    # to dodge the per-IP throttle. Behind one load balancer: 1.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Altar public API",
    "DESCRIPTION": "Packages, availability, checkout and bookings for couples' websites.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from drf-spectacular-sidecar's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Holds ------------------------------------------------------------------
# Active unpaid holds allowed at once (bookings/hold_limits.py); a tenant's
# owner may set its own in the admin. 0 = no limit. Per e-mail: a couple
# weighs a date and a backup or two, not more. Per address: a household,
# venue wifi or a mobile carrier's shared address holds several couples.
# Per tenant: caps how much of a 730-day calendar can sit unpaid at once.
HOLD_LIMIT_PER_EMAIL = env.int("HOLD_LIMIT_PER_EMAIL", default=3)
HOLD_LIMIT_PER_ADDRESS = env.int("HOLD_LIMIT_PER_ADDRESS", default=5)
HOLD_LIMIT_PER_TENANT = env.int("HOLD_LIMIT_PER_TENANT", default=50)
# Balances (bookings.balances): the "your card will be charged" notice goes
# this many days before the due date; a failed balance is reminded at these
# days after the due date; a booking with a balance still due is reminded
# this many days before the wedding.
BALANCE_NOTICE_DAYS = env.int("BALANCE_NOTICE_DAYS", default=3)
BALANCE_OVERDUE_REMINDER_DAYS = [
    int(days) for days in env.list("BALANCE_OVERDUE_REMINDER_DAYS", default=["3", "7", "14"])
]
WEDDING_REMINDER_DAYS = env.int("WEDDING_REMINDER_DAYS", default=14)
# A retried checkout (same e-mail, date, package and add-ons) gets the
# couple's existing hold back if it has at least this long left to pay in.
HOLD_REUSE_MIN_REMAINING_SECONDS = env.int("HOLD_REUSE_MIN_REMAINING_SECONDS", default=300)

# --- Stripe -----------------------------------------------------------------
# Local runs (DEBUG) default to the stand-in's key; production has no default.
_LOCAL_STRIPE_KEY = "sk_test_altarStandinLocalOnly000000"
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default=_LOCAL_STRIPE_KEY if DEBUG else "")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
# Production talks to Stripe itself: a stand-in or typo'd STRIPE_API_BASE
# would take real bookings without real payments, and without a key no
# payment can be taken at all. Checked here, at import, so every process
# (gunicorn, workers, manage.py) refuses to start, not only `manage.py check`.
# The benchmark and the test suite run production settings against the
# loopback stand-in and say so explicitly.
STRIPE_API_BASE_ALLOW_ANY = env.bool("STRIPE_API_BASE_ALLOW_ANY", default=False)
if not DEBUG and not STRIPE_SECRET_KEY:
    raise ImproperlyConfigured("STRIPE_SECRET_KEY must be set when DJANGO_DEBUG is off.")
if not (DEBUG or STRIPE_API_BASE_ALLOW_ANY) and stripe_api_base_refusal(STRIPE_API_BASE):
    raise ImproperlyConfigured(stripe_api_base_refusal(STRIPE_API_BASE))
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=10.0)
# dj-stripe reads its keys from these names.
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith("sk_live_")
STRIPE_LIVE_SECRET_KEY = STRIPE_SECRET_KEY if STRIPE_LIVE_MODE else ""
STRIPE_TEST_SECRET_KEY = "" if STRIPE_LIVE_MODE else STRIPE_SECRET_KEY
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
DJSTRIPE_USE_NATIVE_JSONFIELD = True

# Durable side effects (e-mails, refunds the platform owes): an outbox in
# PostgreSQL. A task row is inserted in the same transaction as the change
# that causes it, so it is never lost after commit and never exists for a
# rolled-back change; `manage.py db_worker` processes them (SKIP LOCKED).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# Ops token for /readyz's details (connection figures): callers sending
# `Authorization: Bearer <token>` get them; everyone gets the status code
# and checks. Unset: nobody gets the details.
READYZ_TOKEN = env.str("READYZ_TOKEN", default="")
if READYZ_TOKEN and len(READYZ_TOKEN) < 32:
    raise ImproperlyConfigured("READYZ_TOKEN must be at least 32 characters (or unset).")

# Public base URL of this platform, for links in e-mails and Stripe redirects.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
# How long the "manage my booking" link in a couple's e-mail works; the
# booking page's "send me my link" form mails a fresh one.
MANAGE_LINK_MAX_AGE_DAYS = env.int("MANAGE_LINK_MAX_AGE_DAYS", default=60)

# Each request gets an id (a well-formed incoming X-Request-ID from the
# proxy is kept), echoed in the response and stamped on every log line.
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": True,
    "VALIDATE_GUID": True,
}

# JSON lines in production (one object per line, for the log pipeline);
# readable lines in development. Log calls never carry couples' personal
# data: ids and error types only.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "django_guid.log_filters.CorrelationId"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": ["asctime", "levelname", "name", "correlation_id", "message"],
            "rename_fields": {
                "asctime": "time",
                "levelname": "level",
                "correlation_id": "request_id",
            },
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # The stripe library logs every request at INFO, with URLs; ours say
    # what matters (altar.payments) without personal data.
    "loggers": {"stripe": {"level": "WARNING"}},
}

"""Kling Studio settings: one file, read from the environment.

Every value has a safe development default. A value that cannot be parsed stops the
process with ImproperlyConfigured naming the variable, instead of being guessed at.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from kling_studio import __version__
from kling_studio.env import (
    envbool,
    envchoice,
    envdecimal,
    envdsn,
    envemail,
    envfloat,
    envint,
    envnetworks,
    envtoken,
    envurl,
)
from kling_studio.observability import init_sentry, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


DEBUG = envbool("DEBUG", "True")
SECRET_KEY = os.getenv("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is False")
    SECRET_KEY = "django-insecure-development-only-key"
ALLOWED_HOSTS = [h.strip() for h in os.getenv("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.getenv("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_prometheus",
    "axes",
    "csp",
    "accounts",
    "generations",
]

MIDDLEWARE = [
    "kling_studio.observability.request_id_middleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "kling_studio.middleware.async_streaming_middleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.CurrentTeamMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "kling_studio.urls"
WSGI_APPLICATION = "kling_studio.wsgi.application"

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
                "accounts.context_processors.teams",
            ],
        },
    },
]

# SQLite by default; PostgreSQL (or anything dj-database-url knows) through DATABASE_URL.
# No persistent connections: under ASGI a request's database work may run in a thread of
# its own, whose connection would never be reused or closed (Django's documentation says
# as much). Put PgBouncer in front of PostgreSQL if connecting ever shows in a profile.
(BASE_DIR / "var").mkdir(exist_ok=True)
DATABASE_URL = os.getenv("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the Celery worker write to the same file: WAL lets readers go
    # on while one writes, IMMEDIATE takes the write lock up front so two writers queue
    # for `timeout` seconds instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory: the tests' Celery worker and browser share the test database.
    DATABASES["default"]["TEST"] = {"NAME": os.getenv("TEST_DATABASE_NAME", str(BASE_DIR / "var" / "test.sqlite3"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Log-in throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username
# from one address, that pair is refused until AXES_COOLOFF_TIME has passed; the right
# password does not get through meanwhile. Other people and other addresses are unaffected.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", "5", minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("LOGIN_LOCKOUT_MINUTES", "15", minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The address is REMOTE_ADDR: behind a proxy, uvicorn's --proxy-headers puts the client's there.
# Who may make an account: anyone (the sign-up page), or only a person holding a working
# invite link (invitation-only: every account spends the studio's one paid API key). Open in
# development, invitation-only in production unless the operator opens it.
ALLOW_SIGNUP = envbool("ALLOW_SIGNUP", "True" if DEBUG else "False")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "generations:create"
LOGOUT_REDIRECT_URL = "login"

# Mail (sign-up confirmation, password reset, invites) goes where EMAIL_URL says: an SMTP
# server in production (`smtp://user:password@host:587/?tls=True`), the console in
# development, so `make run` prints each mail. The password is masked in logs and on the
# debug page like any password inside a URL.
EMAIL_URL = os.getenv("EMAIL_URL", "console://")
_email = envemail("EMAIL_URL", EMAIL_URL)
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
EMAIL_PORT = _email["EMAIL_PORT"] or 25
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
EMAIL_TIMEOUT = _email["EMAIL_TIMEOUT"]
EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"] or None
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "Kling Studio <studio@localhost>")
if "@" not in DEFAULT_FROM_EMAIL or "\n" in DEFAULT_FROM_EMAIL or "\r" in DEFAULT_FROM_EMAIL:
    raise ImproperlyConfigured(f"DEFAULT_FROM_EMAIL must be an address, not {DEFAULT_FROM_EMAIL!r}")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.getenv("STATIC_ROOT", BASE_DIR / "var" / "staticfiles"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.getenv("MEDIA_ROOT", BASE_DIR / "var" / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}


# Videos and thumbnails live on the local disk (MEDIA_ROOT) unless a bucket is named: then
# every web and worker process reads and writes that bucket, and none shares a disk. Any
# S3-compatible service: path-style addressing on AWS_S3_ENDPOINT_URL. Empty keys leave
# boto3 to find credentials itself (an instance role, ...).
AWS_STORAGE_BUCKET_NAME = os.getenv("AWS_STORAGE_BUCKET_NAME", "")
AWS_S3_REGION_NAME = os.getenv("AWS_S3_REGION_NAME", "") or "us-east-1"
AWS_S3_ENDPOINT_URL = envurl("AWS_S3_ENDPOINT_URL", f"https://s3.{AWS_S3_REGION_NAME}.amazonaws.com", ("http", "https"))
# The endpoint browsers reach, when it is not the one the studio's processes use (inside a
# compose network, say): links are signed for it. Empty: AWS_S3_ENDPOINT_URL.
S3_PUBLIC_ENDPOINT_URL = ""
if os.getenv("S3_PUBLIC_ENDPOINT_URL"):
    S3_PUBLIC_ENDPOINT_URL = envurl("S3_PUBLIC_ENDPOINT_URL", "", ("http", "https"))
AWS_ACCESS_KEY_ID = os.getenv("AWS_ACCESS_KEY_ID", "")
AWS_SECRET_ACCESS_KEY = os.getenv("AWS_SECRET_ACCESS_KEY", "")
AWS_QUERYSTRING_EXPIRE = envint("AWS_QUERYSTRING_EXPIRE", "3600", minimum=1)
if AWS_QUERYSTRING_EXPIRE > 3600:
    raise ImproperlyConfigured(
        f"AWS_QUERYSTRING_EXPIRE must be at most 3600 (an hour), not {AWS_QUERYSTRING_EXPIRE}: "
        "a link to a video must not outlive a person's access by long"
    )
# Files on the local disk behind nginx: the studio checks who may see a file, then hands the
# sending to nginx with `X-Accel-Redirect: <prefix><name>` (an `internal` location, see the
# README). Empty: the studio streams them itself, as in development.
MEDIA_ACCEL_REDIRECT_PREFIX = os.getenv("MEDIA_ACCEL_REDIRECT_PREFIX", "")
if MEDIA_ACCEL_REDIRECT_PREFIX and not (
    MEDIA_ACCEL_REDIRECT_PREFIX.startswith("/") and MEDIA_ACCEL_REDIRECT_PREFIX.endswith("/")
):
    raise ImproperlyConfigured(
        f"MEDIA_ACCEL_REDIRECT_PREFIX must start and end with '/', not {MEDIA_ACCEL_REDIRECT_PREFIX!r}"
    )
if AWS_STORAGE_BUCKET_NAME:
    if MEDIA_ACCEL_REDIRECT_PREFIX:
        raise ImproperlyConfigured(
            "MEDIA_ACCEL_REDIRECT_PREFIX is for files on the local disk; with AWS_STORAGE_BUCKET_NAME "
            "the files are in the bucket, and browsers fetch them from there"
        )
    # django-storages' S3 backend, which reads the AWS_* settings above by these names.
    STORAGES["default"] = {"BACKEND": "generations.objectstorage.MediaStorage"}

if not DEBUG:
    SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", "True")
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HTTPS in production: a redirect, HSTS, and (behind a proxy that terminates TLS) trust in
# its X-Forwarded-Proto header. Off by default so the local studio runs on plain HTTP.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "False")
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0", minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "False")
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "False")
# Pages load scripts, styles, images, video and their live stream from the studio itself, and
# nothing inline: htmx runs without eval (see templates/base.html).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "media-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
if AWS_STORAGE_BUCKET_NAME:
    # Players and thumbnails follow the studio's redirect to the bucket's endpoint.
    _endpoint = urlsplit(S3_PUBLIC_ENDPOINT_URL or AWS_S3_ENDPOINT_URL)
    for _directive in ("img-src", "media-src"):
        CONTENT_SECURITY_POLICY["DIRECTIVES"][_directive].append(f"{_endpoint.scheme}://{_endpoint.netloc}")
# The debug page and error reports show settings and the request's environment: passwords in
# URLs (DATABASE_URL, REDIS_URL) are masked there like the settings Django masks by name.
DEFAULT_EXCEPTION_REPORTER_FILTER = "kling_studio.reporting.SecretsMaskingFilter"
if envbool("TRUST_X_FORWARDED_PROTO", "False"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Celery: Redis as the broker, JSON only, the database row (not a result backend) is the truth.
REDIS_URL = envurl("REDIS_URL", "redis://127.0.0.1:6379/0", ("redis", "rediss", "unix"))
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Past the visibility timeout Redis hands an unacknowledged task to another worker, so
# every countdown the studio schedules must stay well under it (checked below).
CELERY_VISIBILITY_TIMEOUT = envint("CELERY_VISIBILITY_TIMEOUT", "3600", minimum=60)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_TASK_ALWAYS_EAGER = False
# kombu's Redis transport, with the fix that keeps a worker alive through a Redis restart
# (kling_studio/celery.py). REDIS_URL still says where Redis is.
CELERY_BROKER_TRANSPORT = "kling_studio.celery:RedisTransport"
# The GMI Cloud request-queue API. The key is read here and only here; it is never put
# into templates, logs or error messages.
GMI_API_BASE_URL = envurl(
    "GMI_API_BASE_URL", "https://console.gmicloud.ai/api/v1/ie/requestqueue/apikey", ("http", "https")
)
GMI_API_KEY = os.getenv("GMI_API_KEY", "")
GMI_ORG_ID = os.getenv("GMI_ORG_ID", "")
GMI_CONNECT_TIMEOUT = envfloat("GMI_CONNECT_TIMEOUT", "5", minimum=0.1)
GMI_READ_TIMEOUT = envfloat("GMI_READ_TIMEOUT", "30", minimum=0.1)
GMI_MAX_DOWNLOAD_BYTES = envint("GMI_MAX_DOWNLOAD_BYTES", str(512 * 1024 * 1024), minimum=1)
# A CA bundle to trust instead of the system's, for the API and the file links (the local
# emulator's certificate); and whether file links on the API's own host and port may be
# private addresses (the local emulator only: every other link must be public).
GMI_CA_BUNDLE = os.getenv("GMI_CA_BUNDLE", "")
if GMI_CA_BUNDLE and not Path(GMI_CA_BUNDLE).is_file():
    raise ImproperlyConfigured(f"GMI_CA_BUNDLE must name a certificate file, not {GMI_CA_BUNDLE!r}")
GMI_ALLOW_PRIVATE_API_HOST = envbool("GMI_ALLOW_PRIVATE_API_HOST", "False")

# What the service charges for one request, by duration, in GMI_PRICE_CURRENCY. The defaults
# are placeholders: the operator fills in the amounts from GMI Cloud's price list. A generation
# is charged the price in force when the service accepts its request.
GMI_PRICES = {"5": envdecimal("GMI_PRICE_5S", "0.30"), "10": envdecimal("GMI_PRICE_10S", "0.60")}
GMI_PRICE_CURRENCY = os.getenv("GMI_PRICE_CURRENCY", "$")  # written before an amount: "$0.30", "EUR 0.30"
if not (0 < len(GMI_PRICE_CURRENCY) <= 5 and GMI_PRICE_CURRENCY.isprintable()):
    raise ImproperlyConfigured(f"GMI_PRICE_CURRENCY must be 1 to 5 printable characters, not {GMI_PRICE_CURRENCY!r}")

# How the workers follow a generation. The database is the schedule: every in-progress row
# keeps its `next_poll_at`, and a beat tick every GENERATION_REFRESH_INTERVAL seconds takes
# the due rows (one list call refreshes many) and makes them due again an interval later.
GENERATION_REFRESH_INTERVAL = envfloat("GENERATION_REFRESH_INTERVAL", "1", minimum=0.2)
# The most generations one tick takes, and the most of them it asks about one by one (those
# the list call did not show, or one alone); the rest wait for the next tick.
GENERATION_REFRESH_BATCH = envint("GENERATION_REFRESH_BATCH", "2000", minimum=1)
GENERATION_REFRESH_SINGLE_GETS = envint("GENERATION_REFRESH_SINGLE_GETS", "5", minimum=1)
# How long a tick holds the rows it took. A tick never starts a call that could outlast the
# hold, so only the rows of a worker that died mid-tick wait for it to run out.
GENERATION_REFRESH_LEASE = envfloat("GENERATION_REFRESH_LEASE", "45", minimum=1)
# A generation not finished after GENERATION_DEADLINE seconds ends failed, but only once the
# service has been asked again and said it is still unfinished.
GENERATION_DEADLINE = envfloat("GENERATION_DEADLINE", "1800", minimum=1)
# A submit claimed longer ago than this with no request id is taken to have died.
GENERATION_SUBMIT_LEASE = envfloat("GENERATION_SUBMIT_LEASE", "120", minimum=1)
GENERATION_MAX_SUBMIT_ATTEMPTS = envint("GENERATION_MAX_SUBMIT_ATTEMPTS", "5", minimum=1)
# One file's download may take this long in all; storing holds a generation for both files.
GMI_DOWNLOAD_TIMEOUT = envfloat("GMI_DOWNLOAD_TIMEOUT", "120", minimum=1)
GENERATION_STORE_LEASE = 2 * GMI_DOWNLOAD_TIMEOUT + 30

# A claim must outlast what is done under it: a refresh makes at most one call after its last
# check of the time; a submit attempt may list the requests (adoption), then send.
_ONE_CALL = GMI_CONNECT_TIMEOUT + GMI_READ_TIMEOUT
for _name, _lease, _calls in (
    ("GENERATION_REFRESH_LEASE", GENERATION_REFRESH_LEASE, 1),
    ("GENERATION_SUBMIT_LEASE", GENERATION_SUBMIT_LEASE, 2),
):
    if _lease < _calls * _ONE_CALL + 5:
        raise ImproperlyConfigured(
            f"{_name} must be at least {_calls} × (GMI_CONNECT_TIMEOUT + GMI_READ_TIMEOUT) + 5 seconds "
            f"({_calls * _ONE_CALL + 5:g}), or a slow attempt could outlive its claim and be made twice"
        )
if max(GENERATION_SUBMIT_LEASE, GENERATION_STORE_LEASE) * 4 > CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "GENERATION_SUBMIT_LEASE and 2 × GMI_DOWNLOAD_TIMEOUT + 30 must stay under a quarter of "
        "CELERY_VISIBILITY_TIMEOUT, or Redis delivers a task a second time while the first still runs"
    )

# Three queues, so a burst of one kind of work never waits behind another; a worker started
# without --queues serves all three. A tick that waited longer than two intervals expires
# instead of piling up behind newer ones (say, while no worker was running).
CELERY_TASK_QUEUES = [Queue("submit"), Queue("refresh"), Queue("store")]
CELERY_TASK_DEFAULT_QUEUE = "refresh"
CELERY_TASK_ROUTES = {
    "generations.tasks.submit_generation": {"queue": "submit"},
    "generations.tasks.cancel_request": {"queue": "submit"},
    "generations.tasks.cancel_unrecorded_submission": {"queue": "submit"},
    "generations.tasks.store_generation": {"queue": "store"},
    "generations.tasks.refresh_due_generations": {"queue": "refresh"},
    "generations.tasks.recover_stalled_generations": {"queue": "refresh"},
}
CELERY_BEAT_SCHEDULE = {
    "refresh-due-generations": {
        "task": "generations.tasks.refresh_due_generations",
        "schedule": GENERATION_REFRESH_INTERVAL,
        "options": {"expires": max(2.0, 2 * GENERATION_REFRESH_INTERVAL)},
    },
    "recover-stalled-generations": {
        "task": "generations.tasks.recover_stalled_generations",
        "schedule": envfloat("GENERATION_RECOVERY_INTERVAL", "10", minimum=1),
    },
}

# Redis also holds the fleet's pause after a 429 (the cache) and carries status changes to
# open pages (pub/sub).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "kling-studio",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

# Health and metrics. /health/ needs a refresh tick to have run within HEALTH_HEARTBEAT_MAX_AGE
# seconds. A tick can last up to GENERATION_REFRESH_LEASE when the API is slow to answer, and a
# slow API must not make the studio unhealthy, hence the default.
HEALTH_HEARTBEAT_MAX_AGE = envint("HEALTH_HEARTBEAT_MAX_AGE", str(int(GENERATION_REFRESH_LEASE) + 15), minimum=1)
if HEALTH_HEARTBEAT_MAX_AGE < 3 * GENERATION_REFRESH_INTERVAL:
    raise ImproperlyConfigured(
        "HEALTH_HEARTBEAT_MAX_AGE must be at least 3 × GENERATION_REFRESH_INTERVAL, or the heartbeat "
        "expires between two ticks"
    )
# ... and a worker to have said it is alive (every 2 s, from its event loop) within
# HEALTH_WORKER_MAX_AGE seconds.
HEALTH_WORKER_MAX_AGE = envint("HEALTH_WORKER_MAX_AGE", "8", minimum=5)
# /metrics: for whoever sends METRICS_TOKEN as a Bearer token, or comes from one of
# METRICS_ALLOWED_NETWORKS; with neither set, for this machine only. The two sides of the
# check can be checked from here, at start.
METRICS_TOKEN = envtoken("METRICS_TOKEN")
METRICS_ALLOWED_NETWORKS = envnetworks("METRICS_ALLOWED_NETWORKS")
# A plain-HTTP probe or scrape from inside the network is not sent to HTTPS.
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^metrics$"]

# Logs: JSON lines in production (a line per record, with the generation, team and request it
# is about), readable text in development. Workers and beat log through the same settings.
LOG_FORMAT = envchoice("LOG_FORMAT", "text" if DEBUG else "json", ("text", "json"))
LOGGING = logging_config(LOG_FORMAT, os.getenv("LOG_LEVEL", "INFO"))

# Errors go to Sentry when SENTRY_DSN is set, and nowhere else when it is not.
SENTRY_DSN = envdsn("SENTRY_DSN")
if SENTRY_DSN:
    SENTRY_TRACES_SAMPLE_RATE = envfloat("SENTRY_TRACES_SAMPLE_RATE", "0", maximum=1)
    init_sentry(
        SENTRY_DSN,
        environment=os.getenv("SENTRY_ENVIRONMENT", "development" if DEBUG else "production"),
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
        release=f"kling-studio@{__version__}",
    )

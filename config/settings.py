"""Settings, read from environment variables only.

DATABASE_URL        postgres://user:pass@host:port/name (required; `make run`/`make test` export it)
REDIS_URL           redis://host:port/db — shared cache (rate limits) and default Celery broker
CELERY_BROKER_URL   overrides the broker (amqp://… in production)
SECRET_KEY, DEBUG, ALLOWED_HOSTS, TIME_ZONE, TRUSTED_PROXY_COUNT, MAX_ORDER_AMOUNT — see docs/CONFIGURATION.md
"""

import os
from decimal import Decimal
from pathlib import Path

import dj_database_url

from common.checks import require_shared_cache

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).lower() in ("1", "true", "yes", "on")


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("REQUIRE_SECRET_KEY", False):
        raise RuntimeError("SECRET_KEY must be set in production")
    SECRET_KEY = "dev-only-insecure-key-change-me"  # noqa: S105 — local runs only; production sets SECRET_KEY
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our static files, not a CDN
    "common",
    "accounts",
    "campaigns",
    "packets",
    "rebates",
    "antifraud",
    "lucky",
    "reports",
]

MIDDLEWARE = [
    # Outermost: sees every reply, so an error under /api/ is always the JSON shape (common/middleware.py).
    "common.middleware.ErrorReplyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "antifraud.middleware.BannedUserMiddleware",
    "antifraud.devices.DeviceCookieMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.UsernamePhoneEmailBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if not os.environ.get("DATABASE_URL"):
    raise RuntimeError("DATABASE_URL is not set: start the stack with `make run` / `make test` (PostgreSQL only)")
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise RuntimeError("Only PostgreSQL is supported (the ledger relies on its triggers)")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": os.environ.get("CACHE_BACKEND", "django.core.cache.backends.redis.RedisCache"),
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "rp"),
    }
}
# Rate limits count in this cache: a per-process cache would give every web worker its own count, multiplying every
# limit by the number of processes. Refuse to start with one.
require_shared_cache(CACHES)
RATELIMIT_USE_CACHE = "default"
RATELIMIT_IP_META_KEY = "common.http.ratelimit_ip"  # behind the trusted proxies only (TRUSTED_PROXY_COUNT)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "static"

# Request bodies above this are refused with 413 before any parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", 256 * 1024))
# Longer path + query strings are refused with 414 (JSON under /api/). Keep it below gunicorn's limit_request_line
# (config/runstack.py GUNICORN_LIMIT_REQUEST_LINE, gunicorn's default 4094 bytes for the whole request line), or
# gunicorn answers first with its own plain-text 414.
MAX_URI_LENGTH = int(os.environ.get("MAX_URI_LENGTH", 2048))
# Seconds a 503 (database or broker unavailable) asks the client to wait before retrying.
SERVICE_UNAVAILABLE_RETRY_AFTER = int(os.environ.get("SERVICE_UNAVAILABLE_RETRY_AFTER", 10))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "antifraud.middleware.BanAwareTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "common.api.ProjectAutoSchema",
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "common.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Red-packet two-way rebate API",
    "DESCRIPTION": 'Orders, red packets, rebates and wallets. Money is always a decimal string in CNY ("12.50").',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The UIs' JavaScript and CSS come from drf-spectacular-sidecar's static files: the docs work offline and never
    # change under us (a CDN's @latest did both).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "OrderChannelEnum": "packets.models.Order.Channel",
        "PayoutChannelEnum": "rebates.payouts.models.Payout.Channel",
        "WebhookEventTypeEnum": "rebates.webhooks.models.EventType",
        "WebhookDeliveryStateEnum": "rebates.webhooks.models.WebhookDelivery.State",
        "LuckyPacketKindEnum": "lucky.models.LuckyPacket.Kind",
        "LuckyPacketStatusEnum": "lucky.models.LuckyPacket.Status",
    },
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# Redis redelivers an unacked task only after this; tasks here take well under a second.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 60))}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
# A run (or a test session) can use its own queue on a shared broker.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "celery")
OUTBOX_SWEEP_SECONDS = float(os.environ.get("OUTBOX_SWEEP_SECONDS", 5))
OUTBOX_REPUBLISH_AFTER_SECONDS = float(os.environ.get("OUTBOX_REPUBLISH_AFTER_SECONDS", 10))
# Hot accounts (rebates/ledger/floats.py): how many floats a budget may have, how many redemptions' worth a refill
# moves, and how often BUFFERED accounts are rolled up (their reads sum the entries since the last roll-up).
LEDGER_FLOATS = int(os.environ.get("LEDGER_FLOATS", 16))
LEDGER_FLOAT_REFILL_REDEMPTIONS = int(os.environ.get("LEDGER_FLOAT_REFILL_REDEMPTIONS", 20))
LEDGER_ROLLUP_SECONDS = float(os.environ.get("LEDGER_ROLLUP_SECONDS", 2))
# The rebate worker credits up to this many redemptions per transaction (rebates.services.rebates_credit_batch);
# a process rings the batch task at most once per REBATE_DOORBELL_SECONDS (rebates/outbox.py).
REBATE_BATCH_SIZE = int(os.environ.get("REBATE_BATCH_SIZE", 100))
REBATE_DOORBELL_SECONDS = float(os.environ.get("REBATE_DOORBELL_SECONDS", 0.05))
# Usage spikes (reports/alerts.py, docs/REPORTS.md "Spikes and alerts"): a campaign's packets used in a 10-minute
# window beyond SPIKE_FACTOR × the mean of the SPIKE_BASELINE_WINDOWS windows before it, and at least SPIKE_MIN_USES,
# opens an alert; operators are told at OPERATIONS_ALERT_EMAILS (comma-separated) and by a POST to
# OPERATIONS_ALERT_WEBHOOK_URL signed with OPERATIONS_ALERT_WEBHOOK_SECRET (either left empty: not used).
SPIKE_DETECT_SECONDS = float(os.environ.get("SPIKE_DETECT_SECONDS", 60))
SPIKE_FACTOR = Decimal(os.environ.get("SPIKE_FACTOR", "3"))
SPIKE_BASELINE_WINDOWS = int(os.environ.get("SPIKE_BASELINE_WINDOWS", 12))
SPIKE_MIN_USES = int(os.environ.get("SPIKE_MIN_USES", 20))
OPERATIONS_ALERT_EMAILS = [a.strip() for a in os.environ.get("OPERATIONS_ALERT_EMAILS", "").split(",") if a.strip()]
OPERATIONS_ALERT_WEBHOOK_URL = os.environ.get("OPERATIONS_ALERT_WEBHOOK_URL", "")
OPERATIONS_ALERT_WEBHOOK_SECRET = os.environ.get("OPERATIONS_ALERT_WEBHOOK_SECRET", "")
CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {"task": "rebates.tasks.outbox_sweep", "schedule": OUTBOX_SWEEP_SECONDS},
    "ledger-rollup": {"task": "rebates.tasks.ledger_rollup", "schedule": LEDGER_ROLLUP_SECONDS},
    "packets-expire": {"task": "packets.tasks.packets_expire_due", "schedule": 60.0},
    "campaigns-end": {"task": "campaigns.tasks.campaigns_end", "schedule": 60.0},
    "rebates-confirm": {"task": "rebates.tasks.confirm_due_rebates", "schedule": 60.0},
    "payouts-sweep": {"task": "rebates.payout_tasks.payouts_sweep", "schedule": 30.0},
    "webhooks-sweep": {"task": "rebates.webhooks.tasks.webhooks_sweep", "schedule": 30.0},
    "referral-rewards-confirm": {"task": "campaigns.tasks_programs.confirm_due_referral_rewards", "schedule": 60.0},
    "enrolments-expire": {"task": "campaigns.tasks_programs.expire_due_enrolments", "schedule": 60.0},
    "lucky-packets-expire": {"task": "lucky.tasks.lucky_packets_expire_due", "schedule": 60.0},
    "report-rollups": {
        "task": "reports.tasks.rollups_apply",
        "schedule": float(os.environ.get("ROLLUP_APPLY_SECONDS", 10)),
    },
    "usage-spikes": {"task": "reports.tasks.usage_spikes_detect", "schedule": SPIKE_DETECT_SECONDS},
    # Packets refused for budget or the daily cap, issued again once the campaign can pay (packets/services.py).
    "packets-reissue": {
        "task": "packets.tasks.packets_reissue_retryable",
        "schedule": float(os.environ.get("REISSUE_SWEEP_SECONDS", 300)),
    },
    # Fraud detectors (antifraud/detectors.py), ANTIFRAUD_DETECT_SECONDS apart; ANTIFRAUD_* thresholds documented there.
    "antifraud-detect": {
        "task": "antifraud.tasks.detect_all",
        "schedule": float(os.environ.get("ANTIFRAUD_DETECT_SECONDS", 600)),
    },
}

# Reports (docs/REPORTS.md): the longest range one report covers, and the range when none is asked for.
REPORT_MAX_DAYS = int(os.environ.get("REPORT_MAX_DAYS", 366))
REPORT_DEFAULT_DAYS = int(os.environ.get("REPORT_DEFAULT_DAYS", 30))
# Operations (docs/REPORTS.md, "Operations"): the bearer token a Prometheus scraper sends to /metrics (empty: only a
# platform operator's session may read it), and the window the rebate lag percentiles are taken over.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
REBATE_LAG_WINDOW_SECONDS = float(os.environ.get("REBATE_LAG_WINDOW_SECONDS", 3600))

# Money limits: any single amount above this is refused as bad input.
MAX_ORDER_AMOUNT = Decimal(os.environ.get("MAX_ORDER_AMOUNT", "1000000.00"))
IDEMPOTENCY_KEY_TTL_HOURS = 24
# Lucky money (docs/LUCKY_MONEY.md): the most one packet holds, its most shares, what one person may send a day (in
# the TIME_ZONE's day), and how long shares wait to be grabbed before they go back to the sender.
LUCKY_MAX_TOTAL = Decimal(os.environ.get("LUCKY_MAX_TOTAL", "200.00"))
LUCKY_MAX_SHARES = int(os.environ.get("LUCKY_MAX_SHARES", 100))
LUCKY_DAILY_SEND_LIMIT = Decimal(os.environ.get("LUCKY_DAILY_SEND_LIMIT", "2000.00"))
# What one person may receive by grabbing lucky packets per TIME_ZONE day: a collector account of sock puppets or a
# laundering ring cannot take in more than this a day, whatever the number of senders.
LUCKY_DAILY_RECEIVE_LIMIT = Decimal(os.environ.get("LUCKY_DAILY_RECEIVE_LIMIT", "2000.00"))
LUCKY_EXPIRY_HOURS = int(os.environ.get("LUCKY_EXPIRY_HOURS", 24))
# Request rates of the send and grab paths (django-ratelimit syntax), counted per account, per IP and per device, on
# the API and the pages alike (lucky/limits.py).
LUCKY_SEND_RATE = os.environ.get("LUCKY_SEND_RATE", "10/m")
LUCKY_GRAB_RATE = os.environ.get("LUCKY_GRAB_RATE", "30/m")
# Laundering rules of the grab path (lucky/risk.py): a page device more accounts used (30 days) cannot grab; an edge
# a → b is heavy when b's one-person shares of a's packets reach LUCKY_RING_MIN_EDGE and LUCKY_RING_MIN_SHARE_PCT % of
# what a paid out in the detectors' window; rings up to LUCKY_RING_MAX_ACCOUNTS accounts.
LUCKY_GRAB_DEVICE_MAX_ACCOUNTS = int(os.environ.get("LUCKY_GRAB_DEVICE_MAX_ACCOUNTS", 2))
LUCKY_DEVICE_DAYS = int(os.environ.get("LUCKY_DEVICE_DAYS", 30))
LUCKY_RING_MIN_EDGE = Decimal(os.environ.get("LUCKY_RING_MIN_EDGE", "100.00"))
LUCKY_RING_MIN_SHARE_PCT = int(os.environ.get("LUCKY_RING_MIN_SHARE_PCT", 50))
LUCKY_RING_MAX_ACCOUNTS = int(os.environ.get("LUCKY_RING_MAX_ACCOUNTS", 5))
# …and only a share passed on: its sender grabbed a directed share of ≥ this % of it in these hours before sending.
LUCKY_PASS_THROUGH_HOURS = int(os.environ.get("LUCKY_PASS_THROUGH_HOURS", 24))
LUCKY_PASS_THROUGH_PCT = int(os.environ.get("LUCKY_PASS_THROUGH_PCT", 80))
# Platform points are spendable at checkout at this rate (100 points = ¥1.00, so one point is one fen).
POINTS_PER_CNY = int(os.environ.get("POINTS_PER_CNY", 100))

# Number of reverse proxies in front of the app whose X-Forwarded-For entries we trust (0 = use REMOTE_ADDR).
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", 0))

# Anti-fraud (docs/ANTIFRAUD.md). Per-campaign limits and thresholds live in each campaign's risk policy; these are
# the request-rate layer (per IP and per device, every earning endpoint) and how far back a shopping trail counts.
ANTIFRAUD_BURST_RATE = os.environ.get("ANTIFRAUD_BURST_RATE", "20/m")
ANTIFRAUD_TRAIL_HOURS = int(os.environ.get("ANTIFRAUD_TRAIL_HOURS", 2))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    X_FRAME_OPTIONS = "DENY"

# WeChat Pay payouts (商家转账 to 零钱), docs/PAYOUTS.md. Empty MCHID = the WeChat channel is switched off.
WECHATPAY_MCHID = os.environ.get("WECHATPAY_MCHID", "")
WECHATPAY_APPID = os.environ.get("WECHATPAY_APPID", "")
WECHATPAY_PRIVATE_KEY_PATH = os.environ.get("WECHATPAY_PRIVATE_KEY_PATH", "")  # merchant API key (PKCS#8 PEM)
WECHATPAY_CERT_SERIAL_NO = os.environ.get("WECHATPAY_CERT_SERIAL_NO", "")  # serial of the merchant API certificate
WECHATPAY_APIV3_KEY = os.environ.get("WECHATPAY_APIV3_KEY", "")  # decrypts notifications (AES-256-GCM)
WECHATPAY_PUBLIC_KEY_PATH = os.environ.get("WECHATPAY_PUBLIC_KEY_PATH", "")  # WeChat Pay platform public key (PEM)
WECHATPAY_PUBLIC_KEY_ID = os.environ.get("WECHATPAY_PUBLIC_KEY_ID", "")  # PUB_KEY_ID_…
WECHATPAY_GATEWAY = os.environ.get("WECHATPAY_GATEWAY", "https://api.mch.weixin.qq.com")  # the fake in tests/demo
WECHATPAY_NOTIFY_URL = os.environ.get("WECHATPAY_NOTIFY_URL", "")  # https://<host>/api/v1/payouts/notify/wechat/
WECHATPAY_TRANSFER_SCENE_ID = os.environ.get("WECHATPAY_TRANSFER_SCENE_ID", "1000")  # 1000 = 现金营销
WECHATPAY_TEST_OPENID = os.environ.get("WECHATPAY_TEST_OPENID", "")  # demo/tests only; ignored on the real gateway
WECHATPAY_TIMEOUT_SECONDS = float(os.environ.get("WECHATPAY_TIMEOUT_SECONDS", 10))
WECHATPAY_MIN_PAYOUT = Decimal(os.environ.get("WECHATPAY_MIN_PAYOUT", "0.10"))
WECHATPAY_MAX_PAYOUT = Decimal(os.environ.get("WECHATPAY_MAX_PAYOUT", "200.00"))
WECHATPAY_RETRY_BASE_SECONDS = float(os.environ.get("WECHATPAY_RETRY_BASE_SECONDS", 5))
WECHATPAY_RETRY_MAX_SECONDS = float(os.environ.get("WECHATPAY_RETRY_MAX_SECONDS", 600))
WECHATPAY_MAX_ATTEMPTS = int(os.environ.get("WECHATPAY_MAX_ATTEMPTS", 10))

# Webhooks to merchants (docs/WEBHOOKS.md). Private, loopback and reserved hosts are refused unless this is on (local
# runs and tests; `make run` turns it on).
WEBHOOKS_ALLOW_PRIVATE_HOSTS = env_bool("WEBHOOKS_ALLOW_PRIVATE_HOSTS", DEBUG)
WEBHOOKS_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOKS_TIMEOUT_SECONDS", 5))
WEBHOOKS_MAX_ATTEMPTS = int(os.environ.get("WEBHOOKS_MAX_ATTEMPTS", 12))
WEBHOOKS_RETRY_BASE_SECONDS = float(os.environ.get("WEBHOOKS_RETRY_BASE_SECONDS", 30))
WEBHOOKS_RETRY_MAX_SECONDS = float(os.environ.get("WEBHOOKS_RETRY_MAX_SECONDS", 6 * 3600))

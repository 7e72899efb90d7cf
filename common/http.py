import ipaddress

from django.conf import settings

# The bucket of callers whose address is unknown (an empty REMOTE_ADDR from a WSGI server or test client): they share
# one rate-limit count instead of escaping the limits or crashing them.
UNKNOWN_IP = "0.0.0.0"  # noqa: S104 — an address to count by, never bound


def client_ip(request) -> str:
    """The caller's IP, or "" when there is no valid one. X-Forwarded-For is trusted only for the configured number of
    proxies in front of us, counted from the right, so a client cannot forge its way past a limit by sending its own
    header."""
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return _valid_or_empty(remote)
    forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    chain = [*forwarded, remote]
    return _valid_or_empty(chain[-(hops + 1)] if len(chain) > hops else chain[0])


def ratelimit_ip(request) -> str:
    """RATELIMIT_IP_META_KEY: django-ratelimit builds a network from it, which must be a valid address."""
    return client_ip(request) or UNKNOWN_IP


def _valid_or_empty(candidate: str) -> str:
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return ""

from django.conf import settings


def client_ip(request) -> str:
    """The caller's IP. X-Forwarded-For is trusted only for the configured number of proxies in front of us,
    counted from the right, so a client cannot forge its way past a limit by sending its own header."""
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    chain = [*forwarded, remote]
    return chain[-(hops + 1)] if len(chain) > hops else chain[0]

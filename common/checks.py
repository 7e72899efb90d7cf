"""Start-up checks that must hold before the app serves a single request."""

from django.core.exceptions import ImproperlyConfigured

# Caches every web process shares. Anything else (local memory, dummy, files on one machine) counts per process or
# per host, so a limit of N would let N × processes through.
SHARED_CACHE_BACKENDS = (
    "django.core.cache.backends.redis.RedisCache",
    "django.core.cache.backends.memcached.PyMemcacheCache",
    "django.core.cache.backends.memcached.PyLibMCCache",
)


def require_shared_cache(caches: dict) -> None:
    backend = caches.get("default", {}).get("BACKEND", "")
    if backend not in SHARED_CACHE_BACKENDS:
        raise ImproperlyConfigured(
            f"CACHES['default'] is {backend or 'missing'}: rate limits need a cache shared by every web process "
            f"({', '.join(SHARED_CACHE_BACKENDS)})."
        )

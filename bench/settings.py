"""The project's settings with the bench's URLconf (the project's routes + the framework floor). Nothing else differs:
the redemptions the bench measures go through the same middleware, authentication and views as in production."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

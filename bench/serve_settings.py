"""Settings for ``bench/serve.py``'s gunicorn: the project's own, plus a trivial floor endpoint."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "serve_urls"
DEBUG = False

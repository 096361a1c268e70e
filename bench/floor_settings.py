"""Settings for ``bench/floor.py``'s gunicorn: the project's own with its URLs plus two floors."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "floor_urls"

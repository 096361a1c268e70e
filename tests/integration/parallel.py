"""Parallel API clients for the integration tests' races: each body is POSTed from its own
thread with its own client and database connection, all released at once by a barrier."""

import threading

from django.db import connection
from rest_framework.test import APIClient


def post_at_once(path: str, bodies: list[dict]) -> list[int]:
    """The status code of each body's POST to ``path``, in order."""
    from catalog.models import ApiKey

    _, raw_key = ApiKey.create_key("race", scopes=("read", "write"))
    start = threading.Barrier(len(bodies))
    statuses = [0] * len(bodies)

    def client_thread(index: int):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
        try:
            start.wait()
            statuses[index] = client.post(path, bodies[index], format="json").status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=client_thread, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses

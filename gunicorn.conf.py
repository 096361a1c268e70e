"""gunicorn settings of the API server (docker/, `make serve`, bench/serve.py).

- gthread workers keep client connections alive: with sync workers every request paid a new TCP
  connection, which halved the requests/s a trivial endpoint reached on 2 cores.
- One BLAS/OpenMP thread per worker: numpy's default thread pool turned a 0.02 ms matrix-vector
  product into tens of milliseconds under load, as the threads of every worker fought for the
  cores. Set before any worker imports numpy; the environment still wins.
- Each worker loads the served model versions before it takes requests (``post_worker_init``), so
  the first users after a start or restart do not wait for an artifact to load.
Workers: ``WEB_CONCURRENCY`` (gunicorn's own variable, default 2); threads: ``GUNICORN_THREADS``.
"""

import logging
import os

for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = 30
backlog = 2048


def post_worker_init(worker):
    """Load every scenario's served versions into this worker; a failure only costs latency."""
    from django.db import connections

    try:
        from engine.serving import warm_up

        loaded = warm_up()
    except Exception:
        logging.getLogger("gunicorn.error").exception("warm-up failed; serving loads lazily")
    else:
        worker.log.info("warmed up: %s", ", ".join(loaded) or "nothing promoted yet")
    finally:
        connections.close_all()  # requests run on other threads, with their own connections

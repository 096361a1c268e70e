"""gunicorn settings of the API server (docker/, `make serve`, bench/serve.py).

- Sync workers, one request at a time each, as many as cores (``WEB_CONCURRENCY`` overrides).
  On 2 cores with the load generator beside them, 2 sync workers answered 2,630-3,170 trivial
  requests/s and 1,090-1,710 precomputed recommendations/s; 2 gthread workers x 4 threads with
  keep-alive answered 1,060-1,240 and 620-1,190 (their poller, thread hand-off and GIL cost more
  than the TCP connection a sync worker opens per request). As gunicorn advises for sync workers, put a
  buffering proxy (nginx, a cloud load balancer) in front when clients are slow or remote.
- One BLAS/OpenMP thread per worker: numpy's default thread pool turned a 0.02 ms matrix-vector
  product into tens of milliseconds under load, as the threads of every worker fought for the
  cores. Set before any worker imports numpy; the environment still wins.
- Each worker loads the served model versions before it takes requests (``post_worker_init``), so
  the first users after a start or restart do not wait for an artifact to load.
- Then it moves everything loaded so far out of the garbage collector's reach (``gc.freeze``):
  a full collection walked the loaded models, snapshots and Django on every pass, 88 ms in a
  worker holding every scenario's demo models, and under load each worker paused that long
  every few seconds (every endpoint's p99 about 100-150 ms at 70 requests/s, p50 11-24 ms).
  A version loaded later (after a promotion) is collected as usual until the worker restarts.
"""

import gc
import logging
import os

for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
worker_class = "sync"
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
        connections.close_all()  # a fresh connection per worker, opened on its first request
        gc.collect()
        gc.freeze()

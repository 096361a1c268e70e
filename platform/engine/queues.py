"""The three Celery queues and which task goes where: one small module, imported by settings.

Task names are explicit and prefixed by the app (``engine.train_version``); scenario apps name
theirs ``<slug>.<verb>`` and pick a queue with the same suffix rules.
"""

TRAINING = "training"
SCORING = "scoring"
DEFAULT = "default"

QUEUES = (TRAINING, SCORING, DEFAULT)

TASK_ROUTES = {
    "engine.train_version": {"queue": TRAINING},
    "engine.train_scenario": {"queue": TRAINING},
    "engine.score_version": {"queue": SCORING},
    "*.train_*": {"queue": TRAINING},
    "*.score_*": {"queue": SCORING},
}

"""The engine's Celery queues, and every queue the installed scenarios declare.

Tasks name their queue where they are defined (``@shared_task(queue=...)``) and the engine sends a
scenario's training and scoring runs to the queues the scenario declares
(``Scenario.training_queue`` / ``scoring_queue``), so a new queue is one line in a scenario. A
worker started without ``-Q`` consumes every declared queue (``config.celery``); give ``-Q`` to
dedicate a worker to some of them.
"""

TRAINING = "training"
SCORING = "scoring"
DEFAULT = "default"

QUEUES = (TRAINING, SCORING, DEFAULT)


def declared_queues(scenarios) -> list[str]:
    """The engine's queues, then each of ``scenarios``' own, without repeats."""
    names = list(QUEUES)
    for scenario in scenarios:
        for name in (scenario.training_queue, scenario.scoring_queue):
            if name not in names:
                names.append(name)
    return names


def send(task_name: str, *args, queue: str) -> None:
    """Enqueue the registered task ``task_name`` on ``queue`` (run in-process when tasks are
    eager). By name, so the modules that enqueue need not import the task modules that call
    them back."""
    from celery import current_app

    current_app.signature(task_name, args=args, queue=queue).apply_async()

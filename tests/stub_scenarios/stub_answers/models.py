from django.db import models
from django.utils import timezone


class FaqEntry(models.Model):
    """A question with its answer (not about a person)."""

    entry_id = models.CharField(max_length=64, unique=True)
    language = models.CharField(max_length=16, default="en")
    question = models.TextField()
    answer = models.TextField()

    def __str__(self):
        return self.entry_id


class AnswerFeedback(models.Model):
    """A user opened an answer, or marked it helpful."""

    class Event(models.TextChoices):
        CLICK = "answer_click"
        HELPFUL = "helpful"

    entry = models.ForeignKey(FaqEntry, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey("catalog.User", on_delete=models.CASCADE, related_name="+")
    recommendation_id = models.CharField(max_length=64, db_index=True)
    event_type = models.CharField(max_length=16, choices=Event.choices)
    timestamp = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.user_id} {self.event_type} {self.entry_id}"

from django.db import models
from django.utils import timezone


class Follow(models.Model):
    """``follower`` follows ``followee``; ``recommendation_id`` names the answer suggesting it."""

    follower = models.ForeignKey("catalog.User", on_delete=models.CASCADE, related_name="+")
    followee = models.ForeignKey("catalog.User", on_delete=models.CASCADE, related_name="+")
    recommendation_id = models.CharField(max_length=64, blank=True, db_index=True)
    timestamp = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="stub_follow_once")
        ]

    def __str__(self):
        return f"{self.follower_id} -> {self.followee_id}"

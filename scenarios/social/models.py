"""Social's own tables: who follows whom, who blocked whom, and who opted out of suggestions.

Every row is about people, so each link to a catalog user cascades: deleting a user (``DELETE
/api/v1/users/{id}``) removes their follows, blocks and opt-out, at both ends.
"""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Follow(models.Model):
    """``follower`` follows ``followee``; ``recommendation_id`` names the suggestion it came
    from, when one did (the scenario's outcome event)."""

    follower = models.ForeignKey("catalog.User", on_delete=models.CASCADE, related_name="+")
    followee = models.ForeignKey("catalog.User", on_delete=models.CASCADE, related_name="+")
    recommendation_id = models.CharField(max_length=64, blank=True, db_index=True)
    timestamp = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-timestamp", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="social_follow_once"),
            models.CheckConstraint(
                condition=~Q(follower=F("followee")), name="social_follow_not_self"
            ),
        ]

    def __str__(self):
        return f"{self.follower} follows {self.followee}"


class Block(models.Model):
    """``blocker`` blocked ``blocked``: neither is suggested to the other, nor may follow them."""

    blocker = models.ForeignKey("catalog.User", on_delete=models.CASCADE, related_name="+")
    blocked = models.ForeignKey("catalog.User", on_delete=models.CASCADE, related_name="+")
    timestamp = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-timestamp", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="social_block_once"),
            models.CheckConstraint(
                condition=~Q(blocker=F("blocked")), name="social_block_not_self"
            ),
        ]

    def __str__(self):
        return f"{self.blocker} blocked {self.blocked}"


class OptOut(models.Model):
    """The user asked never to be suggested to anyone (they still get suggestions)."""

    user = models.OneToOneField("catalog.User", on_delete=models.CASCADE, related_name="+")
    timestamp = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-timestamp"]
        verbose_name = "opt-out"

    def __str__(self):
        return f"{self.user} opted out"

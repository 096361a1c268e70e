"""The content scenario's tables: articles (a view of catalog items of kind ``article``, for the
admin) and the feeds each reader was shown."""

from django.db import models

from catalog.models import Item, User


class ArticleManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(kind="article")


class Article(Item):
    """A catalog item of kind ``article``: the same row, edited in the admin as an article."""

    objects = ArticleManager()

    class Meta:
        proxy = True
        ordering = ["-id"]

    def save(self, *args, **kwargs):
        self.kind = "article"
        super().save(*args, **kwargs)


class FeedExposure(models.Model):
    """One feed answer shown to a known reader: which articles, under which recommendation id.
    Goes with the reader (``DELETE /api/v1/users/{user_id}``)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="content_feeds")
    recommendation_id = models.CharField(max_length=64, db_index=True)
    item_ids = models.JSONField(default=list)
    shown_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-shown_at"]
        indexes = [models.Index(fields=["user", "-shown_at"], name="content_feed_user_time")]

    def __str__(self):
        return f"{self.recommendation_id} for {self.user_id}"

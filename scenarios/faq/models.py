"""The FAQ's own tables: entries (not about a person) and the log of shoppers' questions."""

from django.db import models
from django.utils import timezone


class Language(models.TextChoices):
    ENGLISH = "en", "English"
    CHINESE = "zh", "Chinese"


class FaqEntry(models.Model):
    """A canonical question with its answer; its paraphrases are the training questions."""

    class Category(models.TextChoices):
        SHIPPING = "shipping"
        RETURNS = "returns"
        PAYMENT = "payment"
        ACCOUNT = "account"
        ORDER_STATUS = "order_status", "Order status"
        PRODUCT = "product"

    key = models.SlugField(max_length=64, unique=True, help_text="The faq_id clients see.")
    language = models.CharField(max_length=8, choices=Language.choices)
    category = models.CharField(max_length=32, choices=Category.choices)
    question = models.TextField(help_text="The canonical question.")
    paraphrases = models.JSONField(
        default=list, blank=True, help_text="Other ways shoppers ask it (a list of strings)."
    )
    answer = models.TextField()
    linked_items = models.ManyToManyField(
        "catalog.Item",
        blank=True,
        related_name="+",
        help_text="Products this answer is about: preferred for shoppers who bought them.",
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "FAQ entry"
        verbose_name_plural = "FAQ entries"
        ordering = ["language", "category", "key"]

    def __str__(self):
        return f"{self.key}: {self.question[:60]}"

    def training_texts(self) -> list[str]:
        """The question and every non-empty paraphrase, each once."""
        texts = [self.question, *self.paraphrases]
        return list(dict.fromkeys(t.strip() for t in texts if isinstance(t, str) and t.strip()))


class QueryLog(models.Model):
    """One question a shopper asked, what was answered, and whether it helped."""

    text = models.TextField()
    user = models.ForeignKey(
        "catalog.User", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    language = models.CharField(max_length=8, help_text="Given, or detected from the script.")
    chosen_entry = models.ForeignKey(
        FaqEntry,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The best answer shown.",
    )
    confidence = models.FloatField(help_text="The best answer's probability.")
    handed_off = models.BooleanField()
    helpful = models.BooleanField(null=True, blank=True)
    feedback_at = models.DateTimeField(null=True, blank=True)
    label_entry = models.ForeignKey(
        FaqEntry,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="labelled_queries",
        help_text="The entry that answers it, set by an operator.",
    )
    attached = models.BooleanField(
        default=False, help_text="Added to an entry as a training paraphrase."
    )
    recommendation_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "query"
        verbose_name_plural = "query log"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.text[:60]

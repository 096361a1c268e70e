"""The engine contract's case for the FAQ: a few English entries on the planted store."""

from tests.engine.contract_cases import Case

ENTRIES = (
    (
        "ship-time",
        "How long does shipping take?",
        ["When will my parcel arrive?", "How many days is delivery?", "shipping time"],
        "Three to five working days.",
    ),
    (
        "return-order",
        "How do I return an order?",
        ["Can I send an item back?", "return a product", "how to make a return"],
        "From your orders page, within 30 days.",
    ),
    (
        "pay-methods",
        "Which payment methods do you take?",
        ["Can I pay by card?", "do you accept bank transfer", "payment options"],
        "Cards and bank transfer.",
    ),
)


def seed_entries():
    from scenarios.faq.models import FaqEntry

    for key, question, paraphrases, answer in ENTRIES:
        FaqEntry.objects.create(
            key=key,
            language="en",
            category="shipping",
            question=question,
            paraphrases=paraphrases,
            answer=answer,
        )


def rate_helpful(client, body, user_id):
    return client.post(
        "/api/v1/faq/feedback",
        {"recommendation_id": body["recommendation_id"], "helpful": True},
        format="json",
    )


CASE = Case(
    query={"query": "how long is shipping", "user_id": "p1", "n": 2},
    bad=[
        {"user_id": "p1"},
        {"query": "x" * 1001},
        {"query": "shipping", "n": -1},
        {"query": "shipping", "language": "fr"},
        {"query": "ship\x01ping"},
    ],
    feedback=rate_helpful,
    seed=seed_entries,
    settings={"model": "bm25"},
)

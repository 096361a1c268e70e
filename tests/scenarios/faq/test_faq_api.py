"""The FAQ's own API on the embedded default: answers in both languages, the hand-off, the
purchase preference, feedback, refusals, the query log and what the admin does with it."""

import pytest
from django.urls import reverse

from engine.attribution import arm_stats
from engine.models import ModelVersion
from scenarios.faq.models import FaqEntry, QueryLog
from tests.engine.planted import configure

ENTRIES = (
    ("en-ship", "en", "shipping", "How long does shipping take?",
     ["When will my parcel arrive?", "How many days is delivery?", "shipping time"],
     "Three to five working days."),
    ("en-return", "en", "returns", "How do I return an order?",
     ["Can I send an item back?", "return a product", "how to make a return"],
     "From your orders page, within 30 days."),
    ("en-battery", "en", "product", "How long does the phone battery last?",
     ["phone battery life", "how many hours does the phone battery hold", "battery of the phone"],
     "About two days of normal use."),
    ("en-screen", "en", "product", "Is the phone screen scratch resistant?",
     ["phone screen scratches", "does the phone screen break easily", "screen of the phone"],
     "It has hardened glass."),
    ("zh-ship", "zh", "shipping", "发货需要多长时间？",
     ["我的包裹什么时候到", "快递几天能到", "配送要几天"],
     "一般三到五个工作日送达。"),
    ("zh-return", "zh", "returns", "怎么申请退货？",
     ["我想退货", "商品可以退吗", "退货流程是什么"],
     "在订单页面申请，30天内可退。"),
)  # fmt: skip


@pytest.fixture
def entries(store):
    made = {}
    for key, language, category, question, paraphrases, answer in ENTRIES:
        made[key] = FaqEntry.objects.create(
            key=key,
            language=language,
            category=category,
            question=question,
            paraphrases=paraphrases,
            answer=answer,
        )
    return made


@pytest.fixture
def trained(entries, django_capture_on_commit_callbacks):
    from engine.versions import request_training

    configure("faq", model="bm25", handoff_below=0.2)
    with django_capture_on_commit_callbacks(execute=True):
        version = request_training("faq", triggered_by="test")
    version.refresh_from_db()
    assert version.status == "promoted", version.error
    return version


def ask(client, query, **fields):
    return client.post("/api/v1/faq/answer", {"query": query, "user_id": "p1", **fields}, "json")


def fields_named(response) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


def test_an_english_question_gets_its_entry_first(trained, read_client):
    response = ask(read_client, "how many days until my parcel is delivered")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["answers"][0]["faq_id"] == "en-ship"
    assert set(body["answers"][0]) == {"faq_id", "question", "answer", "score"}
    assert body["answers"][0]["answer"] == "Three to five working days."
    assert body["handoff"] is False and body["language"] == "en"
    assert body["model_version"] == trained.pk
    assert body["recommendation_id"].startswith(f"faq.{trained.pk}.")


def test_a_chinese_question_without_spaces_is_answered_in_chinese(trained, read_client):
    body = ask(read_client, "请问退货怎么操作").json()
    assert body["language"] == "zh"
    assert body["answers"][0]["faq_id"] == "zh-return"
    assert all(answer["faq_id"].startswith("zh-") for answer in body["answers"])


def test_the_language_given_picks_the_entries(trained, read_client):
    body = ask(read_client, "shipping 快递几天能到", language="zh").json()
    assert body["answers"] and all(a["faq_id"].startswith("zh-") for a in body["answers"])


def test_under_the_threshold_it_hands_off_and_still_guesses(trained, read_client):
    configure("faq", handoff_below=0.99)  # a request-time setting: applies at once
    body = ask(read_client, "how long does it take").json()  # shipping or battery?
    assert body["handoff"] is True
    assert {a["faq_id"] for a in body["answers"][:2]} == {"en-ship", "en-battery"}
    assert body["confidence"] < 0.99


def test_an_unsupported_script_is_handed_off(trained, read_client):
    response = ask(read_client, "Когда придёт мой заказ?")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["handoff"] is True and body["language"] == "other" and body["answers"] == []


def test_close_answers_linked_to_a_recent_purchase_go_first(trained, read_client, store):
    # p1 bought phone-1 (the planted store); b1 bought books only
    configure("faq", purchase_margin=1.0)
    FaqEntry.objects.get(key="en-screen").linked_items.add(store["phone-1"])
    for_buyer = ask(read_client, "phone battery screen", n=2).json()["answers"]
    for_other = ask(read_client, "phone battery screen", n=2, user_id="b1").json()["answers"]
    assert for_buyer[0]["faq_id"] == "en-screen"
    assert {a["faq_id"] for a in for_other} == {"en-screen", "en-battery"}
    configure("faq", purchase_margin=0.0)
    assert ask(read_client, "phone battery screen", n=2).json()["answers"] == for_other


def test_every_answer_is_logged_and_feedback_is_attributed(trained, read_client, write_client):
    body = ask(read_client, "return a product").json()
    log = QueryLog.objects.get(recommendation_id=body["recommendation_id"])
    assert log.chosen_entry.key == "en-return" and log.user.external_id == "p1"
    assert log.handed_off is False and log.helpful is None
    response = write_client.post(
        "/api/v1/faq/feedback",
        {"recommendation_id": body["recommendation_id"], "helpful": True},
        "json",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "recommendation_id": body["recommendation_id"],
        "helpful": True,
        "faq_id": "en-return",
    }
    log.refresh_from_db()
    assert log.helpful is True and log.feedback_at is not None
    stats = arm_stats("faq", trained.pk, "")
    assert stats["conversions"] == 1 and stats["clicks"] == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"query": "", "user_id": "p1"}, "query"),
        ({"query": "   \n ", "user_id": "p1"}, "query"),
        ({"query": "x" * 1001, "user_id": "p1"}, "query"),
        ({"query": "ship " * 120, "user_id": "p1"}, "query"),  # over max_query_length (500)
        ({"query": "ship\x07ping", "user_id": "p1"}, "query"),
        ({"query": "shipping", "user_id": "p1", "language": "fr"}, "language"),
        ({"query": "shipping"}, "user_id"),
        ({"query": "shipping", "user_id": "p1", "n": 0}, "n"),
    ],
)
def test_bad_questions_are_refused_with_a_400_naming_the_field(trained, read_client, body, field):
    response = read_client.post("/api/v1/faq/answer", body, "json")
    assert response.status_code == 400, response.content
    assert field in fields_named(response)
    assert not QueryLog.objects.exists()


@pytest.mark.parametrize(
    "recommendation_id",
    [
        "nonsense",
        "products.1.n.0123456789abcdef0123456789abcdef",  # another scenario's
        "faq.1.n.0123456789abcdef0123456789abcdef",  # well formed, never issued
    ],
)
def test_feedback_on_an_unknown_recommendation_is_a_400(trained, write_client, recommendation_id):
    response = write_client.post(
        "/api/v1/faq/feedback", {"recommendation_id": recommendation_id, "helpful": True}, "json"
    )
    assert response.status_code == 400, response.content
    assert fields_named(response) == ["recommendation_id"]


def test_a_nul_byte_is_refused_before_it_reaches_the_log(trained, read_client):
    response = read_client.post(
        "/api/v1/faq/answer", {"query": "ship\x00ping", "user_id": "p1"}, "json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["detail"]
    assert not QueryLog.objects.exists()


def test_feedback_needs_the_write_scope(trained, read_client):
    body = ask(read_client, "shipping time").json()
    response = read_client.post(
        "/api/v1/faq/feedback", {"recommendation_id": body["recommendation_id"], "helpful": 1}
    )
    assert response.status_code == 403


def test_untrained_it_answers_from_the_live_entries(entries, read_client):
    body = ask(read_client, "快递几天能到").json()
    assert body["fallback"] is True and body["model_version"] is None
    assert body["answers"][0]["faq_id"] == "zh-ship"


def test_a_deactivated_entry_is_never_shown(trained, read_client):
    FaqEntry.objects.filter(key="en-ship").update(is_active=False)
    body = ask(read_client, "shipping time").json()
    assert "en-ship" not in [a["faq_id"] for a in body["answers"]]


def test_saving_entries_queues_one_training(entries):
    queued = ModelVersion.objects.filter(scenario="faq", status="queued")
    assert queued.count() == 1  # six entries created, one run to read them all
    FaqEntry.objects.filter(key="en-ship").first().save()
    assert queued.count() == 1
    queued.delete()
    configure("faq", retrain_on_change=False)
    FaqEntry.objects.get(key="en-ship").save()
    assert not queued.exists()


def test_the_admin_attaches_a_query_as_a_paraphrase(trained, read_client, admin_client):
    body = ask(read_client, "what does delivery cost to the moon").json()
    log = QueryLog.objects.get(recommendation_id=body["recommendation_id"])
    log.label_entry = FaqEntry.objects.get(key="en-ship")
    log.save()
    ModelVersion.objects.filter(scenario="faq", status="queued").delete()
    response = admin_client.post(
        reverse("admin:faq_querylog_changelist"),
        {"action": "attach_as_paraphrase", "_selected_action": [log.pk]},
    )
    assert response.status_code == 302
    entry = FaqEntry.objects.get(key="en-ship")
    assert entry.paraphrases[-1] == "what does delivery cost to the moon"
    log.refresh_from_db()
    assert log.attached is True
    assert ModelVersion.objects.filter(scenario="faq", status="queued").count() == 1


def test_the_admin_lists_queries_needing_attention_and_charts_them(
    trained, read_client, admin_client
):
    ask(read_client, "Когда придёт мой заказ?")
    ask(read_client, "shipping time")
    page = admin_client.get(reverse("admin:faq_querylog_changelist"), {"attention": "unanswered"})
    assert page.status_code == 200
    assert "Когда придёт мой заказ?" in page.content.decode()
    assert "shipping time" not in page.content.decode()
    chart = admin_client.get(reverse("admin:faq_querylog_daily"))
    assert chart.status_code == 200 and chart["Content-Type"] == "image/png"
    assert chart.content.startswith(b"\x89PNG")
    entry = FaqEntry.objects.get(key="en-ship")
    edit = admin_client.get(reverse("admin:faq_faqentry_change", args=[entry.pk]))
    assert edit.status_code == 200 and "When will my parcel arrive?\nHow many days" in (
        edit.content.decode()
    )


def test_the_daily_rates_count_answers_helpfulness_and_handoffs(trained, read_client):
    from scenarios.faq.charts import daily_rates

    answered = ask(read_client, "shipping time").json()
    ask(read_client, "Когда придёт мой заказ?")
    QueryLog.objects.filter(recommendation_id=answered["recommendation_id"]).update(helpful=False)
    (day,) = daily_rates()
    assert day["queries"] == 2
    assert day["answer_rate"] == 50 and day["handoff_rate"] == 50 and day["helpful_rate"] == 0


def test_the_openapi_schema_documents_both_endpoints_and_validates(db):
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)  # what `manage.py spectacular --validate` checks
    answer = schema["paths"]["/api/v1/faq/answer"]["post"]
    assert {"200", "400", "401", "429"} <= set(answer["responses"])
    body = schema["components"]["schemas"]["FaqAnswer"]["properties"]
    assert {"recommendation_id", "answers", "handoff"} <= set(body)
    feedback = schema["paths"]["/api/v1/faq/feedback"]["post"]
    assert feedback["requestBody"]["required"] and "400" in feedback["responses"]

"""The query log row and the filter stage's read, written as SQL of their own (the serving fast
path): the same row the ORM would write, on SQLite and on PostgreSQL."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import User
from scenarios.faq.models import FaqEntry, QueryLog
from scenarios.faq.scenario import active_entry_texts, write_query_log


@pytest.fixture
def entries(db):
    return [
        FaqEntry.objects.create(
            key=f"en-{n}", language="en", category="shipping", question=f"question {n}",
            answer=f"answer {n}", is_active=n != 2,
        )
        for n in range(3)
    ]  # fmt: skip


def log(**fields):
    values = {
        "text": "where is my parcel",
        "user_id": "p1",
        "language": "en",
        "entry_key": "en-1",
        "confidence": 0.75,
        "handed_off": False,
        "recommendation_id": "faq.1.n.abc",
        **fields,
    }
    write_query_log(**values)
    return QueryLog.objects.get(recommendation_id=values["recommendation_id"])


def test_the_row_names_the_shopper_and_the_entry_by_their_ids(entries):
    shopper = User.objects.create(external_id="p1")
    before = datetime.datetime.now(datetime.UTC)
    row = log()
    assert (row.user_id, row.chosen_entry_id) == (shopper.pk, entries[1].pk)
    assert (row.text, row.language, row.confidence) == ("where is my parcel", "en", 0.75)
    assert row.handed_off is False and row.attached is False
    assert row.helpful is None and row.feedback_at is None and row.label_entry is None
    assert before <= row.created_at <= datetime.datetime.now(datetime.UTC)


def test_an_unknown_shopper_and_no_answer_are_nulls(entries):
    row = log(user_id="nobody", entry_key=None, handed_off=True, language="other")
    assert row.user_id is None and row.chosen_entry_id is None and row.handed_off is True
    assert log(user_id=None, recommendation_id="faq.1.n.def").user_id is None


def test_a_recommendation_id_is_logged_once(entries):
    log()
    with pytest.raises(Exception, match="(?i)unique"):
        log()


def test_the_filter_read_keeps_active_entries_only(entries):
    assert active_entry_texts(["en-2", "en-0", "en-9", "en-0"]) == {
        "en-0": ("question 0", "answer 0")
    }
    assert active_entry_texts([]) == {}


def on_postgresql(test):
    needs = pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs DATABASE_URL pointing at PostgreSQL (make test-integration)",
    )
    return pytest.mark.integration(needs(test))


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_the_log_write_alone_skips_the_flush_wait():
    entry = FaqEntry.objects.create(key="en-1", language="en", category="shipping", question="q")
    User.objects.create(external_id="p1")
    with CaptureQueriesContext(connection) as queries:
        assert log().chosen_entry_id == entry.pk
    assert "SET LOCAL synchronous_commit TO OFF" in [q["sql"] for q in queries]
    assert synchronous_commit() == "on"  # the connection's other writes still wait


@on_postgresql
def test_on_postgresql_a_callers_transaction_keeps_its_durability(entries):
    log()  # the test runs in a transaction of its own
    assert synchronous_commit() == "on"

"""``manage.py import_dataset``: real shared datasets, tiny hand-made files, idempotent re-import."""

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.management.commands.import_dataset import movielens_age_band
from catalog.models import EventType, Interaction, Item, User
from catalog.signals import events_ingested
from catalog.tasks import import_dataset as import_dataset_task
from ml.datasets.common import dataset_path

pytestmark = pytest.mark.django_db


def run_import(*args, **options) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command(
        "import_dataset", *map(str, args), no_progress=True, stdout=stdout, stderr=stderr, **options
    )
    return stdout.getvalue().strip(), stderr.getvalue()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def movielens_dir(tmp_path) -> Path:
    """Three ratings in the 100K layout, the last line cut mid-row (no newline)."""
    folder = tmp_path / "ml-tiny"
    folder.mkdir()
    write(folder / "u.data", "1\t10\t5\t874965758\n1\t20\t3\t876893171\n2\t10\t4\t878542960\n3\t2")
    write(folder / "u.genre", "unknown|0\nAction|1\nComedy|2\n")
    write(
        folder / "u.item",
        "10|Heat (1995)|01-Jan-1995||http://x|0|1|0\n20|Clerks (1994)|01-Jan-1994||http://y|0|0|1\n",
    )
    write(folder / "u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n")
    return folder


def test_movielens_100k_tiny_with_truncated_last_line(movielens_dir):
    out, err = run_import("movielens", movielens_dir)
    assert out == (
        "Imported 3 events (0 duplicates skipped) for 2 users and 2 items; "
        "1 malformed line(s) skipped."
    )
    assert "'3\\t2'" in err
    assert Interaction.objects.count() == 3
    rating = Interaction.objects.get(user__external_id="1", item__external_id="20")
    assert (rating.event_type, rating.value) == ("rating", 3.0)
    assert rating.timestamp == datetime.fromtimestamp(876893171, UTC)
    assert rating.event_id.startswith("import:movielens:")
    heat = Item.objects.get(external_id="10")
    assert (heat.kind, heat.title, heat.category, heat.tags) == (
        "product",
        "Heat (1995)",
        "movies/action",
        ["Action"],
    )
    user = User.objects.get(external_id="2")
    assert (user.age_band, user.gender, user.location) == ("45-54", "female", "94043")
    assert user.attributes == {"occupation": "other"}


def test_import_leaves_planner_statistics_for_the_catalog_tables(movielens_dir):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("reads SQLite's sqlite_stat1; PostgreSQL keeps its statistics in pg_stats")
    run_import("movielens", movielens_dir)
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tbl FROM sqlite_stat1")
        analyzed = {row[0] for row in cursor.fetchall()}
    assert {"catalog_interaction", "catalog_user", "catalog_item"} <= analyzed


def test_import_announces_new_events_so_cached_lists_are_refreshed(
    movielens_dir, django_capture_on_commit_callbacks
):
    received = []

    def receiver(sender, user_ids, item_ids, count, **kwargs):
        received.append((sorted(user_ids), sorted(item_ids), count))

    events_ingested.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run_import("movielens", movielens_dir)
        with django_capture_on_commit_callbacks(execute=True):
            run_import("movielens", movielens_dir)  # nothing new: nothing to announce
    finally:
        events_ingested.disconnect(receiver)
    assert received == [(["1", "2"], ["10", "20"], 3)]


def test_reimport_is_idempotent_and_counts_duplicates(movielens_dir):
    run_import("movielens", movielens_dir)
    out, _ = run_import("movielens", movielens_dir)
    assert out.startswith("Imported 0 events (3 duplicates skipped)")
    assert Interaction.objects.count() == 3
    assert User.objects.count() == 2 and Item.objects.count() == 2


def test_import_fills_attributes_of_users_created_earlier_by_events(movielens_dir):
    User.objects.create(external_id="1")
    run_import("movielens", movielens_dir)
    assert User.objects.get(external_id="1").age_band == "18-24"


def test_movielens_1m_format(tmp_path):
    write(tmp_path / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n")
    write(
        tmp_path / "movies.dat",
        "1193::Cuckoo's Nest (1975)::Drama\n661::Giant Peach::Animation|Musical\n",
    )
    write(tmp_path / "users.dat", "1::F::1::10::48067\n")
    out, _ = run_import("movielens", tmp_path)
    assert out.startswith("Imported 2 events (0 duplicates skipped) for 1 users and 2 items")
    assert Item.objects.get(external_id="661").category == "movies/animation"
    assert User.objects.get(external_id="1").age_band == "under-18"


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (1, "under-18"),
        (17, "under-18"),
        (18, "18-24"),
        (25, "25-34"),
        (44, "35-44"),
        (50, "45-54"),
        (56, "55+"),
    ],
)
def test_movielens_age_bands(age, band):
    assert movielens_age_band(age) == band


REES46_HEADER = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
)


def test_rees46_tiny_maps_event_types_products_and_sessions(tmp_path):
    path = write(
        tmp_path / "events.csv",
        REES46_HEADER
        + "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,s-1\n"
        + "2019-10-01 00:00:05 UTC,cart,3900821,2053013552326770905,appliances.environment.water_heater,aqua,33.20,554748717,s-2\n"
        + "2019-10-01 00:00:09 UTC,purchase,3900821,2053013552326770905,appliances.environment.water_heater,aqua,31.50,554748717,s-2\n"
        + "2019-10-01 00:00:10 UTC,remove_from_cart,3900821,2053013552326770905,appliances.environment.water_heater,aqua,31.50,554748717,s-2\n"
        + "2019-10-01 00:00:11 UTC,view,17200506,2053013559792632471,furniture.living_room.sofa,,543.10,5193",
    )
    out, err = run_import("rees46", path)
    assert out == (
        "Imported 4 events (0 duplicates skipped) for 2 users and 2 items; "
        "1 malformed line(s) skipped."
    )
    assert "1 row(s)" in err
    assert sorted(Interaction.objects.values_list("event_type", flat=True)) == [
        "add_to_cart",
        "purchase",
        "remove_from_cart",
        "view",
    ]
    assert EventType.objects.get(name="remove_from_cart").is_positive is False
    heater = Item.objects.get(external_id="3900821")
    assert heater.category == "appliances/environment/water_heater"
    assert heater.price == Decimal("31.50")  # the last price seen
    assert heater.title == "Aqua water heater"
    assert heater.attributes == {"category_id": "2053013552326770905", "brand": "aqua"}
    purchase = Interaction.objects.get(event_type="purchase")
    assert purchase.context == {"session": "s-2", "price": 31.5}
    assert purchase.value is None
    assert Item.objects.get(external_id="44600062").category == ""


def test_generic_csv_with_truncated_last_line_and_default_type(tmp_path):
    path = write(tmp_path / "events.csv", "user_id,item_id,value\nu1,i1,2\nu1,i1,2\nu2,i2,1\nu3")
    out, err = run_import("csv", path, event_type="purchase")
    assert out == (
        "Imported 3 events (0 duplicates skipped) for 2 users and 2 items; "
        "1 malformed line(s) skipped."
    )
    assert "'u3'" in err
    # Two identical rows are two purchases, not one event seen twice.
    assert Interaction.objects.filter(user__external_id="u1", event_type="purchase").count() == 2
    out, _ = run_import("csv", path, event_type="purchase")
    assert "Imported 0 events (3 duplicates skipped)" in out


def test_complete_last_line_without_newline_is_kept(tmp_path):
    path = write(tmp_path / "events.csv", "user_id,item_id\nu1,i1\nu2,i2")
    out, err = run_import("csv", path)
    assert out.startswith("Imported 2 events") and out.endswith("0 malformed line(s) skipped.")
    assert err == ""


def test_generic_csv_with_timestamps_and_types(tmp_path):
    path = write(
        tmp_path / "events.csv",
        "user_id,item_id,timestamp,event_type\nu1,i1,2024-05-01T12:00:00Z,click\nu1,i2,1714564800,like\n",
    )
    run_import("csv", path)
    stamps = dict(Interaction.objects.values_list("event_type", "timestamp"))
    assert stamps == {
        "click": datetime(2024, 5, 1, 12, tzinfo=UTC),
        "like": datetime(2024, 5, 1, 12, tzinfo=UTC),
    }


def test_unknown_event_type_is_refused_and_nothing_written(tmp_path):
    path = write(tmp_path / "events.csv", "user_id,item_id,event_type\nu1,i1,teleport\n")
    with pytest.raises(CommandError, match="unknown event type.*teleport"):
        run_import("csv", path)
    assert not User.objects.exists() and not Interaction.objects.exists()


def test_malformed_row_in_the_middle_is_a_clear_error(tmp_path):
    path = write(tmp_path / "events.csv", "user_id,item_id,value\nu1,i1,abc\nu2,i2,1\n")
    with pytest.raises(CommandError, match="line 2"):
        run_import("csv", path)


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        run_import("csv", tmp_path / "nope.csv")


def test_background_task_runs_the_same_import(tmp_path):
    path = write(tmp_path / "events.csv", "user_id,item_id\nu1,i1\nu2,i1\n")
    summary = import_dataset_task.delay("csv", str(path)).get()
    assert summary.startswith("Imported 2 events")
    assert Interaction.objects.filter(event_type="view").count() == 2


def require(name: str) -> Path:
    folder = dataset_path(name)
    if not folder.is_dir():
        pytest.skip(f"shared dataset {name} not found at {folder} (set RECO_DATA_DIR)")
    return folder


@pytest.mark.slow
def test_movielens_100k_shared_dataset():
    folder = require("movielens-100k")
    out, _ = run_import("movielens", folder)
    assert out == (
        "Imported 100000 events (0 duplicates skipped) for 943 users and 1682 items; "
        "0 malformed line(s) skipped."
    )
    assert Interaction.objects.filter(event_type="rating").count() == 100_000
    assert Item.objects.get(external_id="1").title == "Toy Story (1995)"
    assert User.objects.exclude(age_band="").count() == 943


@pytest.mark.slow
def test_rees46_shared_sample_skips_its_cut_last_row_and_reimports_as_duplicates():
    folder = require("rees46-ecommerce-events-sample")
    out, _ = run_import("rees46", folder)
    # README: 17,434 complete rows (view 17,055, cart 165, purchase 214), 4,504 users,
    # 6,493 products, and one row cut mid-way at the end.
    assert out == (
        "Imported 17434 events (0 duplicates skipped) for 4504 users and 6493 items; "
        "1 malformed line(s) skipped."
    )
    counts = {
        t: Interaction.objects.filter(event_type=t).count()
        for t in ("view", "add_to_cart", "purchase")
    }
    assert counts == {"view": 17055, "add_to_cart": 165, "purchase": 214}
    out, _ = run_import("rees46", folder)
    assert out.startswith("Imported 0 events (17434 duplicates skipped)")

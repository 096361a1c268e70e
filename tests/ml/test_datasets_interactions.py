"""Interaction loaders: MovieLens, REES46 and the generic CSV, on real data and tiny files."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pytest

from ml.datasets.interactions_csv import load_interactions_csv, parse_timestamp
from ml.datasets.movielens import load_movielens_1m, load_movielens_100k
from ml.datasets.rees46 import load_rees46

REES46_HEADER = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
)


def test_movielens_100k_matches_its_readme(shared_data):
    data = load_movielens_100k(shared_data("movielens-100k"))
    log = data.interactions
    assert len(log) == 100_000
    assert len(set(log.user_ids)) == 943 and len(set(log.item_ids)) == 1682
    assert (log.user_ids[0], log.item_ids[0], log.values[0], log.timestamps[0]) == (
        "196",
        "242",
        3.0,
        881250949,
    )
    assert min(Counter(log.user_ids).values()) >= 20
    assert data.items.genres.shape == (1682, 19)
    assert data.items.titles[0] == "Toy Story (1995)"
    # Toy Story: Animation, Children's, Comedy.
    genres = [data.items.genre_names[i] for i in np.flatnonzero(data.items.genres[0])]
    assert genres == ["Animation", "Children's", "Comedy"]
    assert "Misérables, Les (1995)" in data.items.titles.tolist()  # latin-1 decoded
    assert (data.users.ids[0], data.users.ages[0], data.users.genders[0]) == ("1", 24, "M")
    assert data.users.occupations[0] == "technician"


def test_movielens_100k_from_tiny_files(tmp_path):
    (tmp_path / "u.data").write_text("1\t10\t4\t100\n2\t10\t5\t200\n")
    data = load_movielens_100k(tmp_path)
    assert data.interactions.values.tolist() == [4.0, 5.0]
    assert data.items is None and data.users is None
    (tmp_path / "u.data").write_text("1\t10\t4\n")
    with pytest.raises(ValueError, match="line 1 has 3 fields"):
        load_movielens_100k(tmp_path)
    with pytest.raises(FileNotFoundError, match="ratings"):
        load_movielens_100k(tmp_path / "absent")


def test_movielens_1m_format(tmp_path):
    (tmp_path / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n")
    (tmp_path / "movies.dat").write_bytes(
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::Amélie (2001)::Comedy|Romance\n".encode("latin-1")
    )
    (tmp_path / "users.dat").write_text("1::F::1::10::48067\n")
    data = load_movielens_1m(tmp_path)
    assert data.interactions.item_ids.tolist() == ["1193", "661"]
    assert data.interactions.timestamps.tolist() == [978300760, 978302109]
    assert data.items.genre_names == ("Comedy", "Drama", "Romance")
    assert data.items.genres.tolist() == [[0, 1, 0], [1, 0, 1]]
    assert data.items.titles[1] == "Amélie (2001)"
    assert (data.users.genders[0], data.users.ages[0], data.users.occupations[0]) == ("F", 1, "10")


def test_rees46_sample_skips_the_truncated_last_row(shared_data, caplog):
    with caplog.at_level(logging.WARNING, logger="ml.datasets.rees46"):
        data = load_rees46(shared_data("rees46-ecommerce-events-sample"))
    assert data.skipped_rows == 1
    assert "skipped 1 malformed row" in caplog.text
    log = data.interactions
    assert len(log) == 17_434
    assert Counter(log.event_types.tolist()) == {"view": 17_055, "cart": 165, "purchase": 214}
    assert len(set(log.user_ids)) == 4_504 and len(data.products.ids) == 6_493
    assert log.timestamps[0] == 1569888000  # 2019-10-01 00:00:00 UTC
    assert (log.item_ids[0], log.user_ids[0], log.extra["price"][0]) == (
        "44600062",
        "541312140",
        pytest.approx(35.79),
    )


def test_rees46_tiny_file_weights_products_and_truncation(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        REES46_HEADER
        + "2019-10-01 00:00:00 UTC,view,7,100,electronics.smartphone,acme,10.00,1,s1\n"
        + "2019-10-01 00:00:05 UTC,purchase,7,100,electronics.smartphone,acme,9.50,1,s1\n"
        + "2019-10-01 00:00:09 UTC,cart,8,200,,,3.25,2,s2\n"
        + "2019-10-01 00:00:10 UTC,view,9,300,,bra"
    )
    data = load_rees46(path)
    assert data.skipped_rows == 1
    assert data.interactions.values.tolist() == [1.0, 4.0, 2.0]
    assert data.interactions.timestamps.tolist() == [1569888000, 1569888005, 1569888009]
    assert data.interactions.extra["session"].tolist() == ["s1", "s1", "s2"]
    assert data.products.ids.tolist() == ["7", "8"]
    assert data.products.prices.tolist() == pytest.approx([9.5, 3.25])  # last seen price
    assert data.products.category_codes.tolist() == ["electronics.smartphone", ""]
    reweighted = load_rees46(path, event_weights={"view": 0.5, "purchase": 1.0})
    assert reweighted.interactions.values.tolist() == [0.5, 1.0, 1.0]


def test_rees46_refuses_missing_columns_and_empty_files(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("event_time,event_type,product_id\n2019-10-01 00:00:00 UTC,view,7\n")
    with pytest.raises(ValueError, match="missing columns"):
        load_rees46(path)
    path.write_text(REES46_HEADER + "not a date,view,7,100,,,1.0,1,s1\n")
    with pytest.raises(ValueError, match="no complete event rows"):
        load_rees46(path)


def test_generic_csv_with_all_columns(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        "timestamp,user_id,item_id,value,event_type\n"
        "1700000000,alice,book,2.5,purchase\n"
        "2023-11-14T22:13:21,bob,pen,1,view\n"
    )
    log = load_interactions_csv(path)
    assert log.user_ids.tolist() == ["alice", "bob"]
    assert log.values.tolist() == [2.5, 1.0]
    assert log.timestamps.tolist() == [1700000000, 1700000001]
    assert log.event_types.tolist() == ["purchase", "view"]


def test_generic_csv_minimal_columns_default_to_implicit_feedback(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id\nu1,i1\nu1,i2\n")
    log = load_interactions_csv(path)
    assert log.values.tolist() == [1.0, 1.0]
    assert log.timestamps.tolist() == [0, 0]
    assert log.event_types is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("user,item\nu1,i1\n", "missing required column"),
        ("user_id,item_id,value\nu1,i1,abc\n", "line 2"),
        ("user_id,item_id,value\nu1,i1,nan\n", "finite"),
        ("user_id,item_id,timestamp\nu1,i1,yesterday\n", "ISO 8601"),
        ("user_id,item_id\nu1,i1\nu2\n", "line 3 has 1 fields"),
        ("user_id,item_id\nu1,\n", "empty user or item"),
        ("user_id,item_id\n", "no interactions"),
        ("", "missing required column"),
    ],
)
def test_generic_csv_refuses_malformed_files(tmp_path, content, message):
    path = tmp_path / "log.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_interactions_csv(path)


def test_parse_timestamp_reads_timezones():
    assert parse_timestamp("1970-01-01T01:00:00+01:00") == 0
    assert parse_timestamp("2019-10-01 00:00:00 UTC") == 1569888000

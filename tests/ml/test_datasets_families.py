"""Loaders of the non-top-N families: real shared data (skipped when absent) and small
hand-written files for the parsing edge cases."""

import numpy as np
import pytest

from ml.datasets.banking77 import load_banking77, read_intent_csv
from ml.datasets.common import dataset_path
from ml.datasets.criteo import load_criteo, load_criteo_tiny
from ml.datasets.hillstrom import load_hillstrom, read_hillstrom
from ml.datasets.snap import load_ego_facebook, read_edge_list
from ml.datasets.stackfaq import load_stackfaq, read_stackfaq


def needs(name):
    return pytest.mark.skipif(
        not dataset_path(name).is_dir(),
        reason=f"shared dataset {name} not found at {dataset_path(name)}",
    )


@needs("criteo-kaggle-dac-tiny")
def test_criteo_tiny_matches_readme():
    train = load_criteo_tiny("train")
    assert len(train) == 1999 and int(train.labels.sum()) == 418
    assert train.numeric.shape == (1999, 13) and train.categorical.shape == (1999, 26)
    # first row of Criteo's train.txt: I1..I3 = 1, 1, 5 and I12 missing; C1 = 68fd1e64
    np.testing.assert_array_equal(train.numeric[0, :3], [1, 1, 5])
    assert np.isnan(train.numeric[0, 11]) and train.categorical[0, 0] == "68fd1e64"
    assert train.categorical[0, 21] == ""  # C22 is empty in that row
    test = load_criteo_tiny("test")
    assert test.labels is None and len(test) == 1999


def test_criteo_tsv_without_header(tmp_path):
    row = ["1", *["3"] * 12, "", *["ab"] * 25, ""]
    (tmp_path / "t.txt").write_text("\t".join(row) + "\n")
    data = load_criteo(tmp_path / "t.txt")
    assert data.labels.tolist() == [1] and np.isnan(data.numeric[0, 12])
    assert data.categorical[0, 0] == "ab" and data.categorical[0, 25] == ""


def test_criteo_malformed_rows_are_refused(tmp_path):
    header = (
        "Id,Label,"
        + ",".join(f"I{i}" for i in range(1, 14))
        + ","
        + ",".join(f"C{i}" for i in range(1, 27))
    )
    (tmp_path / "short.csv").write_text(header + "\n1,0,2\n")
    with pytest.raises(ValueError, match="row 1 has 3 fields"):
        load_criteo(tmp_path / "short.csv")
    (tmp_path / "cols.csv").write_text("Id,Label,I1\n1,0,2\n")
    with pytest.raises(ValueError, match="missing columns"):
        load_criteo(tmp_path / "cols.csv")
    with pytest.raises(ValueError, match="split"):
        load_criteo_tiny("valid")


@needs("banking77")
def test_banking77_official_split():
    data = load_banking77()
    assert len(data.train_texts) == 10003 and len(data.test_texts) == 3080
    assert len(data.categories) == 77 and set(data.test_labels) == set(data.categories)
    assert data.train_labels[0] == "card_arrival"


def test_intent_csv_keeps_quoted_newlines_and_refuses_bad_header(tmp_path):
    (tmp_path / "ok.csv").write_text('text,category\n"two\nlines, here",a\nplain,b\n')
    texts, labels = read_intent_csv(tmp_path / "ok.csv")
    assert texts == ["two\nlines, here", "plain"] and labels == ["a", "b"]
    (tmp_path / "bad.csv").write_text("query,label\nx,y\n")
    with pytest.raises(ValueError, match="'text' and 'category'"):
        read_intent_csv(tmp_path / "bad.csv")


@needs("stackfaq")
def test_stackfaq_counts_match_readme():
    threads = load_stackfaq()
    assert len(threads) == 125
    assert sum(len(t.answers) for t in threads) == 719
    assert all("*" not in t.paraphrases for t in threads)
    assert threads[0].paraphrases[0] == "How to make font strikethrough on github."


def test_stackfaq_drops_separator_and_unescapes(tmp_path):
    (tmp_path / "f.xml").write_text(
        "<root><qapair><rephr> a &lt;s&gt; tag </rephr><rephr>*</rephr>"
        "<question> Q? </question><answer> A1 </answer><answer>A2</answer></qapair></root>"
    )
    (thread,) = read_stackfaq(tmp_path / "f.xml")
    assert thread.paraphrases == ["a <s> tag"] and thread.question == "Q?"
    assert thread.answers == ["A1", "A2"]
    (tmp_path / "bad.xml").write_text("<root><qapair>")
    with pytest.raises(ValueError, match="not valid XML"):
        read_stackfaq(tmp_path / "bad.xml")


@needs("hillstrom-email-uplift")
def test_hillstrom_published_visit_rates():
    data = load_hillstrom()
    assert data.features.shape == (64000, 11)
    womens = data.arm("Womens E-Mail", "visit")
    assert len(womens.outcome) == 21387 + 21306
    assert womens.outcome[womens.treatment == 1].mean() == pytest.approx(0.1514, abs=5e-4)
    assert womens.outcome[womens.treatment == 0].mean() == pytest.approx(0.1062, abs=5e-4)
    with pytest.raises(ValueError, match="arm must be"):
        data.arm("Kids E-Mail")


def test_hillstrom_encoding_and_bad_rows(tmp_path):
    header = "recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,visit,conversion,spend\n"
    (tmp_path / "h.csv").write_text(
        header + '3,"1) $0 - $100",0,1,0,Rural,1,Web,Mens E-Mail,1,0,0\n'
    )
    data = read_hillstrom(tmp_path / "h.csv")
    np.testing.assert_allclose(data.features[0], [3, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0])
    (tmp_path / "bad.csv").write_text(header + "3,x,0,1,0,Moon,1,Web,Mens E-Mail,1,0,0\n")
    with pytest.raises(ValueError, match="row 1: unknown zip_code 'Moon'"):
        read_hillstrom(tmp_path / "bad.csv")


@needs("snap-ego-facebook")
def test_ego_facebook_matches_snap_statistics():
    edges = load_ego_facebook()
    assert edges.shape == (88234, 2)
    assert len(np.unique(edges)) == 4039 and (edges[:, 0] < edges[:, 1]).all()


def test_edge_list_merges_duplicates_and_drops_self_loops(tmp_path):
    (tmp_path / "e.txt").write_text("# comment\n1 2\n2 1\n3 3\n4\t0\n")
    np.testing.assert_array_equal(read_edge_list(tmp_path / "e.txt"), [[0, 4], [1, 2]])
    (tmp_path / "bad.txt").write_text("1 x\n")
    with pytest.raises(ValueError, match="line 1 has non-integer"):
        read_edge_list(tmp_path / "bad.txt")

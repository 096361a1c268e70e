"""manage.py import_follows: an edge list into follows, all or nothing, nothing twice."""

import io

import pytest
from django.core.management import CommandError, call_command

from catalog.models import User
from scenarios.social.models import Block, Follow


def run(path, *args):
    out = io.StringIO()
    call_command("import_follows", str(path), "--no-progress", *args, stdout=out)
    return out.getvalue()


def test_an_edge_list_becomes_follows_and_a_rerun_adds_nothing(store, tmp_path):
    path = tmp_path / "edges.txt"
    path.write_text("# follower followee\np1 p2\np1,p3\n\np2 p2\np1 p2\n")
    assert "2 follows added" in run(path)
    assert set(Follow.objects.values_list("follower__external_id", "followee__external_id")) == {
        ("p1", "p2"),
        ("p1", "p3"),
    }
    assert "0 follows added (2 existed already" in run(path)
    assert Follow.objects.count() == 2


def test_undirected_adds_both_ways_and_blocks_are_respected(store, tmp_path):
    Block.objects.create(
        blocker=User.objects.get(external_id="b1"), blocked=User.objects.get(external_id="b2")
    )
    path = tmp_path / "friends.txt"
    path.write_text("p1 p2\nb2 b1\n")
    message = run(path, "--undirected")
    assert "2 follows added" in message and "2 skipped across a block" in message
    assert Follow.objects.filter(follower__external_id="p2", followee__external_id="p1").exists()


def test_unknown_users_refuse_the_file_unless_created(store, tmp_path):
    path = tmp_path / "edges.txt"
    path.write_text("p1 new-1\nnew-2 p1\n")
    with pytest.raises(CommandError, match="2 user ids are not in the catalog"):
        run(path)
    assert not Follow.objects.exists() and not User.objects.filter(external_id="new-1").exists()
    assert "2 follows added" in run(path, "--create-users")
    assert User.objects.filter(external_id__in=["new-1", "new-2"]).count() == 2


def test_a_malformed_line_is_named(store, tmp_path):
    path = tmp_path / "edges.txt"
    path.write_text("p1 p2\np1 p2 p3\n")
    with pytest.raises(CommandError, match="line 2"):
        run(path)
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "missing.txt")

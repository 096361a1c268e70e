"""GET /api/v1/users/{user_id}/export: everything held about a user, by table."""

import pytest


@pytest.fixture
def shopper(write_client):
    write_client.put("/api/v1/users/alice", {"attributes": {"city": "Lyon"}}, format="json")
    events = [
        {"event_id": f"e{n}", "user_id": "alice", "item_id": f"i{n}", "type": "view"}
        for n in range(3)
    ]
    body = {"events": events, "create_missing_items": True}
    assert write_client.post("/api/v1/events", body, format="json").status_code < 300
    return "alice"


def test_the_export_holds_the_user_and_their_events_by_external_id(read_client, shopper):
    response = read_client.get(f"/api/v1/users/{shopper}/export")
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["user_id"] == "alice" and body["user"]["attributes"] == {"city": "Lyon"}
    events = body["tables"]["catalog.interaction"]
    assert sorted(row["event_id"] for row in events) == ["e0", "e1", "e2"]
    assert {row["user"] for row in events} == {"alice"}  # external ids, not primary keys
    assert {row["item"] for row in events} == {"i0", "i1", "i2"}


def test_an_unknown_or_erased_user_is_a_404(read_client, write_client, shopper):
    assert read_client.get("/api/v1/users/nobody/export").status_code == 404
    assert write_client.delete(f"/api/v1/users/{shopper}").status_code == 204
    response = read_client.get(f"/api/v1/users/{shopper}/export")
    assert response.status_code == 404 and "nothing is held" in response.json()["detail"]


def test_the_export_needs_a_key(api_client, shopper):
    assert api_client.get(f"/api/v1/users/{shopper}/export").status_code == 401

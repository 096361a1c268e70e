"""Admin pages for the catalog open, search and edit event weights in the list."""

from datetime import UTC, datetime

import pytest

from catalog.models import EventType, Interaction, Item, User


@pytest.mark.parametrize("model", ["user", "item", "eventtype", "interaction", "apikey"])
def test_changelists_and_add_forms_open(admin_client, model):
    assert admin_client.get(f"/admin/catalog/{model}/").status_code == 200
    assert admin_client.get(f"/admin/catalog/{model}/add/").status_code == 200


def test_item_search_and_interaction_date_drilldown(admin_client):
    phone = Item.objects.create(external_id="sku-1", title="Blue phone")
    Item.objects.create(external_id="sku-2", title="Red book")
    Interaction.objects.create(
        user=User.objects.create(external_id="u"),
        item=phone,
        event_type="view",
        timestamp=datetime(2024, 3, 5, tzinfo=UTC),
    )

    found = admin_client.get("/admin/catalog/item/", {"q": "phone"})
    by_month = admin_client.get(
        "/admin/catalog/interaction/", {"timestamp__year": 2024, "timestamp__month": 3}
    )

    assert [item.external_id for item in found.context["cl"].result_list] == ["sku-1"]
    assert by_month.context["cl"].result_count == 1


def test_event_weights_are_editable_in_the_list(admin_client):
    event_types = list(EventType.objects.order_by("name"))
    form = {
        "form-TOTAL_FORMS": len(event_types),
        "form-INITIAL_FORMS": len(event_types),
        "_save": "Save",
    }
    for index, event_type in enumerate(event_types):
        form[f"form-{index}-id"] = event_type.pk
        form[f"form-{index}-weight"] = 10.0 if event_type.name == "purchase" else event_type.weight
        if event_type.is_positive and event_type.name != "share":
            form[f"form-{index}-is_positive"] = "on"

    response = admin_client.post("/admin/catalog/eventtype/", form)

    assert response.status_code == 302
    assert EventType.objects.get(name="purchase").weight == 10.0
    assert EventType.objects.get(name="share").is_positive is False
    assert EventType.objects.get(name="view").is_positive is True

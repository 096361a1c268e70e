"""The demo shop in a real headless Chromium: what a person clicking through it sees and sends."""

import pytest

pytestmark = pytest.mark.slow

SCENARIO_SHELVES = {
    "products": "#for-you",
    "ads": "#home-ad",
    "content": "#feed",
    "social": "#people",
}


def shown(page, selector: str) -> list[str]:
    page.wait_for_selector(f"{selector} [data-item-id]")
    return page.locator(f"{selector} [data-item-id]").evaluate_all(
        "cards => cards.map(card => card.dataset.itemId)"
    )


def test_the_home_page_shows_every_scenario_for_a_demo_user(page, demo_shop):
    page.wait_for_selector("#user-select option[value='u00003']", state="attached")
    page.select_option("#user-select", "u00003")
    for scenario, shelf in SCENARIO_SHELVES.items():
        cards = page.locator(f"{shelf} [data-scenario='{scenario}'][data-item-id]")
        cards.first.wait_for()
        assert cards.count() >= 1, scenario
    products = shown(page, "#for-you")
    assert all(item.startswith("p") for item in products)  # products never answer with articles
    assert set(shown(page, "#feed")).isdisjoint(products)
    assert "u00003" not in shown(page, "#people")  # never yourself


def test_a_click_is_recorded_and_changes_the_next_view(page, demo_shop):
    page.wait_for_selector("#user-select option[value='u00007']", state="attached")
    page.select_option("#user-select", "u00007")
    before = shown(page, "#for-you")
    page.locator(f"#for-you [data-item-id='{before[0]}'] a").first.click()
    page.wait_for_url(f"**/demo/#/product/{before[0]}")
    for shelf in ("#similar", "#together", "#guides", "#product-ad"):
        assert shown(page, shelf), shelf
    assert before[0] not in shown(page, "#similar")
    page.click("#add-to-cart")
    page.wait_for_selector("#cart-lines li")
    for sent in (f"view {before[0]}", f"add_to_cart {before[0]}"):  # answered, so written
        page.wait_for_function(
            "text => document.getElementById('activity').innerText.includes(text)", arg=sent
        )

    events = demo_shop.rows(
        "SELECT e.event_type, e.recommendation_id FROM catalog_interaction e "
        "JOIN catalog_user u ON u.id = e.user_id JOIN catalog_item i ON i.id = e.item_id "
        "WHERE u.external_id = ? AND i.external_id = ? AND e.context LIKE '%storefront-demo%'",
        "u00007",
        before[0],
    )
    kinds = {kind for kind, _ in events}
    assert {"click", "view", "add_to_cart"} <= kinds, events
    assert all(rec.startswith("products.") for kind, rec in events if kind == "click")
    assert "invalid" not in page.locator("#activity").inner_text()

    page.click("a.brand")
    page.wait_for_selector("#for-you [data-item-id]")
    after = shown(page, "#for-you")
    assert after != before and before[0] not in after


def test_the_help_box_answers_or_hands_off(page, demo_shop):
    page.locator("#help-panel").wait_for()
    page.fill("#help-query", "how do I return an item?")
    page.click("#help-form button")
    answer = page.locator("#help-answer [data-scenario='faq']").first
    answer.wait_for()
    assert answer.get_attribute("data-item-id") != "handoff"
    assert "return" in page.locator("#help-answer").inner_text().lower()

    page.fill("#help-query", "Как вернуть товар?")  # a script the FAQ does not cover
    page.click("#help-form button")
    page.locator("#help-answer [data-item-id='handoff']").wait_for()


def test_a_shopper_claims_the_coupon_offered_to_them(page, demo_shop):
    offered = None
    for number in range(1, 201):
        user_id = f"u{number:05d}"
        answer = demo_shop.api("GET", "/coupons/offers", params={"user_id": user_id, "n": 1})
        if answer.status_code == 200 and answer.json()["items"]:
            offered = user_id
            break
    assert offered, "no demo shopper is offered a coupon"
    page.wait_for_selector(f"#user-select option[value='{offered}']", state="attached")
    page.select_option("#user-select", offered)
    page.locator("#offers [data-scenario='coupons'] button.claim").wait_for()
    offer_id = page.locator("#offers [data-scenario='coupons']").first.get_attribute("data-item-id")
    basket = 0.0
    for item in shown(page, "#for-you"):  # a basket over every demo offer's minimum (100)
        page.goto(f"{demo_shop.url}/demo/#/product/{item}")
        page.click("#add-to-cart")
        page.wait_for_function(
            "n => document.querySelectorAll('#cart-lines li').length >= n", arg=1
        )
        basket += float(demo_shop.api("GET", f"/items/{item}").json()["price"] or 0)
        if basket >= 100:
            break
    page.goto(f"{demo_shop.url}/demo/#/")
    page.locator("#offers [data-scenario='coupons'] button.claim").click()
    page.wait_for_selector("#coupon-status.ok, #coupon-status.error")
    status = page.locator("#coupon-status").inner_text()
    redeemed = demo_shop.rows(
        "SELECT o.offer_id FROM coupons_redemption r JOIN coupons_offer o ON o.id = r.offer_id "
        "JOIN catalog_user u ON u.id = r.user_id WHERE u.external_id = ? AND r.event_id LIKE 'redeem%'",
        offered,
    )
    assert status.startswith("Redeemed"), status
    assert redeemed == [(offer_id,)]

/*
 * The demo shop: plain JavaScript, no build step, and only the public REST API (/api/v1/...)
 * with the page's own API key, so it doubles as an example for a storefront's frontend.
 *
 * Every recommended product, article, ad, person, offer and FAQ answer is an element with
 * data-item-id and data-scenario (and data-recommendation-id: the answer it came from, which
 * the events the page posts quote, so the platform attributes them). Text from the API is
 * only ever set with textContent: nothing the API returns is parsed as HTML.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("storefront-config").textContent);
  const GUEST_KEY = "storefront.guest";
  const USER_KEY = "storefront.user";
  const items = new Map(); // item_id -> Promise of the catalog item (GET /items/{id})
  const users = new Map(); // user_id -> Promise of the catalog user
  let enabled = new Set(); // enabled scenario slugs (GET /scenarios/)
  let leaveView = null; // called when the shopper leaves the current view
  let rendered = 0; // views drawn so far: <body data-rendered> (browser tests wait on it)

  // --- the API ----------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.detail) || "HTTP " + status);
      this.status = status;
      this.body = body;
    }
  }

  async function api(method, path, body) {
    const response = await fetch(config.apiBase + path, {
      method: method,
      headers: {
        Authorization: "Api-Key " + config.apiKey,
        Accept: "application/json",
        "Content-Type": "application/json",
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, data);
    }
    return data;
  }

  function query(params) {
    const search = new URLSearchParams();
    Object.keys(params).forEach(function (name) {
      if (params[name] !== undefined && params[name] !== null) {
        search.set(name, String(params[name]));
      }
    });
    return "?" + search.toString();
  }

  function getItem(itemId) {
    if (!items.has(itemId)) {
      const request = api("GET", "/items/" + encodeURIComponent(itemId));
      request.catch(function () {
        items.delete(itemId); // try again next time
      });
      items.set(itemId, request);
    }
    return items.get(itemId);
  }

  function getUser(userId) {
    if (!users.has(userId)) {
      const request = api("GET", "/users/" + encodeURIComponent(userId));
      request.catch(function () {
        users.delete(userId);
      });
      users.set(userId, request);
    }
    return users.get(userId);
  }

  function newId(prefix) {
    const random =
      window.crypto && window.crypto.randomUUID
        ? window.crypto.randomUUID()
        : Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
    return prefix + "-" + random;
  }

  // --- who is shopping --------------------------------------------------------------------

  function guestId() {
    let id = localStorage.getItem(GUEST_KEY);
    if (!id) {
      id = newId("guest");
      localStorage.setItem(GUEST_KEY, id);
    }
    return id;
  }

  function chosenUser() {
    return localStorage.getItem(USER_KEY) || "";
  }

  /** The user id the page sends: the demo user picked, or this browser's guest id. */
  function shopper() {
    return chosenUser() || guestId();
  }

  // --- building elements (text only, never HTML) -------------------------------------------

  function el(tag, attributes, children) {
    const node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      const value = attributes[name];
      if (value === undefined || value === null || value === false) return;
      if (name === "text") node.textContent = String(value);
      else if (name === "onclick") node.addEventListener("click", value);
      else node.setAttribute(name, String(value));
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function note(container, text, kind) {
    container.replaceChildren(el("p", { class: "note " + (kind || ""), text: text }));
  }

  function failed(container, error) {
    note(container, error instanceof ApiError ? error.message : "Could not reach the API.", "error");
  }

  /** Offers and people are for shoppers the catalog knows: a guest is told how to become one. */
  function failedForGuest(container, error, what) {
    if (error instanceof ApiError && error.status === 404 && !chosenUser()) {
      note(container, what + " are for known shoppers: pick a demo user above.");
    } else {
      failed(container, error);
    }
  }

  function money(value) {
    return value === null || value === undefined ? "" : Number(value).toFixed(2);
  }

  function setStatus(id, text, kind) {
    const node = document.getElementById(id);
    if (!node) return;
    node.textContent = text;
    node.className = "status " + (kind || "");
  }

  function answerMeta(answer) {
    const parts = ["model version " + (answer.model_version === null ? "none" : answer.model_version)];
    if (answer.cold_start) parts.push("cold start");
    if (answer.fallback) parts.push("fallback");
    if (answer.experiment_arm) parts.push("arm " + answer.experiment_arm);
    return parts.join(" · ");
  }

  // --- the activity log: every call that writes, as sent -----------------------------------

  function logActivity(text, ok) {
    const list = document.getElementById("activity");
    list.prepend(el("li", { class: ok ? "ok" : "error", text: text }));
    while (list.children.length > 30) list.lastChild.remove();
  }

  async function send(method, path, body, label) {
    try {
      const result = await api(method, path, body);
      logActivity(method + " " + path + " " + label, true);
      return result;
    } catch (error) {
      logActivity(method + " " + path + " " + label + ": " + error.message, false);
      throw error;
    }
  }

  /** Post catalog events (view, click, add_to_cart, purchase, read, like) for the shopper. */
  function postEvents(events) {
    const user = shopper();
    const body = {
      events: events.map(function (event) {
        const row = {
          event_id: newId("demo"),
          user_id: user,
          item_id: event.item_id,
          type: event.type,
          context: { source: "storefront-demo" },
        };
        if (event.value !== undefined) row.value = event.value;
        // attribution: the answer this event follows from, as the events API takes it
        if (event.recommendation_id) row.context.recommendation_id = event.recommendation_id;
        return row;
      }),
    };
    const label = events.map((event) => event.type + " " + event.item_id).join(", ");
    return send("POST", "/events", body, label);
  }

  // --- cards --------------------------------------------------------------------------------

  function recommended(scenario, itemId, recommendationId, children, extra) {
    const attributes = Object.assign(
      {
        class: "card",
        "data-item-id": itemId,
        "data-scenario": scenario,
        "data-recommendation-id": recommendationId,
      },
      extra || {}
    );
    return el("div", attributes, children);
  }

  async function productCard(scenario, entry, recommendationId) {
    const item = await getItem(entry.item_id);
    const link = el("a", {
      href: "#/product/" + encodeURIComponent(item.item_id),
      class: "card-title",
      text: item.title || item.item_id,
      onclick: function (event) {
        event.preventDefault();
        openProduct(item.item_id, recommendationId);
      },
    });
    return recommended(scenario, item.item_id, recommendationId, [
      link,
      el("span", { class: "price", text: money(item.price) }),
      el("span", { class: "category", text: item.category }),
      el("span", { class: "reason", text: entry.reason }),
    ]);
  }

  async function articleCard(entry, recommendationId) {
    const article = await getItem(entry.item_id);
    const link = el("a", {
      href: "#/article/" + encodeURIComponent(article.item_id),
      class: "card-title",
      text: article.title || article.item_id,
      onclick: function (event) {
        event.preventDefault();
        openArticle(article.item_id, recommendationId);
      },
    });
    return recommended("content", article.item_id, recommendationId, [
      link,
      el("span", { class: "category", text: article.category }),
      el("span", { class: "reason", text: entry.reason }),
    ]);
  }

  async function fill(container, promises) {
    const cards = await Promise.all(promises);
    if (!cards.length) note(container, "Nothing to show yet.");
    else container.replaceChildren.apply(container, cards);
  }

  function openProduct(itemId, recommendationId) {
    const events = [{ item_id: itemId, type: "click", recommendation_id: recommendationId }];
    postEvents(events)
      .catch(function () {})
      .then(function () {
        location.hash = "#/product/" + encodeURIComponent(itemId);
      });
  }

  function openArticle(itemId, recommendationId) {
    const events = [{ item_id: itemId, type: "click", recommendation_id: recommendationId }];
    postEvents(events)
      .catch(function () {})
      .then(function () {
        location.hash = "#/article/" + encodeURIComponent(itemId);
      });
  }

  // --- sections -----------------------------------------------------------------------------

  async function showProducts(container, path, body, scenario, metaName) {
    try {
      const answer = body
        ? await api("POST", path, body)
        : await api("GET", path);
      if (metaName) {
        const meta = document.querySelector('[data-meta="' + metaName + '"]');
        if (meta) meta.textContent = answerMeta(answer);
      }
      await fill(
        container,
        answer.items.map((entry) => productCard(scenario, entry, answer.recommendation_id))
      );
    } catch (error) {
      failed(container, error);
    }
  }

  async function showFeed(container, path, metaName) {
    try {
      const answer = await api("GET", path);
      if (metaName) {
        const meta = document.querySelector('[data-meta="' + metaName + '"]');
        if (meta) meta.textContent = answerMeta(answer);
      }
      await fill(container, answer.items.map((entry) => articleCard(entry, answer.recommendation_id)));
    } catch (error) {
      failed(container, error);
    }
  }

  async function showAd(container, slot, itemId) {
    try {
      const answer = await api(
        "GET",
        "/ads/serve" + query({ slot: slot, user_id: shopper(), item_id: itemId, device: "desktop", n: 1 })
      );
      await fill(
        container,
        answer.items.map(async function (placement) {
          const item = await getItem(placement.item_id);
          const link = el("a", {
            href: "#/product/" + encodeURIComponent(item.item_id),
            class: "card-title",
            text: item.title || item.item_id,
            onclick: function (event) {
              event.preventDefault();
              const click = { recommendation_id: answer.recommendation_id, ad_id: placement.ad_id, user_id: shopper() };
              send("POST", "/ads/click", click, placement.ad_id)
                .catch(function () {})
                .then(function () {
                  location.hash = "#/product/" + encodeURIComponent(item.item_id);
                });
            },
          });
          return recommended("ads", placement.ad_id, answer.recommendation_id, [
            el("span", { class: "badge", text: "Sponsored" }),
            link,
            el("span", { class: "price", text: money(item.price) }),
          ], { "data-product-id": item.item_id });
        })
      );
    } catch (error) {
      failed(container, error);
    }
  }

  /** Coupons the shop has handed this shopper and they have not used yet: an offer stays
   * theirs once given (the API checks the assignment on redeem), even when the next answer
   * offers none, e.g. because a full cart means they would buy without one. */
  function walletKey() {
    return "storefront.coupons." + shopper();
  }

  function readWallet() {
    try {
      return JSON.parse(localStorage.getItem(walletKey()) || "{}");
    } catch (error) {
      return {};
    }
  }

  function writeWallet(wallet) {
    localStorage.setItem(walletKey(), JSON.stringify(wallet));
  }

  async function showOffers(container) {
    try {
      const answer = await api("GET", "/coupons/offers" + query({ user_id: shopper(), n: 1 }));
      const wallet = readWallet();
      answer.items.forEach(function (offer) {
        wallet[offer.offer_id] = { offer: offer, recommendation_id: answer.recommendation_id };
      });
      writeWallet(wallet);
      const held = Object.values(wallet);
      if (answer.holdout && !held.length) {
        note(container, "You are in the offers' holdout group: no coupon for you (that is how the shop measures what coupons add).");
        return;
      }
      if (!held.length) {
        note(container, "No coupon for you right now: the shop offers one only where it expects it to change what you buy.");
        return;
      }
      await fill(
        container,
        held.map(function (entry) {
          const button = el("button", {
            type: "button",
            class: "claim",
            text: "Use it on my cart",
            onclick: function () {
              claimOffer(entry.offer, entry.recommendation_id);
            },
          });
          return recommended("coupons", entry.offer.offer_id, entry.recommendation_id, [
            el("span", { class: "card-title", text: "Coupon " + entry.offer.offer_id }),
            el("span", { class: "reason", text: entry.offer.reason }),
            button,
          ]);
        })
      );
    } catch (error) {
      failedForGuest(container, error, "Offers");
    }
  }

  async function claimOffer(offer, recommendationId) {
    const cart = readCart();
    const total = cartTotal(cart);
    const categories = Array.from(new Set(cart.map((line) => line.category).filter(Boolean)));
    const body = {
      user_id: shopper(),
      offer_id: offer.offer_id,
      basket_total: total.toFixed(2),
      event_id: newId("redeem"),
      recommendation_id: recommendationId,
      categories: categories,
    };
    try {
      const result = await send("POST", "/coupons/redeem", body, offer.offer_id + " on " + total.toFixed(2));
      setStatus(
        "coupon-status",
        "Redeemed " + result.offer_id + " on a basket of " + money(result.basket_total) +
          ": it cost the shop " + money(result.cost) + ", " + money(result.budget_left) +
          " left in its budget.",
        "ok"
      );
      const wallet = readWallet();
      delete wallet[offer.offer_id];
      writeWallet(wallet);
      const container = document.getElementById("offers");
      if (container) await showOffers(container);
    } catch (error) {
      setStatus("coupon-status", "Not redeemed: " + error.message, "error");
    }
  }

  async function personCard(suggestion, recommendationId, container) {
    let place = "";
    try {
      const person = await getUser(suggestion.user_id);
      place = [person.location, person.age_band].filter(Boolean).join(" · ");
    } catch (error) {
      place = "";
    }
    const button = el("button", {
      type: "button",
      text: "Follow",
      onclick: async function () {
        const body = { follower_id: shopper(), followee_id: suggestion.user_id, recommendation_id: recommendationId };
        try {
          await send("POST", "/social/follows", body, suggestion.user_id);
          setStatus("social-status", "You now follow " + suggestion.user_id + ".", "ok");
          await showPeople(container);
        } catch (error) {
          setStatus("social-status", "Not followed: " + error.message, "error");
        }
      },
    });
    return recommended("social", suggestion.user_id, recommendationId, [
      el("span", { class: "card-title", text: suggestion.user_id }),
      el("span", { class: "category", text: place }),
      el("span", { class: "reason", text: suggestion.reason }),
      button,
    ]);
  }

  async function showPeople(container) {
    try {
      const answer = await api("GET", "/social/suggestions" + query({ user_id: shopper(), n: 4 }));
      await fill(container, answer.items.map((entry) => personCard(entry, answer.recommendation_id, container)));
    } catch (error) {
      failedForGuest(container, error, "Suggestions of people");
    }
  }

  // --- views --------------------------------------------------------------------------------

  function mount(templateId) {
    const view = document.getElementById("view");
    const content = document.getElementById(templateId).content.cloneNode(true);
    view.replaceChildren(content);
    view.querySelectorAll("[data-needs]").forEach(function (section) {
      section.hidden = !enabled.has(section.getAttribute("data-needs"));
    });
    return view;
  }

  function renderHome() {
    const view = mount("home-template");
    const user = encodeURIComponent(shopper());
    const jobs = [];
    if (enabled.has("products")) {
      jobs.push(showProducts(view.querySelector("#for-you"), "/products/recommendations?n=8&user_id=" + user, null, "products", "for-you"));
    }
    if (enabled.has("ads")) jobs.push(showAd(view.querySelector("#home-ad"), "home"));
    if (enabled.has("coupons")) jobs.push(showOffers(view.querySelector("#offers")));
    if (enabled.has("content")) jobs.push(showFeed(view.querySelector("#feed"), "/content/feed?n=4&user_id=" + user, "feed"));
    if (enabled.has("social")) jobs.push(showPeople(view.querySelector("#people")));
    return Promise.all(jobs);
  }

  /** Mount ``template`` and fill its title, description and category from the catalog item;
   * null (with the error shown) when the item cannot be read. */
  async function mountItem(template, itemId) {
    const view = mount(template);
    let item;
    try {
      item = await getItem(itemId);
    } catch (error) {
      failed(view, error);
      return null;
    }
    view.querySelector('[data-field="title"]').textContent = item.title || item.item_id;
    view.querySelector('[data-field="description"]').textContent = item.description;
    view.querySelector('[data-field="category"]').textContent = item.category;
    return { view: view, item: item };
  }

  async function renderProduct(itemId) {
    const shown = await mountItem("product-template", itemId);
    if (!shown) return;
    const view = shown.view;
    const item = shown.item;
    view.querySelector('[data-field="price"]').textContent = money(item.price);
    view.querySelector(".product-detail").setAttribute("data-product-id", item.item_id);
    view.querySelector("#add-to-cart").addEventListener("click", function () {
      addToCart(item);
    });
    const id = encodeURIComponent(item.item_id);
    const jobs = [postEvents([{ item_id: item.item_id, type: "view" }]).catch(function () {})];
    if (enabled.has("products")) {
      jobs.push(showProducts(view.querySelector("#similar"), "/products/similar?n=6&item_id=" + id, null, "products"));
      jobs.push(showProducts(view.querySelector("#together"), "/products/basket", { item_ids: [item.item_id], n: 4 }, "products"));
    }
    if (enabled.has("content")) jobs.push(showFeed(view.querySelector("#guides"), "/content/related?n=3&item_id=" + id));
    if (enabled.has("ads")) jobs.push(showAd(view.querySelector("#product-ad"), "product", item.item_id));
    await Promise.all(jobs);
  }

  async function renderArticle(itemId) {
    const shown = await mountItem("article-template", itemId);
    if (!shown) return;
    const view = shown.view;
    const article = shown.item;
    view.querySelector("#like-article").addEventListener("click", function () {
      postEvents([{ item_id: article.item_id, type: "like" }])
        .then(() => setStatus("article-status", "Liked: your feed leans this way now.", "ok"))
        .catch((error) => setStatus("article-status", error.message, "error"));
    });
    const opened = Date.now();
    leaveView = function () {
      // A read, weighted by its dwell time in seconds (the content scenario reads it).
      const seconds = Math.max(1, Math.round((Date.now() - opened) / 1000));
      postEvents([{ item_id: article.item_id, type: "read", value: seconds }]).catch(function () {});
    };
  }

  function route() {
    if (leaveView) {
      leaveView();
      leaveView = null;
    }
    const match = /^#\/(product|article)\/(.+)$/.exec(location.hash);
    let drawing;
    if (!match) drawing = renderHome();
    else if (match[1] === "product") drawing = renderProduct(decodeURIComponent(match[2]));
    else drawing = renderArticle(decodeURIComponent(match[2]));
    return drawing.then(function () {
      rendered += 1;
      document.body.setAttribute("data-rendered", String(rendered));
    });
  }

  // --- the cart (kept in this browser, per shopper) ------------------------------------------

  function cartKey() {
    return "storefront.cart." + shopper();
  }

  function readCart() {
    try {
      return JSON.parse(localStorage.getItem(cartKey()) || "[]");
    } catch (error) {
      return [];
    }
  }

  function writeCart(cart) {
    localStorage.setItem(cartKey(), JSON.stringify(cart));
    renderCart();
  }

  function cartTotal(cart) {
    return cart.reduce((sum, line) => sum + Number(line.price || 0) * line.quantity, 0);
  }

  async function addToCart(item) {
    const cart = readCart();
    const line = cart.find((entry) => entry.item_id === item.item_id);
    if (line) line.quantity += 1;
    else cart.push({ item_id: item.item_id, title: item.title, price: item.price, category: item.category, quantity: 1 });
    writeCart(cart);
    try {
      await postEvents([{ item_id: item.item_id, type: "add_to_cart" }]);
      setStatus("product-status", "Added to your cart.", "ok");
    } catch (error) {
      setStatus("product-status", "Added here, but the event was refused: " + error.message, "error");
    }
  }

  function renderCart() {
    const cart = readCart();
    const list = document.getElementById("cart-lines");
    list.replaceChildren.apply(
      list,
      cart.map((line) =>
        el("li", { "data-cart-item": line.item_id }, [
          el("span", { text: line.quantity + " × " + (line.title || line.item_id) }),
          el("span", { class: "price", text: money(Number(line.price || 0) * line.quantity) }),
        ])
      )
    );
    if (!cart.length) list.appendChild(el("li", { class: "muted", text: "Empty." }));
    document.getElementById("cart-total").textContent = cartTotal(cart).toFixed(2);
    document.getElementById("checkout").disabled = !cart.length;
  }

  async function checkout() {
    const cart = readCart();
    if (!cart.length) return;
    try {
      await postEvents(cart.map((line) => ({ item_id: line.item_id, type: "purchase", value: line.quantity })));
      writeCart([]);
      setStatus("cart-status", "Order placed: your recommendations now know what you bought.", "ok");
      if (!/^#\/(product|article)\//.test(location.hash)) renderHome();
    } catch (error) {
      setStatus("cart-status", "Not placed: " + error.message, "error");
    }
  }

  // --- the help box (FAQ) ------------------------------------------------------------------

  async function ask(question) {
    const box = document.getElementById("help-answer");
    note(box, "Looking for an answer…");
    try {
      const result = await send("POST", "/faq/answer", { query: question, user_id: shopper(), n: 3 }, JSON.stringify(question));
      const best = result.answers[0];
      if (result.handoff || !best) {
        box.replaceChildren(
          el("div", { class: "handoff", "data-scenario": "faq", "data-item-id": "handoff", "data-recommendation-id": result.recommendation_id }, [
            el("p", { text: "We are not sure we know this one: a person from our support team will answer you." }),
          ])
        );
        return;
      }
      const verdict = el("p", { class: "status" });
      const rate = function (helpful) {
        return async function () {
          try {
            await send("POST", "/faq/feedback", { recommendation_id: result.recommendation_id, helpful: helpful }, helpful ? "helpful" : "not helpful");
            verdict.textContent = helpful ? "Thanks: glad it helped." : "Thanks: we will pass it on to a person.";
            verdict.className = "status ok";
          } catch (error) {
            verdict.textContent = error.message;
            verdict.className = "status error";
          }
        };
      };
      box.replaceChildren(
        el("div", { class: "answer", "data-scenario": "faq", "data-item-id": best.faq_id, "data-recommendation-id": result.recommendation_id }, [
          el("p", { class: "question", text: best.question }),
          el("p", { class: "answer-text", text: best.answer }),
          el("p", { class: "meta", text: "confidence " + Number(result.confidence).toFixed(2) }),
          el("span", { text: "Helpful? " }),
          el("button", { type: "button", text: "Yes", "data-helpful": "yes", onclick: rate(true) }),
          el("button", { type: "button", text: "No", "data-helpful": "no", onclick: rate(false) }),
          verdict,
        ])
      );
    } catch (error) {
      failed(box, error);
    }
  }

  // --- start --------------------------------------------------------------------------------

  async function loadUsers() {
    const select = document.getElementById("user-select");
    try {
      const page = await api("GET", "/users" + query({ page_size: 30 }));
      page.results.forEach(function (user) {
        const label = user.user_id + (user.location ? " · " + user.location : "");
        select.appendChild(el("option", { value: user.user_id, text: label }));
      });
    } catch (error) {
      logActivity("GET /users: " + error.message, false);
    }
    selectShopper(chosenUser());
  }

  function selectShopper(userId) {
    const select = document.getElementById("user-select");
    if (userId && !Array.from(select.options).some((option) => option.value === userId)) {
      select.appendChild(el("option", { value: userId, text: userId }));
    }
    select.value = userId;
    document.body.setAttribute("data-shopper", shopper());
  }

  function switchUser(userId) {
    if (userId) localStorage.setItem(USER_KEY, userId);
    else localStorage.removeItem(USER_KEY);
    selectShopper(userId);
    renderCart();
    document.getElementById("help-answer").replaceChildren();
    route();
  }

  async function start() {
    try {
      const scenarios = await api("GET", "/scenarios/");
      enabled = new Set(scenarios.results.map((scenario) => scenario.slug));
    } catch (error) {
      note(document.getElementById("view"), "The API refused the demo's key: " + error.message, "error");
      return;
    }
    document.getElementById("help-panel").hidden = !enabled.has("faq");
    document.getElementById("user-select").addEventListener("change", function (event) {
      document.getElementById("user-input").value = "";
      switchUser(event.target.value);
    });
    document.getElementById("user-form").addEventListener("submit", function (event) {
      event.preventDefault();
      const typed = document.getElementById("user-input").value.trim();
      switchUser(typed || document.getElementById("user-select").value);
    });
    document.getElementById("help-form").addEventListener("submit", function (event) {
      event.preventDefault();
      const question = document.getElementById("help-query").value.trim();
      if (question) ask(question);
    });
    document.getElementById("checkout").addEventListener("click", checkout);
    window.addEventListener("hashchange", route);
    await loadUsers();
    renderCart();
    await route();
  }

  start();
})();

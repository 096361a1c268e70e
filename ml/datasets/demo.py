"""A deterministic demo store: shoppers, a product catalogue, articles and browsing sessions.

Behaviour is planted so models have something real to find and tests something to check:

- every leaf category has a latent vector; items sit near their category's vector, and each user
  holds hidden tastes (two leaf categories) whose vectors make up the user's factor;
- popularity is skewed (a Zipf-like prior per item) and price-sensitive users shy from dear items;
- tastes drift: over the window each user's second taste gives way to a third, and new products
  launched during the window get a short novelty boost;
- a session is a run of views; a view may lead to add_to_cart and a cart to purchase, more likely
  the closer the item is to the user's current taste. Some sessions also read an article, which
  may be liked or shared.

Same arguments, same store (one ``numpy.random.Generator`` drives everything). Pure numpy: the
Django command ``seed_demo`` writes the result into the database.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.data import Interactions

DAY = 86_400
# 2025-01-01T00:00:00Z: the default start, so the store is identical whenever it is generated.
DEFAULT_START = 1_735_689_600

# Leaf categories: path -> (product nouns, median price). Brands are per top-level department.
CATEGORY_TREE: dict[str, tuple[tuple[str, ...], float]] = {
    "electronics/phones": (("Smartphone", "Phone", "Phone Case"), 420.0),
    "electronics/laptops": (("Laptop", "Ultrabook", "Laptop Sleeve"), 950.0),
    "electronics/audio": (("Headphones", "Earbuds", "Speaker"), 110.0),
    "home/kitchen": (("Blender", "Chef Knife", "Coffee Maker", "Frying Pan"), 60.0),
    "home/furniture": (("Desk Chair", "Bookshelf", "Side Table", "Floor Lamp"), 180.0),
    "home/garden": (("Garden Hose", "Planter", "Pruning Shears"), 35.0),
    "fashion/women": (("Dress", "Blouse", "Cardigan", "Skirt"), 55.0),
    "fashion/men": (("Shirt", "Chinos", "Jacket", "Sweater"), 60.0),
    "fashion/shoes": (("Sneakers", "Boots", "Loafers", "Sandals"), 85.0),
    "sports/fitness": (("Yoga Mat", "Dumbbell Set", "Resistance Bands"), 40.0),
    "sports/outdoor": (("Tent", "Hiking Backpack", "Trekking Poles"), 120.0),
    "beauty/skincare": (("Moisturiser", "Serum", "Sunscreen", "Cleanser"), 25.0),
    "books/fiction": (("Novel", "Short Stories", "Thriller"), 15.0),
    "books/nonfiction": (("Cookbook", "Biography", "Travel Guide"), 22.0),
    "toys/kids": (("Building Blocks", "Puzzle", "Plush Toy", "Board Game"), 30.0),
}
BRANDS = {
    "electronics": ("Voltra", "Nexa", "Kiroshi", "Auron"),
    "home": ("Hearthly", "Oakmere", "Casa Nova", "Linden"),
    "fashion": ("Maren", "Northloom", "Velto", "Juniper & Co"),
    "sports": ("Peakline", "Stridex", "Trailborn"),
    "beauty": ("Lumé", "Dewberry", "Pura"),
    "books": ("Pinecone Press", "Larkspur Books"),
    "toys": ("Tinker Town", "Bright Cubs"),
}
ADJECTIVES = ("Classic", "Pro", "Lite", "Eco", "Premium", "Compact", "Everyday", "Signature")
ARTICLE_TEMPLATES = (
    "How to choose the right {noun}",
    "Our top {noun} picks this season",
    "{noun} care guide",
    "{noun}: what the reviews say",
)
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_BAND_SHARES = (0.16, 0.30, 0.25, 0.17, 0.12)
GENDERS = ("female", "male", "unspecified")
GENDER_SHARES = (0.48, 0.47, 0.05)
LOCATIONS = ("Berlin", "London", "Madrid", "Paris", "Warsaw", "Milan", "Amsterdam", "Vienna")

N_FACTORS = 8
TASTES_PER_USER = 2
TASTE_SHARPNESS = 2.5  # how much closeness to taste outweighs popularity in choices
POPULARITY_EXPONENT = 0.5
NOVELTY_DAYS = 7
NOVELTY_BOOST = 1.0


@dataclass
class DemoUsers:
    """Shoppers. ``tastes`` and ``factors`` are the hidden truth; they are not stored anywhere."""

    ids: np.ndarray
    age_bands: np.ndarray
    genders: np.ndarray
    locations: np.ndarray
    segments: list[list[str]]
    signup_timestamps: np.ndarray
    tastes: list[tuple[str, ...]]  # leaf categories: the early tastes, then the drift target
    price_sensitivity: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class DemoItems:
    """Products and articles. Times are epoch seconds; -1 means no bound."""

    ids: np.ndarray
    kinds: np.ndarray
    titles: np.ndarray
    descriptions: np.ndarray
    categories: np.ndarray
    tags: list[list[str]]
    prices: np.ndarray  # NaN for articles
    in_stock: np.ndarray
    available_from: np.ndarray
    available_until: np.ndarray
    factors: np.ndarray  # hidden

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class DemoStore:
    users: DemoUsers
    items: DemoItems
    events: Interactions  # event_types set; extra["session_ids"] groups a session's events
    start: int
    end: int


def generate_demo_store(
    n_users: int = 1000,
    n_products: int = 500,
    n_articles: int = 60,
    days: int = 60,
    seed: int = 0,
    start: int = DEFAULT_START,
    sessions_per_week: float = 1.5,
) -> DemoStore:
    """Build the store. Events are sorted by time; all events fall in ``[start, start + days)``."""
    for name, value in (("n_users", n_users), ("n_products", n_products), ("days", days)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if n_articles < 0:
        raise ValueError(f"n_articles must be non-negative, got {n_articles}")
    if sessions_per_week <= 0:
        raise ValueError(f"sessions_per_week must be positive, got {sessions_per_week}")
    rng = np.random.default_rng(seed)
    end = start + days * DAY
    leaves = list(CATEGORY_TREE)
    leaf_vectors = rng.normal(size=(len(leaves), N_FACTORS))
    leaf_vectors /= np.linalg.norm(leaf_vectors, axis=1, keepdims=True)

    products = _make_products(rng, n_products, leaves, leaf_vectors, start, end)
    articles = _make_articles(rng, n_articles, leaves, leaf_vectors)
    items = _concat_items(products, articles)
    users = _make_users(rng, n_users, leaves, start, end)
    events = _simulate_sessions(
        rng, users, items, leaves, leaf_vectors, start, end, sessions_per_week
    )
    users.segments = _segments(users, events, end)
    return DemoStore(users=users, items=items, events=events, start=start, end=end)


def _make_products(rng, n, leaves, leaf_vectors, start, end) -> DemoItems:
    leaf_index = rng.integers(len(leaves), size=n)
    categories = np.asarray(leaves)[leaf_index]
    titles, tags, prices = [], [], np.empty(n)
    for i, category in enumerate(categories):
        nouns, median_price = CATEGORY_TREE[category]
        department = category.split("/")[0]
        brand = BRANDS[department][rng.integers(len(BRANDS[department]))]
        noun = nouns[rng.integers(len(nouns))]
        adjective = ADJECTIVES[rng.integers(len(ADJECTIVES))]
        titles.append(f"{brand} {adjective} {noun} {chr(65 + i % 26)}{i // 26 % 100}")
        tags.append([brand.lower(), adjective.lower(), noun.lower()])
        prices[i] = round(
            max(1, round(median_price * float(np.exp(rng.normal(0.0, 0.5))))) - 0.01, 2
        )
    descriptions = [
        f"{title}: a {tag[1]} {tag[2]} from {title.split(' ')[0]}, in {category.replace('/', ' / ')}."
        for title, tag, category in zip(titles, tags, categories, strict=True)
    ]
    # A fifth of the range launches during the window (drift); a few are seasonal or sold out.
    available_from = np.full(n, -1, dtype=np.int64)
    launches = rng.random(n) < 0.2
    available_from[launches] = rng.integers(start + DAY, end, size=launches.sum())
    available_until = np.full(n, -1, dtype=np.int64)
    seasonal = ~launches & (rng.random(n) < 0.03)
    available_until[seasonal] = rng.integers(start + (end - start) // 2, end, size=seasonal.sum())
    factors = leaf_vectors[leaf_index] + rng.normal(0.0, 0.35, size=(n, N_FACTORS))
    return DemoItems(
        ids=np.asarray([f"p{i + 1:05d}" for i in range(n)]),
        kinds=np.full(n, "product"),
        titles=np.asarray(titles),
        descriptions=np.asarray(descriptions),
        categories=categories,
        tags=tags,
        prices=prices,
        in_stock=rng.random(n) >= 0.05,
        available_from=available_from,
        available_until=available_until,
        factors=factors,
    )


def _make_articles(rng, n, leaves, leaf_vectors) -> DemoItems:
    leaf_index = rng.integers(len(leaves), size=n)
    categories = np.asarray(leaves)[leaf_index]
    titles, tags = [], []
    for category in categories:
        nouns = CATEGORY_TREE[category][0]
        noun = nouns[rng.integers(len(nouns))]
        template = ARTICLE_TEMPLATES[rng.integers(len(ARTICLE_TEMPLATES))]
        titles.append(template.format(noun=noun))
        tags.append(["guide", category.split("/")[0], noun.lower()])
    return DemoItems(
        ids=np.asarray([f"a{i + 1:04d}" for i in range(n)], dtype=str),
        kinds=np.full(n, "article"),
        titles=np.asarray(titles, dtype=str),
        descriptions=np.asarray(
            [
                f"Editorial: {t.lower()}, for shoppers in {c}."
                for t, c in zip(titles, categories, strict=True)
            ],
            dtype=str,
        ),
        categories=categories,
        tags=tags,
        prices=np.full(n, np.nan),
        in_stock=np.ones(n, dtype=bool),
        available_from=np.full(n, -1, dtype=np.int64),
        available_until=np.full(n, -1, dtype=np.int64),
        factors=leaf_vectors[leaf_index] + rng.normal(0.0, 0.35, size=(n, N_FACTORS)),
    )


def _concat_items(products: DemoItems, articles: DemoItems) -> DemoItems:
    def join(a, b):
        return a + b if isinstance(a, list) else np.concatenate([a, b])

    return DemoItems(
        **{name: join(getattr(products, name), getattr(articles, name)) for name in vars(products)}
    )


def _make_users(rng, n, leaves, start, end) -> DemoUsers:
    # Tastes: TASTES_PER_USER early leaves plus one drift target, all distinct.
    tastes = [
        tuple(np.asarray(leaves)[rng.choice(len(leaves), TASTES_PER_USER + 1, replace=False)])
        for _ in range(n)
    ]
    # Most users exist at the start; the rest sign up during the window.
    signup = np.where(rng.random(n) < 0.7, start, rng.integers(start, end - DAY, size=n)).astype(
        np.int64
    )
    return DemoUsers(
        ids=np.asarray([f"u{i + 1:05d}" for i in range(n)]),
        age_bands=np.asarray(AGE_BANDS)[rng.choice(len(AGE_BANDS), n, p=AGE_BAND_SHARES)],
        genders=np.asarray(GENDERS)[rng.choice(len(GENDERS), n, p=GENDER_SHARES)],
        locations=np.asarray(LOCATIONS)[rng.integers(len(LOCATIONS), size=n)],
        segments=[[] for _ in range(n)],
        signup_timestamps=signup,
        tastes=tastes,
        price_sensitivity=rng.gamma(2.0, 0.25, size=n),
    )


def _simulate_sessions(rng, users, items, leaves, leaf_vectors, start, end, sessions_per_week):
    leaf_row = {leaf: i for i, leaf in enumerate(leaves)}
    is_product = items.kinds == "product"
    product_rows = np.flatnonzero(is_product)
    article_rows = np.flatnonzero(~is_product)
    # Popularity prior: a random Zipf rank per product.
    ranks = rng.permutation(len(product_rows)) + 1
    log_popularity = -POPULARITY_EXPONENT * np.log(ranks)
    log_price = np.log(items.prices[product_rows])
    price_z = (log_price - log_price.mean()) / (log_price.std() + 1e-9)
    launch = items.available_from[product_rows]
    until = items.available_until[product_rows]
    product_factors = items.factors[product_rows]
    article_factors = items.factors[article_rows]

    activity = rng.lognormal(0.0, 0.8, size=len(users))
    columns: dict[str, list] = {
        "user": [],
        "item": [],
        "type": [],
        "value": [],
        "time": [],
        "session": [],
    }

    def emit(user_row, item_row, event_type, value, timestamp, session):
        columns["user"].append(user_row)
        columns["item"].append(item_row)
        columns["type"].append(event_type)
        columns["value"].append(value)
        columns["time"].append(timestamp)
        columns["session"].append(session)

    session_count = 0
    for u in range(len(users)):
        signup = users.signup_timestamps[u]
        weeks = (end - signup) / (7 * DAY)
        n_sessions = rng.poisson(sessions_per_week * weeks * activity[u])
        session_starts = np.sort(rng.integers(signup, end - 3600, size=n_sessions))
        early = leaf_vectors[[leaf_row[leaf] for leaf in users.tastes[u][:TASTES_PER_USER]]]
        late = np.vstack([early[0], leaf_vectors[leaf_row[users.tastes[u][-1]]]])
        bought: set[int] = set()
        for t0 in session_starts:
            progress = (t0 - start) / (end - start)
            taste = (1 - progress) * early.sum(0) + progress * late.sum(0)
            affinity = TASTE_SHARPNESS * product_factors @ taste
            available = (launch <= t0) & ((until < 0) | (until > t0))
            novelty = NOVELTY_BOOST * ((launch >= 0) & (t0 - launch < NOVELTY_DAYS * DAY))
            logits = affinity + log_popularity + novelty - users.price_sensitivity[u] * price_z
            weights = np.where(available, np.exp(logits - logits[available].max()), 0.0)
            n_views = min(1 + rng.geometric(0.3), int(available.sum()))
            viewed = rng.choice(
                len(product_rows), n_views, replace=False, p=weights / weights.sum()
            )
            clock = int(t0)
            for p in viewed:
                clock += int(rng.integers(10, 180))
                emit(u, product_rows[p], "view", 1.0, clock, session_count)
                closeness = affinity[p] - users.price_sensitivity[u] * price_z[p]
                repeat_damping = 0.1 if p in bought else 1.0  # few buy the same thing twice
                if rng.random() < repeat_damping * _sigmoid(-5.5 + closeness):
                    clock += int(rng.integers(5, 60))
                    quantity = 1.0 + float(rng.random() < 0.15)
                    emit(u, product_rows[p], "add_to_cart", quantity, clock, session_count)
                    if rng.random() < _sigmoid(-2.0 + 0.5 * closeness):
                        bought.add(p)
                        clock += int(rng.integers(60, 600))
                        emit(u, product_rows[p], "purchase", quantity, clock, session_count)
            if len(article_rows) and rng.random() < 0.25:
                article_affinity = TASTE_SHARPNESS * article_factors @ taste
                chance = np.exp(article_affinity - article_affinity.max())
                a = rng.choice(len(article_rows), p=chance / chance.sum())
                clock += int(rng.integers(10, 120))
                emit(u, article_rows[a], "view", 1.0, clock, session_count)
                if rng.random() < _sigmoid(-3.0 + article_affinity[a]):
                    emit(u, article_rows[a], "like", 1.0, clock + 30, session_count)
                    if rng.random() < 0.2:
                        emit(u, article_rows[a], "share", 1.0, clock + 40, session_count)
            session_count += 1

    order = np.argsort(np.asarray(columns["time"], dtype=np.int64), kind="stable")
    user_rows = np.asarray(columns["user"], dtype=np.int64)[order]
    item_rows = np.asarray(columns["item"], dtype=np.int64)[order]
    return Interactions(
        user_ids=users.ids[user_rows],
        item_ids=items.ids[item_rows],
        values=np.asarray(columns["value"], dtype=np.float32)[order],
        timestamps=np.minimum(np.asarray(columns["time"], dtype=np.int64)[order], end - 1),
        event_types=np.asarray(columns["type"], dtype=str)[order],
        extra={"session_ids": np.asarray(columns["session"], dtype=np.int64)[order]},
    )


def _segments(users: DemoUsers, events: Interactions, end: int) -> list[list[str]]:
    """CRM-style segments a store would have: big spenders, bargain hunters, newcomers."""
    purchases = events.subset(events.event_types == "purchase")
    user_index = {user_id: i for i, user_id in enumerate(users.ids.tolist())}
    purchase_counts = np.zeros(len(users), dtype=np.int64)
    for user_id in purchases.user_ids.tolist():
        purchase_counts[user_index[user_id]] += 1
    vip_threshold = max(1, int(np.quantile(purchase_counts, 0.9))) if len(users) else 1
    bargain_threshold = np.quantile(users.price_sensitivity, 0.75)
    newcomer_since = end - (end - users.signup_timestamps.min()) // 4 if len(users) else end
    segments = []
    for i in range(len(users)):
        tags = []
        if purchase_counts[i] >= vip_threshold:
            tags.append("vip")
        if users.price_sensitivity[i] >= bargain_threshold:
            tags.append("bargain_hunter")
        if users.signup_timestamps[i] >= newcomer_since:
            tags.append("new_customer")
        segments.append(tags)
    return segments


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + np.exp(-x))

"""``manage.py generate_store --scale S``: a synthetic store for scale tests, at any size.

At ``--scale 1.0`` the store has 1,000,000 users, 100,000 products and 20,000,000 interactions,
plus each installed scenario's own data at matching size: 2,000,000 follow edges (social),
50,000 articles (catalog items of kind ``article``, which the content scenario serves), 10,000
ads on products in 1,000 campaigns of 250 advertisers with 3 slots (ads), 1,000 coupon offers
(coupons) and 5,000 FAQ entries, a fifth of them linked to products (faq). Every count is
multiplied by ``--scale`` (0.01 is a 10,000-user store).

Popularity follows power laws, as in real stores: item ``k`` by popularity rank draws events
with weight ``1 / k**item_exponent`` (Zipf, 1.0 by default: the top 1% of products hold more than
half the events) and user activity has weight ``1 / k**user_exponent`` (0.5: a few heavy
shoppers, a long tail of one-visit users; every user has at least one event). Ranks are shuffled
over ids, so popular items are spread over the id range. Follows have the same shape: a
followee's popularity and a follower's activity are Zipf-weighted.

Loading: on PostgreSQL rows go through ``COPY ... FROM STDIN`` (psycopg 3 ``cursor.copy``), the
interactions in committed chunks of ``--batch-size`` rows (a chunk per transaction keeps the
deferred foreign-key checks of one transaction bounded); elsewhere (SQLite, the embedded
default) through ``bulk_create`` in batches. Indexes and constraints stay as the migrations made
them, so the figures are those of loading into a live schema.

The same ``--seed``, ``--scale`` and ``--end`` give the same rows. External ids carry the seed
(``g<seed>-u0000042``), so ``--append`` can add a second generated store beside the first with
another seed. Without ``--append`` the command refuses a database that already holds users.
Generated events carry no event id (they are not deduplicated on a rerun), and no list
invalidation is sent: every generated user is new, so no cached list can be stale. Loading ads
moves the ads inventory's generation (as a save in the admin does), so serving processes see
them; the campaigns, offers and FAQ entries carry no spend, redemptions or query log, and no
training is queued.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from catalog.management.commands.import_dataset import refresh_planner_statistics
from catalog.models import EventType, Interaction, Item, User

FULL_SIZE = {
    "users": 1_000_000,
    "items": 100_000,
    "interactions": 20_000_000,
    "follows": 2_000_000,
    "articles": 50_000,
    "ads": 10_000,
    "campaigns": 1_000,
    "advertisers": 250,
    "offers": 1_000,
    "faq_entries": 5_000,
}
# Tables whose keys carry the seed's prefix: (app, model label, key field).
SEEDED_KEYS = (
    ("catalog", "catalog.User", "external_id"),
    ("catalog", "catalog.Item", "external_id"),
    ("scenarios.ads", "ads.Advertiser", "name"),
    ("scenarios.ads", "ads.Slot", "name"),
    ("scenarios.coupons", "coupons.Offer", "offer_id"),
    ("scenarios.faq", "faq.FaqEntry", "key"),
)
SLOTS = (("home", 3, "0.05"), ("product", 2, "0.10"), ("checkout", 1, "0.20"))
DISCOUNTS = (("percent", (5, 10, 15, 20, 25)), ("amount", (2, 5, 10, 20)), ("free_shipping", (0,)))
FAQ_CATEGORIES = ("shipping", "returns", "payment", "account", "order_status", "product")
FAQ_STARTS = ("how do i", "can i", "when will", "why is", "what is", "where can i")
FAQ_ZH = ("订单", "退货", "运费", "付款", "账户", "优惠", "发货", "商品", "尺码", "保修")
EVENT_TYPES = ("view", "add_to_cart", "purchase")
EVENT_SHARES = (0.85, 0.10, 0.05)
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+", "")
GENDERS = ("female", "male", "")
LOCATIONS = tuple(f"region-{n:02d}" for n in range(30))
DEPARTMENTS = (
    "electronics",
    "home",
    "fashion",
    "beauty",
    "sports",
    "toys",
    "books",
    "grocery",
    "garden",
    "auto",
)
CATEGORIES_PER_DEPARTMENT = 20
WORDS = tuple(
    [
        "best",
        "guide",
        "review",
        "new",
        "season",
        "care",
        "tips",
        "compare",
        "buying",
        "budget",
        "premium",
        "everyday",
        "quick",
        "easy",
        "smart",
        "classic",
        "modern",
        "light",
        "strong",
        "fresh",
        "green",
        "home",
        "travel",
        "family",
        "kids",
        "style",
    ]
)
ARTICLE_FORMATS = ("article", "review", "guide", "video")
GENERATION_CHUNK = 1_000_000  # events drawn per step; fixed, so --batch-size changes no row
DEFAULT_BATCH = 200_000
NULL = "\\N"  # COPY text format


@dataclass(frozen=True)
class Sizes:
    users: int
    items: int
    interactions: int
    follows: int
    articles: int
    ads: int = 0
    campaigns: int = 0
    advertisers: int = 0
    slots: int = 0
    offers: int = 0
    faq_entries: int = 0

    @classmethod
    def at(cls, scale: float, installed: set[str]) -> Sizes:
        """Counts at ``scale``; a scenario's own rows only where ``installed`` names it (an ad
        needs a campaign and an advertiser: at least one of each once there is an ad)."""
        count = {name: int(round(full * scale)) for name, full in FULL_SIZE.items()}
        ads = count["ads"] if "ads" in installed else 0
        return cls(
            users=max(count["users"], 2),
            items=max(count["items"], 1),
            interactions=max(count["interactions"], 1),
            follows=count["follows"] if "social" in installed else 0,
            articles=count["articles"] if "content" in installed else 0,
            ads=ads,
            campaigns=min(max(count["campaigns"], 1), ads),
            advertisers=min(max(count["advertisers"], 1), ads),
            slots=len(SLOTS) if ads else 0,
            offers=count["offers"] if "coupons" in installed else 0,
            faq_entries=count["faq_entries"] if "faq" in installed else 0,
        )


def zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities ``1 / rank**exponent`` (normalised), the ranks shuffled over ``n`` ids."""
    weights = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    weights /= weights.sum()
    return weights[rng.permutation(n)]


def draw(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    """``size`` ids drawn from the distribution whose cumulative sums are ``cdf``."""
    picked = np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right")
    return np.minimum(picked, len(cdf) - 1).astype(np.int32)


def events_per_user(n_users: int, n_events: int, exponent: float, rng) -> np.ndarray:
    """Zipf-weighted event counts summing to ``n_events``; each user gets one if there are
    enough events for everyone."""
    weights = zipf_weights(n_users, exponent, rng)
    floor = 1 if n_events >= n_users else 0
    return floor + rng.multinomial(n_events - floor * n_users, weights)


class Command(BaseCommand):
    help = "Generate a synthetic store with power-law popularity (--scale 1.0: 1M users)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            type=float,
            default=0.01,
            help="fraction of 1,000,000 users / 100,000 items / 20,000,000 events (default 0.01)",
        )
        parser.add_argument("--seed", type=int, default=0, help="same seed, same store")
        parser.add_argument(
            "--end",
            type=str,
            default="",
            help="last day of the history, YYYY-MM-DD (default: today, UTC)",
        )
        parser.add_argument("--days", type=int, default=90, help="days of history (default 90)")
        parser.add_argument("--item-exponent", type=float, default=1.0, help="Zipf, items")
        parser.add_argument("--user-exponent", type=float, default=0.5, help="Zipf, users")
        parser.add_argument(
            "--no-scenarios",
            action="store_true",
            help="catalog only: no articles, follows, ads, offers or FAQ entries",
        )
        parser.add_argument(
            "--append",
            action="store_true",
            help="write into a database that already holds users (ids carry the seed)",
        )
        parser.add_argument(
            "--batch-size", type=int, default=DEFAULT_BATCH, help="rows per COPY transaction"
        )
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def handle(self, *args, **options):
        scale, seed = options["scale"], options["seed"]
        if not 0 < scale <= 10:
            raise CommandError("--scale must be in (0, 10].")
        if options["days"] < 1 or options["batch_size"] < 1:
            raise CommandError("--days and --batch-size must be at least 1.")
        end = _end_of(options["end"])
        prefix = f"g{seed}-"
        if not options["append"] and User.objects.exists():
            raise CommandError(
                f"The database already holds {User.objects.count()} users; generate_store "
                "writes a fresh store. Use an empty database, or pass --append to add this one "
                "beside them."
            )
        if any(
            apps.is_installed(app)
            and apps.get_model(label).objects.filter(**{f"{field}__startswith": prefix}).exists()
            for app, label, field in SEEDED_KEYS
        ):
            raise CommandError(
                f"A store generated with --seed {seed} is already here (ids {prefix}...); "
                "pick another --seed to append."
            )
        missing = set(EVENT_TYPES) - set(EventType.objects.values_list("name", flat=True))
        if missing:
            raise CommandError(f"event types {sorted(missing)} are missing; run migrate first.")
        installed = set() if options["no_scenarios"] else {"content"}
        if not options["no_scenarios"]:
            installed |= {
                slug
                for slug in ("social", "ads", "coupons", "faq")
                if apps.is_installed(f"scenarios.{slug}")
            }
        sizes = Sizes.at(scale, installed)
        generator = StoreGenerator(
            sizes,
            seed=seed,
            end=end,
            days=options["days"],
            item_exponent=options["item_exponent"],
            user_exponent=options["user_exponent"],
            batch_size=options["batch_size"],
        )
        with tqdm(
            total=generator.total_rows(),
            unit="row",
            unit_scale=True,
            desc="generate_store",
            disable=options["no_progress"],
            file=self.stderr,
        ) as bar:
            counts = generator.write(bar)
        refresh_planner_statistics()
        self.stdout.write(
            f"Generated store (seed {seed}, scale {scale:g}, {counts['method']}): "
            f"{counts['users']} users, {counts['items']} products, {counts['articles']} "
            f"articles, {counts['interactions']} interactions, {counts['follows']} follows, "
            f"{counts['ads']} ads in {counts['campaigns']} campaigns, {counts['offers']} offers, "
            f"{counts['faq_entries']} FAQ entries; {generator.total_rows()} rows."
        )


def _end_of(text: str) -> datetime:
    if not text:
        today = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return today + timedelta(days=1)
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise CommandError(f"--end {text!r} is not a YYYY-MM-DD date.") from None
    return day + timedelta(days=1)


class StoreGenerator:
    """Draws the store's rows with one seeded generator and writes them table by table."""

    def __init__(self, sizes, *, seed, end, days, item_exponent, user_exponent, batch_size):
        self.sizes = sizes
        self.seed = seed
        self.prefix = f"g{seed}-"
        self.end = end
        self.start = end - timedelta(days=days)
        self.minutes = days * 24 * 60
        self.item_exponent = item_exponent
        self.user_exponent = user_exponent
        self.batch_size = batch_size
        self.copy = connection.vendor == "postgresql"
        self.now = timezone.now()

    def total_rows(self) -> int:
        s = self.sizes
        return (
            s.users
            + s.items
            + s.articles
            + s.interactions
            + s.follows
            + s.advertisers
            + s.campaigns
            + s.slots
            + s.ads
            + s.offers
            + s.faq_entries
            + self.faq_links()
        )

    def faq_links(self) -> int:
        """Product links of the FAQ entries: every fifth entry (category product) links 2."""
        return min(2, self.sizes.items) * len(range(0, self.sizes.faq_entries, 5))

    def external_ids(self, letter: str, n: int) -> list[str]:
        width = len(str(max(n - 1, 0)))
        return [f"{self.prefix}{letter}{k:0{width}d}" for k in range(n)]

    def pks(self, model, letter: str, n: int, field: str = "external_id") -> np.ndarray:
        """Primary keys of the generated rows in generation order (ids are zero-padded)."""
        pks = (
            model.objects.filter(**{f"{field}__startswith": f"{self.prefix}{letter}"})
            .order_by(field)
            .values_list("pk", flat=True)
        )
        found = np.fromiter(pks.iterator(chunk_size=50_000), dtype=np.int64)
        if len(found) != n:
            raise CommandError(f"wrote {n} {model.__name__} rows but found {len(found)}")
        return found

    # ---- the tables -------------------------------------------------------------------------
    def write(self, bar) -> dict:
        rng = np.random.default_rng([self.seed, 19])
        s = self.sizes
        user_pks = self.write_users(rng, bar)
        item_pks = self.write_items(rng, bar)
        self.write_articles(rng, bar)
        self.write_interactions(rng, user_pks, item_pks, bar)
        if s.follows:
            self.write_follows(rng, user_pks, bar)
        if s.ads:
            self.write_ads(rng, item_pks, bar)
        if s.offers:
            self.write_offers(rng, bar)
        if s.faq_entries:
            self.write_faq(rng, item_pks, bar)
        return {
            "method": "COPY" if self.copy else "bulk_create",
            "users": s.users,
            "items": s.items,
            "articles": s.articles,
            "interactions": s.interactions,
            "follows": s.follows,
            "ads": s.ads,
            "campaigns": s.campaigns,
            "offers": s.offers,
            "faq_entries": s.faq_entries,
        }

    def write_users(self, rng, bar) -> np.ndarray:
        n = self.sizes.users
        ids = self.external_ids("u", n)
        ages = rng.integers(len(AGE_BANDS), size=n)
        genders = rng.integers(len(GENDERS), size=n)
        places = rng.integers(len(LOCATIONS), size=n)
        rows = (
            (ids[k], AGE_BANDS[a], GENDERS[g], LOCATIONS[p])
            for k, (a, g, p) in enumerate(
                zip(ages.tolist(), genders.tolist(), places.tolist(), strict=True)
            )
        )
        if self.copy:
            stamp = self.now.isoformat()
            lines = (f"{i}\t{a}\t{g}\t{p}\t[]\t{{}}\t{stamp}\t{stamp}\n" for i, a, g, p in rows)
            columns = "external_id, age_band, gender, location, segments, attributes, "
            self._copy(User, columns + "created_at, updated_at", lines, n, bar)
        else:
            objects = (User(external_id=i, age_band=a, gender=g, location=p) for i, a, g, p in rows)
            self._bulk_create(User, objects, n, bar)
        return self.pks(User, "u", n)

    def write_items(self, rng, bar) -> np.ndarray:
        n = self.sizes.items
        ids = self.external_ids("i", n)
        departments = rng.integers(len(DEPARTMENTS), size=n)
        categories = rng.integers(CATEGORIES_PER_DEPARTMENT, size=n)
        prices = np.round(np.exp(rng.normal(3.2, 1.0, size=n)), 2)
        in_stock = rng.random(n) >= 0.03
        rows = [
            (ids[k], f"Product {k}", f"{DEPARTMENTS[d]}/cat{c:02d}", f"{price:.2f}", stock)
            for k, (d, c, price, stock) in enumerate(
                zip(
                    departments.tolist(),
                    categories.tolist(),
                    prices.tolist(),
                    in_stock.tolist(),
                    strict=True,
                )
            )
        ]
        self._write_items(rows, kind="product", descriptions=None, attributes=None, bar=bar)
        return self.pks(Item, "i", n)

    def write_articles(self, rng, bar) -> None:
        n = self.sizes.articles
        if not n:
            return
        ids = self.external_ids("a", n)
        departments = rng.integers(len(DEPARTMENTS), size=n)
        words = rng.integers(len(WORDS), size=(n, 12))
        formats = rng.integers(len(ARTICLE_FORMATS), size=n)
        ages = rng.integers(self.minutes, size=n)
        rows, descriptions, attributes = [], [], []
        for k in range(n):
            department = DEPARTMENTS[departments[k]]
            text = " ".join(WORDS[w] for w in words[k])
            rows.append((ids[k], f"{text.split()[0].title()} {department} {k}", department))
            descriptions.append(f"{department} {text}")
            published = self.start + timedelta(minutes=int(ages[k]))
            attributes.append(
                {
                    "published_at": published.isoformat(),
                    "format": ARTICLE_FORMATS[formats[k]],
                    "language": "en",
                    "author": f"author-{k % 97}",
                }
            )
        rows = [(i, title, f"{dept}/articles", "", True) for i, title, dept in rows]
        self._write_items(
            rows, kind="article", descriptions=descriptions, attributes=attributes, bar=bar
        )

    def _write_items(self, rows, *, kind, descriptions, attributes, bar) -> None:
        n = len(rows)
        descriptions = descriptions or [""] * n
        attributes = attributes or [{}] * n
        if self.copy:
            stamp = self.now.isoformat()
            lines = (
                f"{i}\t{kind}\t{title}\t{text}\t{category}\t[]\t{price or NULL}\t"
                f"{'t' if stock else 'f'}\tf\t{_copy_text(json.dumps(attrs))}\t{stamp}\t{stamp}\n"
                for (i, title, category, price, stock), text, attrs in zip(
                    rows, descriptions, attributes, strict=True
                )
            )
            columns = (
                "external_id, kind, title, description, category, tags, price, in_stock, "
                "is_hidden, attributes, created_at, updated_at"
            )
            self._copy(Item, columns, lines, n, bar)
        else:
            objects = (
                Item(
                    external_id=i,
                    kind=kind,
                    title=title,
                    description=text,
                    category=category,
                    price=price or None,
                    in_stock=stock,
                    attributes=attrs,
                )
                for (i, title, category, price, stock), text, attrs in zip(
                    rows, descriptions, attributes, strict=True
                )
            )
            self._bulk_create(Item, objects, n, bar)

    def write_interactions(self, rng, user_pks, item_pks, bar) -> None:
        n = self.sizes.interactions
        counts = events_per_user(len(user_pks), n, self.user_exponent, rng)
        cdf = np.cumsum(zipf_weights(len(item_pks), self.item_exponent, rng))
        type_cdf = np.cumsum(EVENT_SHARES)
        minute_text = self._minute_texts() if self.copy else None
        second_text = [f":{s:02d}+00" for s in range(60)]
        stamp = self.now.isoformat()
        owners = np.repeat(np.arange(len(user_pks), dtype=np.int32), counts)
        for first in range(0, n, GENERATION_CHUNK):
            size = min(GENERATION_CHUNK, n - first)
            users = user_pks[owners[first : first + size]]
            items = item_pks[draw(rng, cdf, size)]
            types = np.searchsorted(type_cdf, rng.random(size) * type_cdf[-1], side="right")
            types = np.minimum(types, len(EVENT_TYPES) - 1)
            seconds = rng.integers(self.minutes * 60, size=size)
            for low in range(0, size, self.batch_size):
                high = min(low + self.batch_size, size)
                part = slice(low, high)
                rows = zip(
                    users[part].tolist(),
                    items[part].tolist(),
                    types[part].tolist(),
                    seconds[part].tolist(),
                    strict=True,
                )
                if self.copy:
                    lines = (
                        f"{u}\t{i}\t{EVENT_TYPES[t]}\t\\N\t{minute_text[s // 60]}"
                        f"{second_text[s % 60]}\t{{}}\t\t\\N\t{stamp}\n"
                        for u, i, t, s in rows
                    )
                    columns = (
                        "user_id, item_id, event_type, value, timestamp, context, "
                        "recommendation_id, event_id, created_at"
                    )
                    self._copy(Interaction, columns, lines, high - low, bar)
                else:
                    objects = (
                        Interaction(
                            user_id=u,
                            item_id=i,
                            event_type=EVENT_TYPES[t],
                            timestamp=self.start + timedelta(seconds=s),
                        )
                        for u, i, t, s in rows
                    )
                    self._bulk_create(Interaction, objects, high - low, bar)

    def _minute_texts(self) -> list[str]:
        """``YYYY-MM-DD HH:MM`` for every minute of the history (formatting each event's
        timestamp apart would cost more than the COPY)."""
        return [
            (self.start + timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M")
            for m in range(self.minutes)
        ]

    def write_follows(self, rng, user_pks, bar) -> None:
        from scenarios.social.models import Follow

        n_users, wanted = len(user_pks), self.sizes.follows
        wanted = min(wanted, n_users * (n_users - 1))
        follower_cdf = np.cumsum(zipf_weights(n_users, self.user_exponent, rng))
        followee_cdf = np.cumsum(zipf_weights(n_users, self.item_exponent, rng))
        pairs = np.zeros(0, dtype=np.int64)
        for _ in range(50):  # popular pairs repeat: draw more until enough distinct ones
            missing = wanted - len(pairs)
            if missing <= 0:
                break
            size = int(missing * 1.3) + 16
            follower = draw(rng, follower_cdf, size).astype(np.int64)
            followee = draw(rng, followee_cdf, size).astype(np.int64)
            keep = follower != followee
            pairs = np.unique(np.r_[pairs, follower[keep] * n_users + followee[keep]])
        if len(pairs) < wanted:
            raise CommandError(f"could draw only {len(pairs)} distinct follows of {wanted}")
        pairs = np.sort(rng.choice(pairs, size=wanted, replace=False))
        followers = user_pks[pairs // n_users]
        followees = user_pks[pairs % n_users]
        seconds = rng.integers(self.minutes * 60, size=wanted)
        for low in range(0, wanted, self.batch_size):
            high = min(low + self.batch_size, wanted)
            part = slice(low, high)
            moments = (self.start + timedelta(seconds=int(s)) for s in seconds[part].tolist())
            if self.copy:
                lines = (
                    f"{a}\t{b}\t\t{moment.isoformat()}\n"
                    for a, b, moment in zip(
                        followers[part].tolist(), followees[part].tolist(), moments, strict=True
                    )
                )
                columns = "follower_id, followee_id, recommendation_id, timestamp"
                self._copy(Follow, columns, lines, high - low, bar)
            else:
                objects = (
                    Follow(follower_id=a, followee_id=b, timestamp=moment)
                    for a, b, moment in zip(
                        followers[part].tolist(), followees[part].tolist(), moments, strict=True
                    )
                )
                self._bulk_create(Follow, objects, high - low, bar)

    def write_ads(self, rng, item_pks, bar) -> None:
        """Advertisers, their campaigns (budgets, bids, some targeting), the slots, and ads on
        products drawn uniformly: each campaign advertises ``ads / campaigns`` products."""
        from scenarios.ads.inventory import bump_generation
        from scenarios.ads.models import Ad, Advertiser, Campaign, Slot

        s = self.sizes
        names = self.external_ids("advertiser-", s.advertisers)
        self._write_rows(Advertiser, [{"name": name} for name in names], bar)
        advertisers = self.pks(Advertiser, "advertiser-", s.advertisers, field="name")
        slots = [
            {"name": f"{self.prefix}{name}", "positions": positions, "reserve_price": price}
            for name, positions, price in SLOTS
        ]
        self._write_rows(Slot, slots, bar)
        owner = rng.integers(s.advertisers, size=s.campaigns)
        bids = np.round(rng.uniform(0.05, 2.0, size=s.campaigns), 2)
        daily = np.round(np.exp(rng.normal(4.0, 0.8, size=s.campaigns)), 0) + 5
        status = rng.choice(3, size=s.campaigns, p=(0.85, 0.10, 0.05))
        place = rng.integers(len(LOCATIONS), size=s.campaigns)
        department = rng.integers(len(DEPARTMENTS), size=s.campaigns)
        targeting = rng.random((s.campaigns, 2))
        campaigns = []
        for k, name in enumerate(self.external_ids("campaign-", s.campaigns)):
            campaigns.append(
                {
                    "advertiser_id": int(advertisers[owner[k]]),
                    "name": name,
                    "status": ("active", "paused", "ended")[status[k]],
                    "start": self.start,
                    "end": self.end + timedelta(days=60),
                    "daily_budget": f"{daily[k]:.2f}",
                    "total_budget": f"{daily[k] * 90:.2f}",
                    "bid_per_click": f"{bids[k]:.2f}",
                    "target_locations": [LOCATIONS[place[k]]] if targeting[k, 0] < 0.2 else [],
                    "target_categories": (
                        [DEPARTMENTS[department[k]]] if targeting[k, 1] < 0.3 else []
                    ),
                }
            )
        self._write_rows(Campaign, campaigns, bar)
        campaign_pks = self.pks(Campaign, "campaign-", s.campaigns, field="name")
        products = rng.integers(len(item_pks), size=s.ads)
        ads = [
            {
                "ad_id": ad_id,
                "campaign_id": int(campaign_pks[k % s.campaigns]),
                "creative_text": f"Product {products[k]}: today only",
                "item_id": int(item_pks[products[k]]),
            }
            for k, ad_id in enumerate(self.external_ids("ad", s.ads))
        ]
        self._write_rows(Ad, ads, bar)
        bump_generation()

    def write_offers(self, rng, bar) -> None:
        """Coupon offers of each discount type, budgets for ~100 redemptions at cost."""
        from scenarios.coupons.models import Offer

        n = self.sizes.offers
        kinds = rng.integers(len(DISCOUNTS), size=n)
        steps = rng.integers(1000, size=n)
        costs = np.round(rng.uniform(0.5, 10.0, size=n), 2)
        departments = rng.integers(len(DEPARTMENTS), size=n)
        scoped = rng.random(n) < 0.4
        offers = []
        for k, offer_id in enumerate(self.external_ids("o", n)):
            kind, values = DISCOUNTS[kinds[k]]
            value = values[steps[k] % len(values)]
            offers.append(
                {
                    "offer_id": offer_id,
                    "title": f"{value} {kind.replace('_', ' ')} offer {k}",
                    "discount_type": kind,
                    "discount_value": f"{value:.2f}",
                    "min_basket": f"{(steps[k] % 5) * 10:.2f}",
                    "eligible_categories": [DEPARTMENTS[departments[k]]] if scoped[k] else [],
                    "valid_from": self.start,
                    "valid_until": self.end + timedelta(days=60) if k % 3 else None,
                    "cost_per_redemption": f"{costs[k]:.2f}",
                    "total_budget": f"{costs[k] * 100:.2f}",
                }
            )
        self._write_rows(Offer, offers, bar)

    def write_faq(self, rng, item_pks, bar) -> None:
        """FAQ entries with two paraphrases each, one in ten in Chinese; every fifth is a
        product entry linked to two products."""
        from scenarios.faq.models import FaqEntry

        n = self.sizes.faq_entries
        words = rng.integers(len(WORDS), size=(n, 8))
        zh = rng.integers(len(FAQ_ZH), size=(n, 6))
        other = rng.integers(len(FAQ_CATEGORIES) - 1, size=n)  # every category but product
        entries = []
        for k, key in enumerate(self.external_ids("faq-", n)):
            category = "product" if k % 5 == 0 else FAQ_CATEGORIES[other[k]]
            if k % 10 == 3:
                topic = "".join(FAQ_ZH[w] for w in zh[k])
                question, paraphrases = f"{topic}怎么办?", [f"请问{topic}?", f"{topic}的问题"]
                answer, language = f"关于{topic}: 请查看帮助中心第{k}条。", "zh"
            else:
                topic = " ".join(WORDS[w] for w in words[k][:4])
                start = FAQ_STARTS[k % len(FAQ_STARTS)]
                question = f"{start} {topic} {category.replace('_', ' ')}?"
                paraphrases = [f"{topic} {category} question", f"help with {topic}"]
                answer = f"For {topic}: " + " ".join(WORDS[w] for w in words[k][4:]) + f" ({k})."
                language = "en"
            entries.append(
                {
                    "key": key,
                    "language": language,
                    "category": category,
                    "question": question,
                    "paraphrases": paraphrases,
                    "answer": answer,
                }
            )
        self._write_rows(FaqEntry, entries, bar)
        linked = self.pks(FaqEntry, "faq-", n, field="key")[::5]
        per_entry = min(2, len(item_pks))
        links = [
            {"faqentry_id": entry, "item_id": int(item_pks[product])}
            for entry in linked.tolist()
            for product in rng.choice(len(item_pks), size=per_entry, replace=False).tolist()
        ]
        self._write_rows(FaqEntry.linked_items.through, links, bar)

    # ---- the writers -----------------------------------------------------------------------
    def _write_rows(self, model, rows: list[dict], bar) -> None:
        """Rows given as ``{attname: value}``; the model's defaults fill the fields left out."""
        if not self.copy:
            self._bulk_create(model, (model(**row) for row in rows), len(rows), bar)
            return
        fields = [field for field in model._meta.concrete_fields if not field.primary_key]
        columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)

        def value(field, row):
            if field.attname in row:
                return row[field.attname]
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                return self.now
            return field.get_default()

        lines = (
            "\t".join(_copy_value(value(field, row)) for field in fields) + "\n" for row in rows
        )
        self._copy(model, columns, lines, len(rows), bar)

    def _copy(self, model, columns: str, lines, count: int, bar) -> None:
        """COPY ``lines`` (tab-separated text rows) into the model's table, in one transaction."""
        table = connection.ops.quote_name(model._meta.db_table)
        buffer = io.StringIO()
        written = 0
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for line in lines:
                buffer.write(line)
                written += 1
                if written % 20_000 == 0:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
                    bar.update(20_000)
            copy.write(buffer.getvalue())
        bar.update(written % 20_000)
        if written != count:
            raise CommandError(f"{model.__name__}: wrote {written} rows, expected {count}")

    def _bulk_create(self, model, objects, count: int, bar) -> None:
        batch = []
        with transaction.atomic():
            for obj in objects:
                batch.append(obj)
                if len(batch) == 2000:
                    model.objects.bulk_create(batch)
                    bar.update(len(batch))
                    batch = []
            model.objects.bulk_create(batch)
            bar.update(len(batch))


def _copy_value(value) -> str:
    """One field of a COPY text row."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | dict):
        return _copy_text(json.dumps(value, ensure_ascii=False))
    return _copy_text(str(value))


def _copy_text(value: str) -> str:
    """Escape a value for COPY's text format (backslash, tab, newline)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

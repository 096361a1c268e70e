"""A randomized coupon experiment whose true uplift is known, for the demo and the benchmark.

Each person is one of four hidden types, drawn from their behaviour (the features the model
sees) plus noise: persuadables (browse a lot, buy little) buy far more often with a coupon,
sure things (frequent buyers) buy anyway, lost causes (barely active) rarely buy either way,
and sleeping dogs (long-standing big spenders) are put off by promotions. An offer's strength
scales how far it moves persuadables and sleeping dogs. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scenarios.coupons.features import FEATURE_NAMES

TYPES = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog")
BASE_RATE = np.array([0.06, 0.55, 0.02, 0.45])  # P(buy | no coupon) per type
LIFT = np.array([0.40, 0.02, 0.01, -0.25])  # P(buy | coupon) - P(buy | no coupon) at strength 1

# The demo's offers: (offer_id, title, discount type, value, min basket, cost per redemption,
# strength). Cheaper offers move people less, so which one a person should get depends on them.
DEMO_OFFERS = (
    ("ship-free", "Free shipping", "free_shipping", 0, 20, 4.0, 0.45),
    ("ten-off", "10% off", "percent", 10, 30, 8.0, 0.75),
    ("twenty-off", "20 off 100", "amount", 20, 100, 20.0, 1.0),
)


@dataclass(frozen=True)
class Experiment:
    """One randomized campaign: each person got one offer (``offer``) or was held out."""

    types: np.ndarray  # int [people], index into TYPES
    true_uplift: np.ndarray  # [people, offers]
    true_p_treated: np.ndarray  # [people, offers]
    offer: np.ndarray  # int [people]: the offer given, or the one a held-out person would get
    treated: np.ndarray  # bool [people]
    converted: np.ndarray  # bool [people]


def _type_scores(features: np.ndarray) -> np.ndarray:
    """How well each person's behaviour fits each type, [people, types]."""
    column = {name: features[:, i] for i, name in enumerate(FEATURE_NAMES)}

    def z(values):
        return (values - values.mean()) / max(values.std(), 1e-9)

    views, purchases = z(column["log_views"]), z(column["log_purchases"])
    spend, recency = z(column["log_spend"]), z(column["days_since_last_event"])
    tenure = z(column["days_since_first_event"])
    return np.column_stack(
        [
            1.5 * views - 1.5 * purchases,  # browses, does not buy
            2.0 * purchases - 0.8 * recency,  # buys, and recently
            -1.5 * views + 1.5 * recency,  # barely there
            1.2 * spend + 1.0 * tenure - 0.5 * views,  # loyal big spenders
        ]
    )


def hidden_types(features: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A type per person, likelier where their behaviour fits it (softmax of noisy scores)."""
    scores = _type_scores(features) + rng.gumbel(size=(len(features), len(TYPES)))
    return scores.argmax(axis=1)


def type_probabilities(features: np.ndarray) -> np.ndarray:
    """P(type | behaviour), [people, types]: the softmax the Gumbel draw samples from."""
    scores = _type_scores(features)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def behaviour_response(features: np.ndarray, strength: np.ndarray):
    """(P(buy | offered), uplift) each [people, offers] as best known from behaviour alone:
    the hidden-type responses weighted by P(type | behaviour). The ceiling of any model that,
    like ours, sees only behaviour (the types' own draw is noise to it)."""
    probabilities = type_probabilities(features)
    uplift = (probabilities @ LIFT)[:, None] * strength[None, :]
    return (probabilities @ BASE_RATE)[:, None] + uplift, uplift


def true_response(types: np.ndarray, strength: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P(buy | offered), uplift), each [people, offers]."""
    base = BASE_RATE[types][:, None]
    treated = np.clip(base + LIFT[types][:, None] * strength[None, :], 0.0, 1.0)
    return treated, treated - base


def run_experiment(
    features: np.ndarray, strength: np.ndarray, rng: np.random.Generator, holdout: float = 0.5
) -> Experiment:
    """Hold out ``holdout`` of the people at random, give the rest a random offer, draw who buys."""
    types = hidden_types(features, rng)
    p_treated, uplift = true_response(types, strength)
    people = len(features)
    offer = rng.integers(0, len(strength), size=people)
    treated = rng.random(people) >= holdout
    rows = np.arange(people)
    probability = np.where(treated, p_treated[rows, offer], BASE_RATE[types])
    converted = rng.random(people) < probability
    return Experiment(types, uplift, p_treated, offer, treated, converted)


def synthetic_features(people: int, rng: np.random.Generator) -> np.ndarray:
    """Behaviour rows shaped like a store's (for the benchmark, which has no database)."""
    activity = rng.lognormal(1.5, 1.0, people)
    views = rng.poisson(activity * 4)
    carts = rng.binomial(views, 0.15)
    purchases = rng.binomial(carts, rng.beta(2, 3, people))
    spend = purchases * rng.lognormal(3.5, 0.6, people)
    tenure = rng.uniform(1, 365, people)
    recency = np.minimum(tenure, rng.exponential(30 / np.sqrt(activity)))
    return np.column_stack(
        [
            np.log1p(views),
            np.log1p(carts),
            np.log1p(purchases),
            np.log1p(spend),
            np.where(views > 0, recency, 365.0),
            np.where(views > 0, tenure, 0.0),
            purchases / (views + 1.0),
        ]
    ).astype(np.float64)

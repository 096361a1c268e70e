"""Is the treatment arm better? A two-proportion z-test per outcome, with a 95% interval.

The unit is a response (one recommendation list served): its outcome is whether any event
quoting its recommendation id was a click (or a conversion). Counting responses rather than
events keeps each unit a yes/no trial, as the test assumes; a list clicked three times counts
once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm

# Below this many responses in either arm the normal approximation is too rough to call.
MIN_RESPONSES = 100
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Comparison:
    """Treatment against control on one outcome; rates are shares of responses."""

    outcome: str
    control_rate: float
    treatment_rate: float
    difference: float  # treatment - control
    interval: tuple[float, float]  # CONFIDENCE interval of the difference
    p_value: float | None  # None while either arm has fewer than MIN_RESPONSES
    verdict: str

    def summary(self) -> str:
        rates = (
            f"{self.outcome}: control {self.control_rate:.2%}, treatment {self.treatment_rate:.2%}"
        )
        if self.p_value is None:
            return f"{rates}. {self.verdict}"
        low, high = (100 * bound for bound in self.interval)
        return (
            f"{rates} ({100 * self.difference:+.2f} points, {CONFIDENCE:.0%} interval "
            f"{low:+.2f} to {high:+.2f}), p = {self.p_value:.3g}: {self.verdict}"
        )


def compare_arms(
    outcome: str, control_hits: int, control_n: int, treatment_hits: int, treatment_n: int
) -> Comparison:
    """Two-sided pooled z-test of equal rates and the unpooled (Wald) interval of the gap."""
    if not (0 <= control_hits <= control_n and 0 <= treatment_hits <= treatment_n):
        raise ValueError("hits must be between 0 and the number of responses in each arm")
    control = control_hits / control_n if control_n else 0.0
    treatment = treatment_hits / treatment_n if treatment_n else 0.0
    difference = treatment - control
    if min(control_n, treatment_n) < MIN_RESPONSES:
        verdict = f"collecting data (each arm needs {MIN_RESPONSES} responses)"
        return Comparison(outcome, control, treatment, difference, (math.nan,) * 2, None, verdict)
    pooled = (control_hits + treatment_hits) / (control_n + treatment_n)
    null_error = math.sqrt(pooled * (1 - pooled) * (1 / control_n + 1 / treatment_n))
    p_value = 2 * norm.sf(abs(difference) / null_error) if null_error > 0 else 1.0
    error = math.sqrt(
        control * (1 - control) / control_n + treatment * (1 - treatment) / treatment_n
    )
    margin = norm.ppf(0.5 + CONFIDENCE / 2) * error
    if p_value >= 1 - CONFIDENCE:
        verdict = "no significant difference"
    else:
        verdict = "treatment better" if difference > 0 else "control better"
    return Comparison(
        outcome,
        control,
        treatment,
        difference,
        (difference - margin, difference + margin),
        float(p_value),
        verdict,
    )


# Outcomes compared between arms: (label, key of engine.serving.arm_stats counting responses).
OUTCOMES = (
    ("responses clicked", "clicked_responses"),
    ("responses converted", "converted_responses"),
)


def compare_outcomes(control: dict, treatment: dict) -> list[Comparison]:
    """Every outcome of two arms' ``arm_stats``, treatment against control."""
    return [
        compare_arms(
            label, control[key], control["impressions"], treatment[key], treatment["impressions"]
        )
        for label, key in OUTCOMES
    ]

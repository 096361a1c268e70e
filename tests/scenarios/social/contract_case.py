"""The engine contract's case for social: two follow rings on the planted store (the phone
buyers p1-p6, the book buyers b1-b6), each person following the next two of their ring."""

from tests.engine.contract_cases import Case

# Tiny and quick: the contract checks the plumbing, bench/social.py the quality. Naming the
# model turns the model search off (tests/engine/planted.configure).
FAST = {"model": "people_ranker", "hyperparameters": {"dim": 4, "epochs": 1, "batch_size": 256}}


def seed_rings():
    from catalog.models import User
    from scenarios.social.models import Follow

    users = {user.external_id: user for user in User.objects.all()}
    follows = []
    for group in ("p", "b"):
        for n in range(6):
            for step in (1, 2):
                follows.append(
                    Follow(
                        follower=users[f"{group}{n + 1}"],
                        followee=users[f"{group}{(n + step) % 6 + 1}"],
                    )
                )
    Follow.objects.bulk_create(follows)


def follow_first(client, body, user_id):
    return client.post(
        "/api/v1/social/follows",
        {
            "follower_id": user_id,
            "followee_id": body["items"][0]["user_id"],
            "recommendation_id": body["recommendation_id"],
        },
        format="json",
    )


CASE = Case(
    query={"user_id": "p1", "n": 3},
    bad=[{"n": 3}, {"user_id": "p1", "n": 0}, {"user_id": "p1", "n": "many"}],
    feedback=follow_first,
    seed=seed_rings,
    settings=FAST,
)

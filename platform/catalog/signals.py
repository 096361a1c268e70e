"""Signals the catalog sends so other apps can drop derived data without catalog importing them.

- ``user_erased(sender, user_id)``: after DELETE /users/{user_id}; ``user_id`` is the external id.
- ``item_hidden(sender, item_id)``: after DELETE /items/{item_id}; ``item_id`` is the external id.
- ``events_ingested(sender, user_ids, item_ids, count)``: after a POST /events commits.
"""

from django.dispatch import Signal

user_erased = Signal()
item_hidden = Signal()

# After events are committed: user_ids and item_ids (external ids) and the number stored.
events_ingested = Signal()

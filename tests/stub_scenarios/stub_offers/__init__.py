"""USER_OFFERS stub: offers ranked by how much more often they are redeemed than average."""

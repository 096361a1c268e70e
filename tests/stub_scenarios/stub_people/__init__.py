"""USER_USERS stub: people to follow ranked by common neighbours in the follow graph."""

"""The content scenario: a personal feed of articles, reviews and buying guides, and the
articles related to a product."""

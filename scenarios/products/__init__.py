"""The products scenario: personalised product lists, similar items, baskets and trending."""

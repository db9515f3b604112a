"""Recommender models (issue 16): the account-wide RecommenderConfiguration resources (validate.py, store.py) and
the built-in recommender learned from PutEvents (builtin.py). See docs/recommenders.md for what exists so far."""

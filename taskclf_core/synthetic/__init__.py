"""Synthetic taskclf teams: people, their blocks of work, the feature rows and label spans
they produce, in scenarios (``default``, ``drift``, ``noisy``, ``sparse``) and schemas v1-v3.

Above ``taskclf_core.data`` (it writes taskclf's data layout); nothing in the library's
retrain path imports it: the CLI, the Retrain page and the tests ask for a team.
"""

"""Who acts, with which role, and whose sign-offs a change needs (pure models and rules).

A low layer (beside ``fs`` and ``paths``): the registry records identities and approvals
in its history, and the console checks roles, so neither may be above the other. Nothing
here reads or writes files, and nothing here knows about Streamlit: the app turns
``st.user`` into an :class:`~taskclf_core.access.identity.Identity` itself.
"""

"""A connection's life after onboarding: renewal, repair, export and offboarding.

- :mod:`.renew`: a new certificate with ``addKey``/``removeKey``, no admin sign-in.
- :mod:`.repair`: one admin sign-in fixes what an admin can fix.
- :mod:`.export`: the PFX the backup service needs.
- :mod:`.offboard`: the app deleted in the tenant, then the local profile.
"""

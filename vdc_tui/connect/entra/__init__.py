"""What we read and change in a customer's tenant, shared by every flow.

Onboarding, renewal, repair and offboarding all build on these pieces:

- :mod:`.tenant`: the first batch of reads and its checks (admin, tenant, resources).
- :mod:`.application`: finding, creating and changing the app registration; key rotation.
- :mod:`.principal`: the app's service principal.
- :mod:`.grants`: app-role assignments and the directory role.
- :mod:`.verification`: app-only tokens polled until they carry every permission.
- :mod:`.proof`: the proof-of-possession token of ``addKey``/``removeKey``.
- :mod:`.services`: which services the tenant has.
- :mod:`.journal`: the record written before each create or change.
- :mod:`.pacing`: the time limits and the backoff between tries.
"""

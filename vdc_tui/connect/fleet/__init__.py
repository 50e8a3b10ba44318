"""The fleet's health: one tenant's app-only checks, the bounded run over all, their results.

- :mod:`.check`: :class:`~.check.HealthChecker`, one tenant's checks.
- :mod:`.health`: the results, the verdict, the remedies and the last result per tenant
  (light: the dashboard reads it before its first frame).
- :mod:`.run`: :class:`~.run.FleetCheck`, the concurrent run, its summary and OpenMetrics.
"""

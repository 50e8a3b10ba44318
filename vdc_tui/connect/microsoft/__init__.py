"""Talking to Microsoft: clouds and endpoints, TLS and HTTP, Graph, tenant discovery, sign-in.

Nothing here knows a profile, a flow or a screen: it is the protocol layer every flow uses.

- :mod:`.clouds`: the clouds, their hosts and scopes.
- :mod:`.http`: TLS settings, the httpx clients and MSAL's HTTP adapter.
- :mod:`.graph`: the Graph client (retries, typed errors, ``$batch``).
- :mod:`.answers`: reading a ``$batch`` answer; what a Graph error means.
- :mod:`.discovery`: a tenant's id and cloud from a domain or an email.
- :mod:`.identity`: MSAL (device code, certificate credentials) and AADSTS meanings.
"""

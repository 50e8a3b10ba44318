"""What this machine keeps: the home folder, connection profiles and keys at rest.

- :mod:`.home`: the home folder (light: the command line needs it before the first frame).
- :mod:`.profiles`: :class:`~.profiles.ProfileStore`, the saved connections.
- :mod:`.fsutil`: atomic writes and private folders.
- :mod:`.keystore`: the store passphrase and the encrypted PFX files.
"""

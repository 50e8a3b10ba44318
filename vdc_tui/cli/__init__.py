"""The ``vdc-tui`` command line: the wizard launcher and the headless sub-commands.

Nothing here imports MSAL, cryptography or Textual at module level: the wizard's first frame
must not wait for them, and ``vdc-tui --help`` should be instant.
"""

"""The connection service layer: async, UI-free (it never imports Textual).

See ``docs/architecture.md`` for the modules and their interfaces; the TUI and the command
line use :class:`vdc_tui.connect.service.ConnectionService` only.
"""

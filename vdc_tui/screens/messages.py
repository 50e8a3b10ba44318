"""Messages the wizard's screens post to themselves."""

from __future__ import annotations

from textual.message import Message

from vdc_tui.connect.models import CheckEvent


class Progress(Message, bubble=False):
    """One checklist event from the service layer (posted from any thread)."""

    def __init__(self, event: CheckEvent) -> None:
        super().__init__()
        self.event = event

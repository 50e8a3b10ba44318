"""What the tests share: command runs and their fixtures (``commands``), profile and result
factories (``factories``), a pseudo-terminal (``terminals``), emulator helpers
(``emulator``), lifecycle set-ups (``lifecycle``), automatic-mode set-ups
(``provisioning``) and the TUI's fake service (``fakes``). Tests import these by name
(``from support.factories import …``), never another folder's conftest."""

"""vdc-tui: connect a Microsoft 365 tenant to Veeam Data Cloud from a terminal."""

__version__ = "0.1.0"

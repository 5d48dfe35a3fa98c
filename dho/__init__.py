"""Digital Health Observatory: one linked platform for the Global Strategy on Digital Health."""

__version__ = "0.1.0"

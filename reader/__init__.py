"""An offline reading aid: documents read aloud by on-device neural voices."""

__version__ = "0.1.0"

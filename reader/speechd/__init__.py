"""The speech-dispatcher output module (`reader-speechd`), so screen readers speak with the reader's voices."""

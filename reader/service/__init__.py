"""The resident speech service: `reader serve`, its protocol and its clients."""

"""The repository's tests: tramproof's pytest plugin (loaded here even when tramproof is
not installed; installed, its entry point loads it first) and the hypothesis profile of
the session (tramproof/profiles.py says which)."""

from tramproof import profiles

pytest_plugins = ["tramproof.plugin"]

profiles.load()

"""Inside the repository, the tramproof pytest plugin is loaded even when
tramproof is not installed (installed, its entry point loads it first)."""

pytest_plugins = ["tramproof.plugin"]

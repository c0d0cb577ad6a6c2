"""The repository's tests: tramproof's pytest plugin (loaded here even when tramproof is
not installed; installed, its entry point loads it first: --kernel, --variant), the
hypothesis profile of the session (tramproof/profiles.py says which), and the citation
test's --reference, which only this repository's tests use."""

from tramproof import profiles

pytest_plugins = ["tramproof.plugin"]

profiles.load()


def pytest_addoption(parser):
    # the citation test's kernel trees (properties/citations.py)
    parser.getgroup("tramproof").addoption(
        "--reference",
        metavar="DIR",
        help="the folder of kernel trees the model cites (default: $TRAMPROOF_REFERENCE, "
        "else ../shared/reference beside the project)",
    )

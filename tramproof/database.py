"""The example database of a fuzzing run: a directory, a redis server, or none.

Hypothesis drops an entry it cannot decode; a fleet of nightly machines
should neither crash on one nor lose it quietly, so entries are checked on
the way in: a corrupt or foreign one is skipped with a warning and left
where it is.  A database that stops answering mid-run (a redis server gone,
a full disk) is no failure of the kernel: its error is kept as ``fault``
and raised as DatabaseFault, which the run reports as an answer it could
not give.
"""

from pathlib import Path

from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    choices_from_bytes,
)


class DatabaseError(ValueError):
    """An example database that cannot be opened."""


class DatabaseFault(Exception):
    """The example database failed under a run (not the kernel)."""


class CheckedDatabase(ExampleDatabase):
    """Another database, minus the entries hypothesis could not decode (each warned once);
    its first error is kept in ``fault``."""

    def __init__(self, inner, warn, name):
        super().__init__()
        self.inner = inner
        self.warn = warn
        self.name = name
        self.warned = set()
        self.fault = ""

    def failed(self, doing, error):
        self.fault = self.fault or f"the example database {self.name} failed {doing}: {error}"
        return DatabaseFault(self.fault)

    def fetch(self, key):
        try:
            values = list(self.inner.fetch(key))
        except Exception as error:  # an unreadable directory, a dropped connection
            raise self.failed("reading entries", error) from None
        for value in values:
            if choices_from_bytes(value) is not None:
                yield value
            elif (key, value) not in self.warned:
                self.warned.add((key, value))
                self.warn(
                    f"example database: skipped a corrupt or foreign entry "
                    f"({len(value)} bytes under key {key.hex()[:16]}...), left in place"
                )

    def save(self, key, value):
        try:
            self.inner.save(key, value)
        except Exception as error:
            raise self.failed("saving an entry", error) from None

    def delete(self, key, value):
        try:
            self.inner.delete(key, value)
        except Exception as error:
            raise self.failed("deleting an entry", error) from None

    def move(self, src, dest, value):
        try:
            self.inner.move(src, dest, value)
        except Exception as error:
            raise self.failed("moving an entry", error) from None


def open_database(spec, warn):
    """The database ``spec`` names: ``none``, ``redis://host:port[/db]`` or a directory.

    DatabaseError when it cannot be used, before any example runs.
    """
    if spec in (None, "", "none"):
        return None
    if spec.startswith("redis://"):
        try:
            import redis
            from hypothesis.extra.redis import RedisExampleDatabase
        except ImportError:
            raise DatabaseError("--db redis://... needs the redis package") from None
        # bounded waits: a server that hangs is a fault, not a hang of the run
        client = redis.Redis.from_url(spec, socket_timeout=10, socket_connect_timeout=5)
        try:
            client.ping()
        except redis.RedisError as error:
            raise DatabaseError(f"cannot reach the example database at {spec}: {error}") from None
        return CheckedDatabase(RedisExampleDatabase(client), warn, spec)
    path = Path(spec)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatabaseError(f"cannot use {spec} as an example database: {error}") from None
    return CheckedDatabase(DirectoryBasedExampleDatabase(path), warn, spec)

"""The example database of a fuzzing run: a directory, a redis server, or none.

Hypothesis drops an entry it cannot decode; a fleet of nightly machines
should neither crash on one nor lose it quietly, so entries are checked on
the way in: a corrupt or foreign one is skipped with a warning and left
where it is.
"""

from pathlib import Path

from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    choices_from_bytes,
)


class DatabaseError(ValueError):
    """An example database that cannot be opened."""


class CheckedDatabase(ExampleDatabase):
    """Another database, minus the entries hypothesis could not decode (each warned once)."""

    def __init__(self, inner, warn):
        super().__init__()
        self.inner = inner
        self.warn = warn
        self.warned = set()

    def fetch(self, key):
        try:
            values = list(self.inner.fetch(key))
        except Exception as error:  # an unreadable directory, a dropped connection
            self.warn(f"example database: cannot read entries ({error}); none replayed")
            return
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
        self.inner.save(key, value)

    def delete(self, key, value):
        self.inner.delete(key, value)

    def move(self, src, dest, value):
        self.inner.move(src, dest, value)


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
        client = redis.Redis.from_url(spec)
        try:
            client.ping()
        except redis.RedisError as error:
            raise DatabaseError(f"cannot reach the example database at {spec}: {error}") from None
        return CheckedDatabase(RedisExampleDatabase(client), warn)
    path = Path(spec)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatabaseError(f"cannot use {spec} as an example database: {error}") from None
    return CheckedDatabase(DirectoryBasedExampleDatabase(path), warn)

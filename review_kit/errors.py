"""The review-kit exception tree: every error a user can cause is a ReviewKitError."""
from __future__ import annotations


class ReviewKitError(Exception):
    """Base of every error review-kit raises on purpose; the CLI shows it as one line, exit 2."""

    exit_code = 2

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: in a notebook, too, one line.
        return [f"{type(self).__name__}: {self}"]


class InputError(ReviewKitError):
    """Bad input: names the file, the place in it and what was wrong.

    >>> str(InputError("pd.json", "$.log_entries[3].created_at", "timestamp has no zone"))
    'pd.json: $.log_entries[3].created_at: timestamp has no zone'
    """

    def __init__(self, path: str | None, where: str | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.where = where
        self.problem = problem
        super().__init__(path, where, problem)

    def __str__(self) -> str:
        parts = [p for p in (self.path, self.where) if p]
        one_line = " ".join(str(self.problem).split())
        return ": ".join([*parts, one_line])

    def at(self, path: str | None = None, where: str | None = None) -> "InputError":
        """The same problem, placed in a file and/or a location once the caller knows them."""
        return type(self)(path or self.path, where or self.where, self.problem)


class TimestampError(InputError):
    """A timestamp that cannot be read, or that has no zone and none was named."""


class UnknownLoaderError(ReviewKitError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(name, known)

    def __str__(self) -> str:
        return f"no loader named {self.name!r}; known: {', '.join(sorted(self.known))}"


class StoreError(ReviewKitError):
    """The store cannot be used as asked (wrong version, missing incident, bad URL)."""


class SchemaVersionError(StoreError):
    def __init__(self, found: int, supported: int, url: str) -> None:
        self.found, self.supported, self.url = found, supported, url
        super().__init__(found, supported, url)

    def __str__(self) -> str:
        if self.found > self.supported:
            return (f"{self.url}: store schema version {self.found} is newer than this "
                    f"review-kit understands ({self.supported}); upgrade review-kit")
        return (f"{self.url}: store schema version {self.found} is older than "
                f"{self.supported}; run `review-kit migrate`")


class UnknownIncidentError(StoreError):
    def __init__(self, incident_id: str) -> None:
        self.incident_id = incident_id
        super().__init__(incident_id)

    def __str__(self) -> str:
        return f"no incident {self.incident_id!r} in the store"


class NotebookRunError(ReviewKitError):
    """A papermill run failed; carries the notebook and the failing cell's error."""

    def __init__(self, notebook: str, error: str) -> None:
        self.notebook, self.error = notebook, error
        super().__init__(notebook, error)

    def __str__(self) -> str:
        return f"{self.notebook}: notebook failed: {self.error}"

"""The one error every importer raises: which field of the source document, and why it cannot be imported."""

from __future__ import annotations


class ImportProblem(ValueError):
    """A source document that cannot become kpi.dev objects.

    ``path`` names the field in the *source* format's own spelling (``slos[1].sli.plugin``,
    ``spec.budgetingMethod``), so a person can find it in the file they wrote; ``message`` says why and, where
    there is one, what to do instead.
    """

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def join(path: str, child: str | int) -> str:
    """``spec`` + ``slos`` -> ``spec.slos``; ``spec.slos`` + ``0`` -> ``spec.slos[0]``."""
    if isinstance(child, int):
        return f"{path}[{child}]"
    return f"{path}.{child}" if path else child

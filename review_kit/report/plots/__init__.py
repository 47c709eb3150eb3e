"""Matplotlib figures for the retrospective and the trends (timeline swimlanes, distributions)."""
from __future__ import annotations

import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


class DisplayFigure(Figure):
    """A Figure that shows itself as PNG in Jupyter even when pyplot (and with it the inline
    backend's formatter) was never imported, as in a notebook that only calls review_kit.

    It draws with Agg from the start, so ``fig.canvas.draw()`` renders for real, headless.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        FigureCanvasAgg(self)

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, facecolor="white")
        return buffer.getvalue()

"""Textual's NO_COLOR filter, for segments without a style too.

With NO_COLOR set, Textual turns every colour grey through its Monochrome line filter, which reads
each segment's style; the empty lines textual-plot's canvases draw (`Strip.blank(0)`) have none,
so the filter raised and the Trends screen crashed the app. Here such a segment gets a plain style
first."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import Monochrome

_PLAIN = Style()


class SafeMonochrome(Monochrome):
    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        return super().apply([seg if seg.style is not None else Segment(seg.text, _PLAIN, seg.control)
                              for seg in segments], background)

"""A SelectionList whose boxes say their state in the glyph, not only in colour.

Textual draws `▐X▌` for a checked and an unchecked item alike and tells them apart by colour
alone, which a no-colour terminal (NO_COLOR, a screen reader, a copied screen) loses. Here an
unchecked box is drawn empty: `▐ ▌`.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import Checkbox, SelectionList
from textual.widgets.option_list import OptionDoesNotExist

_CHECKED = Checkbox.BUTTON_INNER  # the glyph SelectionList draws for both states (a toggle button's)
_UNCHECKED = " " * len(_CHECKED)


class CheckList(SelectionList[str]):
    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        try:
            selection = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:  # below the last option: a blank line
            return strip
        segments = list(strip)
        if selection.value in self.selected or len(segments) < 2 or segments[1].text != _CHECKED:
            return strip
        segments[1] = Segment(_UNCHECKED, segments[1].style)
        return Strip(segments, strip.cell_length)

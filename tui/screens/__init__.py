"""One module (and one .tcss) per screen or dialog."""

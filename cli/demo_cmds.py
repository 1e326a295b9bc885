"""(commands registered by their issue)"""

import click


def register(cli: click.Group) -> None:
    pass

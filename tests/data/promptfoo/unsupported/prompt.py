"""A promptfoo prompt function: code, so never imported (the test checks it is refused)."""


def prompt(context):
    return "never called"

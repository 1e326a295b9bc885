"""The headless CLI: parse, call core, print. Data on stdout, messages on stderr."""

"""The `rbc` command line: thin sub-commands over the library."""

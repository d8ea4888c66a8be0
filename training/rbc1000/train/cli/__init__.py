"""The `rbc-train` command line: thin sub-commands over the library."""

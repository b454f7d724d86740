"""The command line and the terminal console."""

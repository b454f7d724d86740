"""Tables, repositories and migrations: every fact is written here before it is shown."""

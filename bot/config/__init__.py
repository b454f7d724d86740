"""The shape of preprod.yml and its loader: key paths, YAML lines, ${VAR} secrets."""

"""The Slack workspace the tests play in: the releases channel and its people."""

CHANNEL = "C0RELEASES"
USERS = {
    "U0RM": "rita-release-manager",
    "U0SRE1": "sam-sre",
    "U0SRE2": "sue-sre",
    "U0SEC1": "sid-security",
    "U0OUT": "olga-outsider",
}

"""preprod: pre-production validation and go/no-go sign-offs."""

__version__ = "0.1.0"

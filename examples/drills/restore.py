"""Backup-restore drill: back up, lose everything, restore from the backup."""

from examples.drills._ops import call

if __name__ == "__main__":
    backup = call("POST", "/ops/backup")["backup"]
    call("POST", "/ops/wipe")
    call("POST", "/ops/restore", {"backup": backup})

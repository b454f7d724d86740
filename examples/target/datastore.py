"""A small key-value store with backups, for the backup-restore drill.

Records live in memory with the time they were written; a backup is a snapshot kept in
memory under an id. Two defect switches reach here: ``restore-loses-data`` takes backups
from a replica that lags ``REPLICA_LAG_S`` behind (the newest writes are not in them),
and ``health-degraded`` reports that lag in the store's health.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

REPLICA_LAG_S = 30.0
MAX_KEYS = 1000
MAX_VALUE_BYTES = 16 * 1024


@dataclass
class Record:
    value: object
    written: float


@dataclass
class DataStore:
    """The records, the backups taken of them, and the replica the backups read from."""

    lagging_replica: bool = False
    """``restore-loses-data``: backups miss the writes of the last ``REPLICA_LAG_S``."""
    degraded: bool = False
    """``health-degraded``: the replica is far behind and the store says so."""
    records: dict[str, Record] = field(default_factory=dict)
    backups: dict[str, dict[str, Record]] = field(default_factory=dict)
    last_backup: float | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def health(self) -> str:
        return f"replica {REPLICA_LAG_S * 1.5:g} s behind" if self.degraded else "ok"

    def backup(self) -> str:
        now = time.time()
        horizon = now - REPLICA_LAG_S if self.lagging_replica else now
        snapshot = {k: r for k, r in self.records.items() if r.written <= horizon}
        backup_id = f"b{next(self._ids)}"
        self.backups[backup_id] = snapshot
        while len(self.backups) > 10:
            self.backups.pop(next(iter(self.backups)))
        self.last_backup = now
        return backup_id

    def restore(self, backup_id: str) -> bool:
        if backup_id not in self.backups:
            return False
        self.records = dict(self.backups[backup_id])
        return True

    def routes(self) -> list[Route]:
        return [
            Route("/store/{key}", self.get, methods=["GET"]),
            Route("/store/{key}", self.put, methods=["PUT"]),
            Route("/ops/backup", self.post_backup, methods=["POST"]),
            Route("/ops/restore", self.post_restore, methods=["POST"]),
            Route("/ops/wipe", self.post_wipe, methods=["POST"]),
        ]

    async def get(self, request: Request) -> Response:
        key = request.path_params["key"]
        if (record := self.records.get(key)) is None:
            return JSONResponse({"error": f"no record {key}"}, status_code=404)
        return JSONResponse({"key": key, "value": record.value})

    async def put(self, request: Request) -> Response:
        key = request.path_params["key"]
        body = await request.body()
        if len(body) > MAX_VALUE_BYTES or len(key) > 200:
            return JSONResponse({"error": "too large"}, status_code=413)
        if key not in self.records and len(self.records) >= MAX_KEYS:
            return JSONResponse({"error": "store full"}, status_code=507)
        try:
            value = await request.json()
        except ValueError:
            return JSONResponse({"error": "expected a JSON body"}, status_code=400)
        self.records[key] = Record(value, time.time())
        return JSONResponse({"key": key, "stored": True})

    async def post_backup(self, request: Request) -> Response:
        return JSONResponse({"backup": self.backup(), "records": len(self.records)})

    async def post_restore(self, request: Request) -> Response:
        try:
            backup_id = str((await request.json())["backup"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": 'expected {"backup": "<id>"}'}, status_code=400)
        if not self.restore(backup_id):
            return JSONResponse({"error": f"no backup {backup_id}"}, status_code=404)
        return JSONResponse({"restored": backup_id, "records": len(self.records)})

    async def post_wipe(self, request: Request) -> Response:
        self.records.clear()
        return JSONResponse({"wiped": True})

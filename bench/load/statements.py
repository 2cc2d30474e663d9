"""Database round trips per request of each load scenario, counted in-process.

    python -m bench.load.statements [--app-root PATH] [--show]

Builds the app on the load database (`homework_bench_load`, left by
`python -m bench.load.run_load --keep-db`) exactly as `serve` does, sends each app scenario's
first requests through ASGI (httpx's ASGITransport) and counts what reaches PostgreSQL: every
statement, plus the BEGIN and COMMIT/ROLLBACK that SQLAlchemy's asyncpg adapter actually
sends (a write's transaction begins at its first write, so a request that sends its one write
alone sends neither). The pool's pre-ping (one more round trip per checkout) is not counted.
The read-audit group commit's INSERT is counted apart ("+1 audit"): it is one statement per
batch, shared by the concurrent requests whose rows it holds. Each scenario's first three
requests are sent (three callers: the principal check reads each one's row), then the first
again ("again": within PRINCIPAL_CACHE_SECONDS, the check is answered from memory). `--show`
lists the statements of that last request.
"""

import argparse
import asyncio
import os
import random
import sys
import uuid
from pathlib import Path
from typing import Any


async def count(show: bool) -> None:
    import httpx
    from sqlalchemy import event
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

    from app.core.config import Settings
    from app.main import create_app
    from bench.common import read_manifest
    from bench.load import run_load as rl

    manifest = await read_manifest(rl.dataset_url(rl.SOURCE_DATASET))
    if manifest is None:
        raise SystemExit("no dataset: run python -m bench.load.run_load --keep-db first")
    fx = await rl.prepare(manifest, seed=False)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=rl.load_url(),
        jwt_secret=rl.JWT_SECRET,
        rate_limit_per_minute=0,
        log_level="WARNING",
    )
    app = create_app(settings)
    seen: list[str] = []
    engine = app.state.engine.sync_engine

    def autocommit(conn: Any) -> bool:
        return conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        text = " ".join(statement.split())
        audit_batch = autocommit(conn) and text.startswith("INSERT INTO audit_event")
        seen.append(("[audit batch] " if audit_batch else "") + text[:90])

    # What the adapter sends itself: BEGIN when it starts a transaction, COMMIT or ROLLBACK
    # when it has one to end (a session that never began one sends nothing).
    adapter = AsyncAdapt_asyncpg_connection
    start, commit, rollback = adapter._start_transaction, adapter.commit, adapter.rollback

    async def _start(self: Any) -> None:
        if not self.autocommit:
            seen.append("BEGIN")
        await start(self)

    def _ending(name: str, end: Any) -> Any:
        def ended(self: Any) -> None:
            if self._transaction is not None:
                seen.append(name)
            end(self)

        return ended

    adapter._start_transaction = _start  # type: ignore[method-assign]
    adapter.commit = _ending("COMMIT", commit)  # type: ignore[method-assign]
    adapter.rollback = _ending("ROLLBACK", rollback)  # type: ignore[method-assign]

    therapist = rl.mint([fx.therapist])[fx.therapist.id]
    admin = rl.mint([fx.admin])[fx.admin.id]
    lists = rl.build_lists(fx, therapist, admin, random.Random(3))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://load") as client:
            await client.get("/readyz")  # the pool's first connection is set up here, uncounted
            for scenario in (
                "agenda",
                "assignments",
                "completion",
                "metrics",
                "caseload",
                "changes",
            ):
                counts = []
                entries = lists[scenario][:3]
                for entry in [*entries, entries[0]]:
                    method, path, token, body = entry.split("\t")
                    headers = {"Authorization": f"Bearer {token}"}
                    content = None
                    if body != "-":
                        headers["Content-Type"] = "application/json"
                        content = body.replace("{uuid}", str(uuid.uuid4()))
                    seen.clear()
                    answer = await client.request(method, path, headers=headers, content=content)
                    audit = sum(s.startswith("[audit batch]") for s in seen)
                    counts.append(f"{len(seen) - audit}" + (f" +{audit} audit" if audit else ""))
                print(
                    f"{scenario:<12} {answer.status_code}  round trips per request: "
                    f"{', '.join(counts[:-1])}; again: {counts[-1]}"
                )
                if show:
                    for statement in seen:
                        print(f"    {statement}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load.statements", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--app-root", type=Path, default=None, help="import app/ from here")
    parser.add_argument("--show", action="store_true", help="list the statements")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # bench/, wherever we run
    if args.app_root:
        sys.path.insert(0, str(args.app_root.resolve()))
        os.chdir(args.app_root)
    asyncio.run(count(args.show))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `homework-api` command: serve, migrate, openapi, seed-demo, create-clinic, create-admin."""

import argparse
import asyncio
import json
import secrets
import sys
from pathlib import Path
from typing import Any

from app.core.config import ConfigError, Settings, get_settings


def _settings() -> Settings:
    try:
        return get_settings()
    except ConfigError as exc:
        sys.exit(f"homework-api: configuration error: {exc}")


def migrate_and_sync(settings: Settings) -> int:
    """Alembic to head, then the reference data the code ships (the built-in templates)."""
    from app.core.db import create_engine, create_sessionmaker
    from app.core.migrations import upgrade
    from app.programs.service import sync_builtins as sync_builtin_programs
    from app.templates.service import sync_builtins

    upgrade(settings.database_url, pooler=settings.database_pooler)

    async def sync() -> int:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                # Programs pin the built-in templates' versions: templates first.
                return await sync_builtins(session) + await sync_builtin_programs(session)
        finally:
            await engine.dispose()

    return asyncio.run(sync())


def cmd_migrate(args: argparse.Namespace) -> None:
    published = migrate_and_sync(_settings())
    print(f"database is at the latest migration ({published} built-in template versions published)")


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = _settings()
    if settings.is_sqlite or args.migrate:
        migrate_and_sync(settings)
    # uvicorn itself logs at WARNING only (no request lines): say once where the API is.
    print(f"Listening on {listen_url(args.host, args.port)} (docs at /docs)", flush=True)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        # The rate limiter reads X-Forwarded-For by the same setting (app.core.ratelimit).
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=[str(network) for network in settings.forwarded_allow_ips],
    )


def listen_url(host: str, port: int) -> str:
    """The base URL of `serve --host HOST --port PORT` (an IPv6 address in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def openapi_document() -> dict[str, Any]:
    from app.main import create_app

    # The contract does not depend on the environment: build it with default settings (and a
    # throwaway secret, so that writing the contract leaves no development secret file behind).
    settings = Settings(_env_file=None, app_env="development", jwt_secret=secrets.token_urlsafe(48))
    return create_app(settings).openapi()


def render_openapi() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def cmd_openapi(args: argparse.Namespace) -> None:
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_openapi(), encoding="utf-8")
    print(f"wrote {path}")
    table = Path(args.access_table)
    table.write_text(render_access_table(), encoding="utf-8")
    print(f"wrote {table}")


def render_access_table() -> str:
    from app.core.access import render_access_table as render

    return render(openapi_document())


def cmd_seed_demo(args: argparse.Namespace) -> None:
    from app.core.db import create_engine, create_sessionmaker
    from app.seed import seed_demo

    settings = _settings()
    if settings.app_env == "production":
        sys.exit("homework-api: seed-demo refuses to run with APP_ENV=production")

    async def run() -> None:
        engine = create_engine(settings)
        try:
            world = await seed_demo(create_sessionmaker(engine), args.password)
        finally:
            await engine.dispose()
        print(f"demo data ready ({world.created} objects created)")
        for email in world.users:
            print(f"  {email}")
        print(f"password for every demo user: {args.password}")
        for line in world.notes:
            print(line)

    asyncio.run(run())


def _run_in_session(work: Any) -> Any:
    from app.core.db import create_engine, create_sessionmaker

    settings = _settings()

    async def run() -> Any:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_create_clinic(args: argparse.Namespace) -> None:
    from app.auth.models import Role
    from app.auth.service import create_user
    from app.clinics.service import create_clinic

    password_hash = _checked_password_hash(args.password, args.admin_email)

    async def work(session: Any) -> str:
        clinic = await create_clinic(session, name=args.name, timezone=args.timezone)
        await create_user(
            session,
            clinic_id=clinic.id,
            role=Role.admin,
            email=args.admin_email,
            display_name=args.admin_name,
            timezone=args.timezone,
            password_hash=password_hash,
        )
        return str(clinic.id)

    clinic_id = _run_in_session(work)
    print(f"clinic {clinic_id} created with admin {args.admin_email}")


def cmd_create_admin(args: argparse.Namespace) -> None:
    import uuid

    from app.auth.models import Role
    from app.auth.service import create_user
    from app.clinics.models import Clinic

    password_hash = _checked_password_hash(args.password, args.email)

    async def work(session: Any) -> str:
        clinic = await session.get(Clinic, uuid.UUID(args.clinic_id))
        if clinic is None:
            sys.exit(f"homework-api: no clinic {args.clinic_id}")
        user = await create_user(
            session,
            clinic_id=clinic.id,
            role=Role.admin,
            email=args.email,
            display_name=args.name,
            timezone=clinic.timezone,
            password_hash=password_hash,
        )
        return str(user.id)

    print(f"admin {_run_in_session(work)} created")


def _checked_password_hash(password: str, email: str) -> str:
    """Policy-checked and hashed before any transaction begins (a hash holds no database lock).
    The email may already belong to a user of another clinic: that is another membership of the
    same person, with its own password."""
    from app.auth.errors import WeakPassword
    from app.auth.service import new_password_hash

    try:
        return asyncio.run(new_password_hash(password, email))
    except WeakPassword as exc:
        sys.exit(f"homework-api: {exc.detail}")


def cmd_worker(args: argparse.Namespace) -> None:
    """Webhook deliveries, reminders and purges; run one or more beside the API processes."""
    import signal

    from app.core.db import create_engine, create_sessionmaker
    from app.core.logging import configure_logging
    from app.sync.worker import Worker

    settings = _settings()
    configure_logging(settings.log_level)

    async def run() -> None:
        engine = create_engine(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        worker = Worker(
            create_sessionmaker(engine), allow_http_loopback=settings.webhook_allow_http_loopback
        )
        try:
            if args.once:
                print(json.dumps(await worker.run_once()))
            else:
                await worker.run_forever(settings.worker_interval_seconds, stop)
        finally:
            await engine.dispose()

    asyncio.run(run())


def cmd_prune_audit(args: argparse.Namespace) -> None:
    """Delete audit rows older than the retention period (AUDIT_RETENTION_DAYS, six years)."""
    from datetime import timedelta

    from app.core.audit import prune
    from app.core.db import create_engine, create_sessionmaker
    from app.core.time import utcnow

    settings = _settings()
    days = args.days or settings.audit_retention_days

    async def run() -> int:
        engine = create_engine(settings)
        try:
            return await prune(create_sessionmaker(engine), utcnow() - timedelta(days=days))
        finally:
            await engine.dispose()

    print(f"pruned {asyncio.run(run())} audit rows older than {days} days")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="homework-api", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate the embedded default, then serve HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--migrate", action="store_true", help="also migrate a PostgreSQL database")
    serve.set_defaults(func=cmd_serve)

    prune = sub.add_parser("prune-audit", help="delete audit rows past the retention period")
    prune.add_argument("--days", type=int, default=None, help="default: AUDIT_RETENTION_DAYS")
    prune.set_defaults(func=cmd_prune_audit)

    worker = sub.add_parser("worker", help="deliver webhooks and announce reminders")
    worker.add_argument("--once", action="store_true", help="run one round and exit")
    worker.set_defaults(func=cmd_worker)

    sub.add_parser("migrate", help="upgrade the database to the latest migration").set_defaults(
        func=cmd_migrate
    )

    openapi = sub.add_parser("openapi", help="write the OpenAPI document (keys sorted)")
    openapi.add_argument("--output", default="openapi/openapi.json")
    openapi.add_argument("--access-table", default="docs/access.md")
    openapi.set_defaults(func=cmd_openapi)

    seed = sub.add_parser("seed-demo", help="create the demo clinics, users and homework")
    seed.add_argument("--password", default="demo-password-1")
    seed.set_defaults(func=cmd_seed_demo)

    clinic = sub.add_parser("create-clinic", help="create a clinic with its first admin")
    clinic.add_argument("--name", required=True)
    clinic.add_argument("--timezone", default="UTC")
    clinic.add_argument("--admin-email", required=True)
    clinic.add_argument("--admin-name", required=True)
    clinic.add_argument("--password", required=True)
    clinic.set_defaults(func=cmd_create_clinic)

    admin = sub.add_parser("create-admin", help="add an admin to an existing clinic")
    admin.add_argument("--clinic-id", required=True)
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", required=True)
    admin.add_argument("--password", required=True)
    admin.set_defaults(func=cmd_create_admin)
    return parser


def main(argv: list[str] | None = None) -> None:
    # Every domain's tables, whatever the command imports: a foreign key to a table of a domain
    # a floor above (assignment → group_assignment) resolves only when that table is known.
    import app.models  # noqa: F401

    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()

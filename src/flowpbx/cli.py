"""The `flowpbx` command line (SPEC §1): serve, db upgrade, user create, import, export, demo.

Settings come from FLOWPBX_* environment variables (`Settings.from_env`). Every command
has --help. Errors are one line on stderr — ``flowpbx import: error: ...`` — with exit
status 2 for a wrong command line and 1 for everything else; never a traceback (set
FLOWPBX_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import ipaddress
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from flowpbx.settings import Settings, SettingsError, debug_from_env

T = TypeVar("T")


class CliError(Exception):
    """A failure to report as one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return " ".join(lines) if len(lines) <= 3 else lines[0]


def _db_label(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    async def _main() -> T:
        return await coro_fn()

    return asyncio.run(_main())


# --------------------------------------------------------------------------- commands


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def refuse_published_demo(settings: Settings) -> None:
    """The demo's passwords are published: while they are set, listen on loopback only."""
    sip_open = not _loopback(settings.sip_listen[0])
    http_open = not _loopback(settings.http_listen[0])
    if not (sip_open or http_open):
        return
    from flowpbx.store.demo import DEMO_ADMIN, published_demo_credentials

    async def go() -> tuple[list[str], bool]:
        try:
            store = await _open_store(settings)
        except Exception:
            return [], False  # no usable database: serve reports that itself
        try:
            return await published_demo_credentials(store)
        finally:
            await store.close()

    phones, admin = _run(go)
    if sip_open and phones:
        host, port = settings.sip_listen
        raise CliError(
            f"refusing to start: FLOWPBX_SIP_LISTEN={host}:{port} is not a loopback address "
            f"and demo extension(s) {', '.join(phones)} still have the demo's published "
            "password, so anyone who reaches the PBX can call out through them; give them "
            "new passwords (web UI or PUT /api/v1/extensions/NUMBER) or delete them, or "
            "listen on 127.0.0.1"
        )
    if http_open and admin:
        host, port = settings.http_listen
        raise CliError(
            f"refusing to start: FLOWPBX_HTTP_LISTEN={host}:{port} is not a loopback address "
            f"and the web user {DEMO_ADMIN[0]!r} still has the demo's published password; "
            f"change it (flowpbx user create {DEMO_ADMIN[0]} --update --role admin) or "
            "listen on 127.0.0.1"
        )


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    try:
        from flowpbx.app import serve
    except ModuleNotFoundError as exc:
        if exc.name in ("flowpbx.app",):
            raise CliError("the server is not part of this build yet (flowpbx.app)") from exc
        raise
    refuse_published_demo(settings)
    serve(settings)
    return 0


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from flowpbx.store.db import head_revision, upgrade

    url = settings.effective_database_url
    _run(lambda: upgrade(url))
    print(f"database {_db_label(url)} is at schema revision {head_revision()}")
    return 0


async def _open_store(settings: Settings) -> Any:
    from flowpbx.store.db import Store

    store = Store(settings.effective_database_url, settings.data_dir, sip_realm=settings.sip_realm)
    try:
        await store.check_schema()
    except BaseException:
        await store.close()
        raise
    return store


def cmd_user_create(settings: Settings, args: argparse.Namespace) -> int:
    password = args.password
    if password is None:
        if not sys.stdin.isatty():
            raise CliError("--password is required when not run from a terminal")
        password = getpass.getpass(f"password for {args.name}: ")
    from flowpbx.store.repos.users import password_problem

    problem = password_problem(args.name, password)
    if problem is not None:
        raise CliError(f"the password {problem}")

    async def go() -> None:
        from flowpbx.store.audit import record_change

        store = await _open_store(settings)
        try:
            await store.create_user(args.name, password, args.role, replace=args.update)
            await record_change(
                store,
                actor="cli",
                action="update" if args.update else "create",
                entity="user",
                key=args.name,
                details={"role": args.role},
            )
        finally:
            await store.close()

    _run(go)
    print(f"user {args.name!r} ({args.role}) {'saved' if args.update else 'created'}")
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from flowpbx.store.audit import record_change
    from flowpbx.store.config_io import import_config

    path = Path(args.file)

    async def go() -> Any:
        store = await _open_store(settings)
        try:
            result = await import_config(store, path)
            await record_change(
                store,
                actor="cli",
                action="import",
                entity="config",
                details={
                    "file": path.name,
                    "changed": dict(result.changed),
                    "published": dict(result.published),
                },
            )
            return result
        finally:
            await store.close()

    result = _run(go)
    changed = ", ".join(f"{n} {k}" for k, n in result.changed.items() if n) or "nothing changed"
    print(f"imported {path}: {changed}")
    for name, rev in result.published.items():
        mark = "new revision" if name in result.new_revisions else "unchanged"
        print(f"  flow {name!r}: revision {rev} published ({mark})")
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    from flowpbx.store.config_io import dump_config, export_config

    async def go() -> dict[str, Any]:
        store = await _open_store(settings)
        try:
            return await export_config(store)
        finally:
            await store.close()

    text = dump_config(_run(go), args.format)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"exported to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from flowpbx.store.db import Store, upgrade
    from flowpbx.store.demo import DEMO_FLOW_NAME, DEMO_NUMBERS, load_demo

    url = settings.effective_database_url

    async def go() -> Any:
        await upgrade(url)
        store = Store(url, settings.data_dir, sip_realm=settings.sip_realm)
        try:
            return await load_demo(store)
        finally:
            await store.close()

    demo = _run(go)
    sip_host, sip_port = settings.sip_listen
    web_host, web_port = settings.http_listen
    print("flowpbx demo company loaded")
    print(f"  SIP:  sip:{sip_host}:{sip_port} (udp, tcp), realm {settings.sip_realm!r}")
    print(f"  web:  http://{web_host}:{web_port}/  (login {demo.admin[0]} / {demo.admin[1]})")
    print("  phones (register as user@host, password):")
    for number, name, password in demo.phones:
        print(f"    {number}  {name:<6} sip:{number}@{sip_host}:{sip_port}  password {password}")
    print(f"  flow {DEMO_FLOW_NAME!r} answers {DEMO_NUMBERS[0]}; demo trunk 'provider' is")
    print("  127.0.0.1:5070/udp. Start the PBX with `flowpbx serve`.")
    return 0


def _pairs(items: Sequence[str], option: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise CliError(f"{option} takes KEY=VALUE, got {item!r}")
        pairs.append((key, value))
    return pairs


def _http_reply(value: str) -> str | int | None:
    if value == "timeout":
        return None
    return int(value) if len(value) == 3 and value.isdigit() else value


def cmd_tls_cert(settings: Settings, args: argparse.Namespace) -> int:
    """Make a self-signed certificate and key for SIP over TLS unless the files exist; print
    where they are and the certificate's SHA-256 fingerprint."""
    from flowpbx.certs import fingerprint, self_signed

    tls_dir = settings.data_dir / "tls"
    cert = Path(args.cert) if args.cert else settings.tls_cert or tls_dir / "cert.pem"
    key = Path(args.key) if args.key else settings.tls_key or tls_dir / "key.pem"
    if cert.exists() != key.exists():
        print(f"only one of {cert} and {key} exists: remove it or give both", file=sys.stderr)
        return 1
    made = not cert.exists()
    if made:
        names = args.name or [settings.sip_tls_listen[0], "localhost"]
        self_signed(cert, key, list(dict.fromkeys(names)))
    print(f"TLS certificate {cert} ({'new, self-signed' if made else 'existing'}), key {key}")
    print(f"  SHA-256 fingerprint {fingerprint(cert)}")
    return 0


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    import datetime as dt
    import json

    from flowpbx.flow.model import FlowError, ScheduleSpec
    from flowpbx.flow.schedule import Schedule
    from flowpbx.flow.simulator import describe, simulate_call
    from flowpbx.store.repos import audio as audio_repo
    from flowpbx.store.repos import extensions as extensions_repo
    from flowpbx.store.repos import flows as flows_repo
    from flowpbx.store.repos import schedules as schedules_repo

    try:
        at = dt.datetime.fromisoformat(args.at) if args.at else dt.datetime.now(dt.UTC)
    except ValueError as exc:
        raise CliError(f"--at: not an ISO 8601 time: {args.at!r}") from exc
    http = {node: _http_reply(v) for node, v in _pairs(args.http, "--http")}
    answers = dict(_pairs(args.answer, "--answer"))
    history = []
    for ext, days in _pairs(args.history, "--history"):
        try:
            history.append({"answered_by": ext, "days_ago": float(days)})
        except ValueError as exc:
            raise CliError(f"--history takes EXT=DAYS_AGO, got {ext}={days}") from exc

    Loaded = tuple[dict[str, Any], str, dict[str, Schedule], list[str], dict[str, float]]

    async def load() -> Loaded:
        store = await _open_store(settings)
        try:
            async with store.transaction() as s:
                row = await flows_repo.get_flow_row(s, args.flow)
                if row is None:
                    raise CliError(f"no flow named {args.flow!r}")
                rev = None if args.draft else await flows_repo.published_revision(s, row)
                if rev is None and not args.draft:
                    raise CliError(f"flow {args.flow!r} has no published revision (try --draft)")
                document = row.draft if rev is None else rev.document
                label = "draft" if rev is None else f"revision {rev.number}"
                schedules = {}
                for sc in await schedules_repo.list_schedules(s):
                    spec = {"timezone": sc.timezone, "hours": sc.hours, "holidays": sc.holidays}
                    try:
                        schedules[sc.name] = Schedule.from_spec(ScheduleSpec.model_validate(spec))
                    except ValueError:
                        continue
                extensions = [e.number for e in await extensions_repo.list_extensions(s)]
                durations = {a.name: a.duration_s for a in await audio_repo.list_audio_rows(s)}
            return document, label, schedules, extensions, durations
        finally:
            await store.close()

    document, label, schedules, extensions, durations = _run(load)
    dids = flows_repo.flow_dids(document)
    did = args.did or (dids[0] if dids else "")
    try:
        sim = _run(
            lambda: simulate_call(
                document,
                caller=args.caller,
                caller_name=args.caller_name,
                did=did,
                at=at,
                keys=args.keys,
                http_replies=http,
                answers=answers,
                history=history,
                schedules=schedules,
                extensions=extensions,
                audio_duration=lambda name: durations.get(name) or None,
            )
        )
    except FlowError as exc:
        raise CliError(f"flow {args.flow!r} ({label}) cannot run: {exc}") from exc
    if args.json:
        print(json.dumps(sim.to_dict(), indent=2, ensure_ascii=False))
        return 0
    print(f"flow {args.flow!r} ({label}): {args.caller} calls {did} at {at.isoformat()}")
    for line in describe(sim):
        print(line)
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="flowpbx",
        description="flowpbx: a self-hosted PBX with call flows drawn in a web UI. "
        "Settings come from FLOWPBX_* environment variables "
        "(FLOWPBX_DATA_DIR, FLOWPBX_DATABASE_URL, FLOWPBX_SIP_LISTEN, FLOWPBX_HTTP_LISTEN, ...).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("serve", help="run SIP, media and the web UI in one process")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("db", help="database maintenance")
    db_sub = p.add_subparsers(dest="db_command", metavar="SUBCOMMAND", parser_class=_Parser)
    db_sub.required = True
    p = db_sub.add_parser("upgrade", help="create or migrate the schema to the newest revision")
    p.set_defaults(func=cmd_db_upgrade)

    p = sub.add_parser("user", help="web UI users")
    user_sub = p.add_subparsers(dest="user_command", metavar="SUBCOMMAND", parser_class=_Parser)
    user_sub.required = True
    p = user_sub.add_parser("create", help="create a web UI user")
    p.add_argument("name", help="user name to log in with")
    p.add_argument("--password", help="password (asked for when omitted on a terminal)")
    p.add_argument("--role", choices=("admin", "viewer"), default="viewer", help="default viewer")
    p.add_argument("--update", action="store_true", help="change an existing user instead")
    p.set_defaults(func=cmd_user_create)

    p = sub.add_parser("import", help="import a configuration file (YAML or JSON)")
    p.add_argument("file", help="configuration document (SPEC §2.1)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="print the whole configuration (no SIP passwords)")
    p.add_argument("--format", choices=("yaml", "json"), default="yaml")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("demo", help="load a demo company (extensions 101-103, trunk, flow)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "tls-cert", help="make a self-signed SIP TLS certificate if none exists; its fingerprint"
    )
    p.add_argument("--cert", help="certificate PEM (default FLOWPBX_TLS_CERT, else data/tls)")
    p.add_argument("--key", help="key PEM (default FLOWPBX_TLS_KEY, else data/tls)")
    p.add_argument("--name", action="append", help="a host name or IP it names (repeatable)")
    p.set_defaults(func=cmd_tls_cert)

    p = sub.add_parser("simulate", help="dry-run a call through a flow and print its trace")
    p.add_argument("flow", help="flow name")
    p.add_argument("--caller", default="anonymous", help="caller number (default anonymous)")
    p.add_argument("--caller-name", help="caller's display name")
    p.add_argument("--did", help="number called (default: the flow's first number)")
    p.add_argument("--at", help="ISO 8601 time, e.g. 2026-05-04T10:00+03:00 (no offset: UTC)")
    p.add_argument(
        "--keys",
        default="",
        help="keys the caller presses: 0-9 * #, _ lets a wait time out, h hangs up",
    )
    p.add_argument(
        "--http", action="append", default=[], metavar="NODE=REPLY",
        help="reply of an http_notify/caller_lookup node: a body, a 3-digit status or 'timeout'",
    )  # fmt: skip
    p.add_argument(
        "--answer", action="append", default=[], metavar="EXT=OUTCOME",
        help="what a rung extension or number does: answered (default), no_answer, busy, "
        "offline (extensions), failed (numbers)",
    )  # fmt: skip
    p.add_argument(
        "--history", action="append", default=[], metavar="EXT=DAYS_AGO",
        help="an earlier call of this caller answered by EXT (for history routing)",
    )  # fmt: skip
    p.add_argument("--draft", action="store_true", help="the draft instead of the published flow")
    p.add_argument("--json", action="store_true", help="print the whole simulation as JSON")
    p.set_defaults(func=cmd_simulate)
    return parser


def _describe(exc: BaseException) -> str:
    from sqlalchemy.exc import SQLAlchemyError

    from flowpbx.store.errors import StoreError

    if isinstance(exc, (CliError, SettingsError, StoreError, ValueError)):
        return _one_line(str(exc))
    if isinstance(exc, SQLAlchemyError):
        orig = getattr(exc, "orig", None)
        return "database error: " + _one_line(str(orig if orig is not None else exc))
    if isinstance(exc, OSError):
        return _one_line(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
    return f"internal error: {exc.__class__.__name__}: {_one_line(str(exc))}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = "flowpbx " + " ".join(
        x for x in (args.command, getattr(args, "db_command", None),
                    getattr(args, "user_command", None)) if x
    )  # fmt: skip
    try:
        settings = Settings.from_env()
        return int(args.func(settings, args))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug_from_env():
            traceback.print_exc()
        print(f"{prog}: error: {_describe(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

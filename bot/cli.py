"""The ``hotline`` command: serve, chat, assess, migrate; user, telegram, outbox, poster."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from bot.cli_helpers import helper_app, roster_app
from bot.cli_outbox import outbox_app
from bot.cli_poster import poster
from bot.cli_telegram import telegram_app
from bot.cli_users import user_app
from bot.config import Settings

if TYPE_CHECKING:
    import uvicorn

app = typer.Typer(
    help="fanpin-hotline: 防返贫监测 intake and hotline assistant.", no_args_is_help=True
)
app.add_typer(user_app, name="user")
app.add_typer(telegram_app, name="telegram")
app.add_typer(outbox_app, name="outbox")
app.add_typer(roster_app, name="roster")
app.add_typer(helper_app, name="helper")
app.command()(poster)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    telegram_polling: Annotated[
        bool, typer.Option(help="Read Telegram by long polling (development), not webhook.")
    ] = False,
) -> None:
    """Run the web service (webhook channels, cadre pages) under uvicorn."""
    import uvicorn

    from bot.app import create_app
    from bot.services import configure_logging

    settings = Settings()
    if telegram_polling:
        settings.telegram_polling = True
    configure_logging(settings.log_level, secrets=settings.channel_secrets())
    config = server_config(
        settings, create_app(settings), host=host or settings.host, port=port or settings.port
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:  # e.g. the port is taken: uvicorn has said why
        raise typer.Exit(code=3)


def server_config(settings: Settings, app: Any, *, host: str, port: int) -> uvicorn.Config:
    """uvicorn's settings for ``app``, believing forwarded headers only from trusted proxies.

    uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 unless told otherwise, so anyone
    on the machine (or a proxy passing the header through) could choose the address the
    login limit counts. Without ``HOTLINE_TRUSTED_PROXIES`` the proxy headers middleware
    is left out altogether; with it, only those addresses are believed.
    """
    import uvicorn

    proxies = settings.proxy_list()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
    )


@app.command()
def chat(
    user: Annotated[str | None, typer.Option(help="Who you are (a new person if omitted).")] = None,
    language: Annotated[str, typer.Option(help="zh_CN or en.")] = "zh_CN",
    village: Annotated[str | None, typer.Option(help="Start bound to this village code.")] = None,
) -> None:
    """Chat with the bot in this terminal, as a villager would."""
    from bot.channels.terminal import run
    from bot.services import build_services, configure_logging

    settings = Settings()
    configure_logging("WARNING")
    services = build_services(settings)
    payload = f"v_{village}" if village else None
    run(
        services.conversations,
        user=user or f"term-{uuid.uuid4().hex[:8]}",
        language=language,
        payload=payload,
    )


@app.command()
def assess(
    answers: Annotated[Path, typer.Argument(help="A JSON file of answers (see README).")],
    policy: Annotated[Path | None, typer.Option(help="A policy YAML file.")] = None,
    year: Annotated[int | None, typer.Option(help="Assessment year (income line).")] = None,
) -> None:
    """Assess an answers file against a region's policy and print the result as JSON."""
    from intake.answers import AnswersError, parse_answers
    from intake.assessment import assess as run_assessment
    from intake.policy import PolicyError, default_policy_path, load_policy

    try:
        raw = json.loads(answers.read_text(encoding="utf-8"))
        parsed = parse_answers(raw)
        rules = load_policy(policy or default_policy_path())
    except OSError as error:
        _fail(f"{answers}: cannot read: {error.strerror}")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        _fail(f"{answers}: not valid JSON: {error}")
    except (AnswersError, PolicyError) as error:
        _fail(f"{answers if isinstance(error, AnswersError) else policy}: {error}")
    result = run_assessment(parsed, rules, year=year)
    typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))


@app.command()
def migrate() -> None:
    """Apply the database migrations (the service also does this on start)."""
    from bot.services import upgrade

    settings = Settings()
    upgrade(settings.resolved_database_url())
    typer.echo("database is up to date")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def main() -> None:  # pragma: no cover - console entry
    """Entry point for ``python -m bot.cli``."""
    app(prog_name="hotline")
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()

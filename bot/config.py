"""Settings from the environment (prefix ``HOTLINE_``); only the composition root reads them.

Lower layers take what they need as arguments. Secrets not given are generated on first
run into the data directory, so ``hotline serve`` works on a fresh machine.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from intake.crypto import generate_secret


class Settings(BaseSettings):
    """Every knob of the service. See the README's table for what each one does."""

    model_config = SettingsConfigDict(env_prefix="HOTLINE_", env_file=".env", extra="ignore")

    data_dir: Path = Path("var")
    database_url: str | None = None
    #: Encrypts ID numbers, phones and dialog state; keep it safe and never change it.
    secret_key: str | None = None
    policy_dir: Path | None = None
    #: Regions (policy files) this deployment serves, comma-separated; the first is default.
    regions: str = "gangkou"
    session_ttl_days: float = Field(default=3, gt=0)
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"

    webhook_secret: str | None = None
    webhook_callback_url: str | None = None
    webhook_max_body_bytes: int = 64 * 1024

    #: Signs the cadre pages' session cookies (generated into data_dir when not given).
    cookie_secret: str | None = None
    #: Send the session cookie only over HTTPS (set true behind TLS in production).
    cookie_secure: bool = False
    #: The address cadres open, used in the daily digest's link.
    public_url: str = "http://127.0.0.1:8000"

    telegram_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_file_url: str = "https://api.telegram.org/file/bot"
    telegram_secret_token: str | None = None
    telegram_bot_username: str | None = None
    #: A poster's QR link instead of Telegram's deep link, with ``{payload}`` for the
    #: village binding (``v_<code>``): a WeChat bridge or web chat where Telegram is not used.
    poster_link_template: str | None = None
    #: Where Telegram posts updates (give ``hotline telegram set-webhook`` the public URL).
    telegram_webhook_path: str = "/channels/telegram"
    telegram_max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    #: Long polling instead of the webhook (development; ``serve --telegram-polling``).
    telegram_polling: bool = False
    telegram_poll_timeout: int = Field(default=25, ge=0, le=50)
    #: Outbound limits (Telegram's: about 30 messages/s overall, about 1/s per chat).
    telegram_messages_per_second: float = Field(default=30.0, gt=0)
    telegram_per_chat_interval: float = Field(default=1.0, ge=0)
    telegram_per_chat_burst: int = Field(default=3, ge=1)

    def region_codes(self) -> list[str]:
        """The served regions, in order."""
        return [code.strip() for code in self.regions.split(",") if code.strip()]

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data directory (made if missing)."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'hotline.db'}"

    def resolved_secret(self, name: str = "secret_key") -> str:
        """A secret from the environment, or one generated once and kept in ``data_dir``."""
        given = getattr(self, name)
        if given:
            return str(given)
        path = self.data_dir / f"{name}.txt"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(generate_secret())
            path.chmod(0o600)
        return path.read_text().strip()

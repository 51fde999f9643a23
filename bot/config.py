"""Settings from the environment (prefix ``HOTLINE_``); only the composition root reads them.

Lower layers take what they need as arguments. Secrets not given are generated on first
run into the data directory, so ``hotline serve`` works on a fresh machine.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, field_validator
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
    #: Send the session cookie only over HTTPS. Unset: secure whenever ``public_url`` is
    #: https; set it only to override that (e.g. false for a test over plain HTTP).
    cookie_secure: bool | None = None
    #: The address cadres open, used in the daily digest's link.
    public_url: str = "http://127.0.0.1:8000"
    #: Reverse proxies (IPs or CIDRs, comma-separated) whose ``X-Forwarded-For`` and
    #: ``X-Forwarded-Proto`` are believed. Empty: no forwarded header is believed at all,
    #: so a client cannot pick its own address to dodge the login limit.
    trusted_proxies: str = ""
    #: Serve ``/docs``, ``/redoc`` and ``/openapi.json`` (off: they map every route).
    api_docs: bool = False

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

    #: WeChat Official Account (公众号): the server settings' Token, the AppID and AppSecret,
    #: and the EncodingAESKey (43 characters; needed for safe mode, 安全模式).
    wechat_token: str | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None
    wechat_aes_key: str | None = None
    wechat_api_url: str = "https://api.weixin.qq.com"
    wechat_path: str = "/channels/wechat"
    #: Choices as tappable ``msgmenu`` lines (only accounts WeChat allows); else numbered.
    wechat_msgmenu: bool = False
    #: Seconds to answer in WeChat's HTTP response; later replies go by customer service.
    wechat_reply_seconds: float = Field(default=4.0, ge=0, le=4.5)
    #: Template message (模板消息) id for a notice once the 48-hour window closed; its
    #: fields are ``first`` (the text) and ``remark``. Unset: fall back to SMS only.
    wechat_template_id: str | None = None
    #: The ``HOTLINE_SMS_TEMPLATES`` kind sent instead, with no template id ("请打开公众号
    #: 查看消息"), to the phone of the person's latest application.
    wechat_sms_template: str | None = None
    #: Customer-service messages a second: WeChat's documented ceiling is far higher, but
    #: one account's messages to one person are few and must not overtake each other.
    wechat_messages_per_second: float = Field(default=20.0, gt=0)

    #: Alibaba Cloud SMS (阿里云短信): AccessKey, approved signature (签名) and templates as
    #: JSON ``{"notice": "SMS_123", "reminder": {"code": "SMS_456", "params": ["date"]}}``.
    sms_access_key_id: str | None = None
    sms_access_key_secret: str | None = None
    sms_sign_name: str | None = None
    sms_templates: str = "{}"
    sms_endpoint: str = "https://dysmsapi.aliyuncs.com/"
    sms_daily_cap: int = Field(default=5, ge=1)
    #: The token the provider's push (receipts, replies such as TD) carries in its URL;
    #: at least 16 characters. Unset: the push routes are not mounted.
    sms_push_token: str | None = None
    sms_messages_per_second: float = Field(default=10.0, gt=0)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        """Refuse a typo at start: uvicorn would keep it as a name that never matches."""
        for entry in _entries(value):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {entry!r}") from None
        return value

    def channel_secrets(self) -> list[str]:
        """Every channel credential given, for the log filter that blanks them."""
        given = (
            self.telegram_token,
            self.wechat_token,
            self.wechat_app_secret,
            self.wechat_aes_key,
            self.sms_access_key_secret,
            self.sms_push_token,
        )
        return [secret for secret in given if secret]

    def wechat_enabled(self) -> bool:
        """Whether the WeChat channel is configured (token, app id and secret)."""
        return bool(self.wechat_token and self.wechat_app_id and self.wechat_app_secret)

    def sms_enabled(self) -> bool:
        """Whether SMS can be sent (AccessKey and signature)."""
        return bool(self.sms_access_key_id and self.sms_access_key_secret and self.sms_sign_name)

    def proxy_list(self) -> list[str]:
        """The trusted proxies' addresses and networks, in order."""
        return _entries(self.trusted_proxies)

    def secure_cookie(self) -> bool:
        """Whether the session cookie carries ``Secure``: as set, else when served over https."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.public_url.lower().startswith("https://")

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


def _entries(value: str) -> list[str]:
    return [entry.strip() for entry in value.split(",") if entry.strip()]

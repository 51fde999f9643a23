"""The stock way, for comparison: python-telegram-bot's ``ConversationHandler`` behind FastAPI.

A mini self-application written the way PTB's examples teach it: state in process memory
(``context.user_data`` and the handler's own dict), one coroutine per step, the reply sent
from inside the handler. Telegram's webhook posts reach ``application.process_update``,
which runs the handler before the route answers 200. Nothing is stored: a restart forgets
every conversation, and a redelivered update is simply handled again if the state matches.

Steps (15, one reply each, every reply with buttons so a client knows it is complete):
``/start`` → 申请防返贫监测 → 给自己家申请 → village → eight yes/no questions → household
size → the head's name typed → 确认提交 → a tracking code and the menu.

    .venv/bin/python bench/stock_ptb_bot.py --port 8081 --token T --api-url URL \
        --file-url URL --secret S
"""

from __future__ import annotations

import argparse
import hmac
import json
import secrets
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

# PTB warns that per_message=False tracks buttons per chat, not per message: as intended here.
warnings.filterwarnings("ignore", message=r".*per_message", category=PTBUserWarning)
SECRET_HEADER = "x-telegram-bot-api-secret-token"
MENU = [("申请防返贫监测", "choose:apply"), ("查询进度", "choose:status"), ("帮助", "choose:help")]
VILLAGES = ["柏岭村", "横岭村", "大东港村", "小东港村", "北山村", "塘口村", "港口村", "石岭村"]
QUESTIONS = [
    ("illness", "家里有人得了大病、重病，看病花了很多钱吗？"),
    ("disaster", "今年遭了水灾、旱灾、冰雹等自然灾害吗？"),
    ("accident", "家里的主要劳动力，因为意外失去劳动能力了吗？"),
    ("house", "家里唯一的住房被灾害毁坏了吗？"),
    ("school", "家里有孩子上学，学费和生活费负担很重吗？"),
    ("job", "家里的主要劳动力失业了、找不到活干吗？"),
    ("business", "种养殖或做小生意失败、亏本了吗？"),
    ("neg_house", "家里在县城有商品房或自建房吗？"),
]
# Conversation states: the menu, whom for, village, one per question, size, name, confirm.
MENU_SHOWN, FOR_WHOM, VILLAGE, SIZE, NAME, CONFIRM = range(6)
QUESTION_STATES = list(range(10, 10 + len(QUESTIONS)))
Context = ContextTypes.DEFAULT_TYPE
Callback = Callable[[Update, Context], Coroutine[Any, Any, int]]
AnyApplication = Application[Any, Any, Any, Any, Any, Any]


def keyboard(pairs: list[tuple[str, str]], per_row: int = 3) -> InlineKeyboardMarkup:
    """Buttons three to a row, as most bots lay them out."""
    buttons = [InlineKeyboardButton(label, callback_data=data) for label, data in pairs]
    return InlineKeyboardMarkup([buttons[i : i + per_row] for i in range(0, len(buttons), per_row)])


async def reply(update: Update, context: Context, text: str, pairs: list[tuple[str, str]]) -> None:
    """Send the next question first, then stop the button's spinner and mark the choice."""
    assert update.effective_chat is not None
    await context.bot.send_message(update.effective_chat.id, text, reply_markup=keyboard(pairs))
    query = update.callback_query
    if query is not None and query.message is not None:
        await query.answer()
        label = next(
            (b.text for row in keyboard_of(query) for b in row if b.callback_data == query.data),
            "",
        )
        await query.edit_message_text(f"{getattr(query.message, 'text', '')}\n\n☑ {label}")


def keyboard_of(query: Any) -> list[list[InlineKeyboardButton]]:
    markup = getattr(query.message, "reply_markup", None)
    return list(markup.inline_keyboard) if markup is not None else []


def answer_of(update: Update) -> str:
    query = update.callback_query
    return str(query.data).split(":", 1)[1] if query is not None and query.data else ""


async def start(update: Update, context: Context) -> int:
    await reply(update, context, "您好！这里是防返贫监测服务。请选择您要办的事：", MENU)
    return MENU_SHOWN


async def apply(update: Update, context: Context) -> int:
    assert context.user_data is not None
    context.user_data.clear()
    pairs = [("给自己家申请", "for_whom:self"), ("帮别人代办", "for_whom:proxy")]
    await reply(update, context, "这次是给谁申请？", pairs)
    return FOR_WHOM


async def for_whom(update: Update, context: Context) -> int:
    assert context.user_data is not None
    context.user_data["for_whom"] = answer_of(update)
    pairs = [(name, f"village:{n}") for n, name in enumerate(VILLAGES)]
    await reply(update, context, "请选择所在的村：", pairs)
    return VILLAGE


def ask(index: int) -> Callback:
    """The handler that stores the previous answer and asks question ``index``."""

    async def handler(update: Update, context: Context) -> int:
        assert context.user_data is not None
        context.user_data[f"a{index}"] = answer_of(update)
        if index == len(QUESTIONS):
            pairs = [(f"{n}人", f"size:{n}") for n in range(1, 7)]
            await reply(update, context, "家里一共几口人？", pairs)
            return SIZE
        key, text = QUESTIONS[index]
        await reply(update, context, text, [("是", f"{key}:yes"), ("否", f"{key}:no")])
        return QUESTION_STATES[index]

    return handler


async def size(update: Update, context: Context) -> int:
    assert context.user_data is not None
    context.user_data["size"] = answer_of(update)
    await reply(update, context, "请写户主的姓名：", [("返回", "back")])
    return NAME


async def name(update: Update, context: Context) -> int:
    assert context.user_data is not None and update.message is not None
    context.user_data["name"] = update.message.text
    answers = json.dumps(context.user_data, ensure_ascii=False)
    pairs = [("确认提交", "summary:confirm"), ("修改", "summary:edit")]
    await reply(update, context, f"请核对您填的内容：{answers}", pairs)
    return CONFIRM


async def confirm(update: Update, context: Context) -> int:
    code = secrets.token_hex(4).upper()
    await reply(update, context, f"申请已提交！您的办理编号是：{code}", MENU)
    return ConversationHandler.END


def conversation() -> ConversationHandler[Any]:
    """The mini self-application as one ConversationHandler (state in memory)."""
    states: dict[object, list[Any]] = {
        MENU_SHOWN: [CallbackQueryHandler(apply, pattern="^choose:apply$")],
        FOR_WHOM: [CallbackQueryHandler(for_whom, pattern="^for_whom:")],
        VILLAGE: [CallbackQueryHandler(ask(0), pattern="^village:")],
        SIZE: [CallbackQueryHandler(size, pattern="^size:")],
        NAME: [MessageHandler(filters.TEXT & ~filters.COMMAND, name)],
        CONFIRM: [CallbackQueryHandler(confirm, pattern="^summary:confirm$")],
    }
    for index, (key, _text) in enumerate(QUESTIONS):
        states[QUESTION_STATES[index]] = [CallbackQueryHandler(ask(index + 1), pattern=f"^{key}:")]
    return ConversationHandler(
        entry_points=[CommandHandler("start", start)],
        states=states,
        fallbacks=[CommandHandler("start", start)],
        allow_reentry=True,
    )


def build(token: str, api_url: str, file_url: str) -> AnyApplication:
    """The bot: no Updater (updates come through our route), PTB's defaults otherwise."""
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(api_url)
        .base_file_url(file_url)
        .updater(None)
        .connection_pool_size(64)
        .build()
    )
    application.add_handler(conversation())
    return application


def create_app(application: AnyApplication, secret: str) -> FastAPI:
    """The webhook route of PTB's custom-webhook example, handling each update inline."""

    async def lifespan(_app: FastAPI) -> Any:
        async with application:  # initialize (getMe) and shutdown
            yield

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/telegram")
    async def webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return Response(status_code=403)
        update = Update.de_json(await request.json(), application.bot)
        await application.process_update(update)
        return Response(status_code=200)

    @app.get("/healthz")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--file-url", required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    application = build(args.token, args.api_url, args.file_url)
    uvicorn.run(
        create_app(application, args.secret),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()

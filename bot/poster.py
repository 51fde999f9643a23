"""Printable village posters: an A4 sheet with a QR code that opens the bot bound to the village.

The QR holds the bot's deep link ``https://t.me/<bot>?start=v_<village code>``; a villager
who scans it lands in the chat with their village already chosen. Where villagers reach the
service another way (a WeChat bridge or a web chat on the webhook channel), a link template
with ``{payload}`` takes the deep link's place. The sheet carries the
village name, three lines on what the bot is for, and the township hotline from the
region's policy, for those without a smartphone. It is drawn at 300 dpi with the Noto CJK
fonts Debian ships (``fonts-noto-cjk``) and written as a PNG and as a one-page PDF.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_M
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from bot.conversation import VILLAGE_PAYLOAD_PREFIX
from locales import translate

DPI = 300
WIDTH, HEIGHT = 2480, 3508  # A4 at 300 dpi
FONT_DIR = Path("/usr/share/fonts/opentype/noto")
#: Index of "Noto Sans CJK SC" (simplified Chinese glyph forms) in Debian's .ttc files.
SC_INDEX = 2
RED = (196, 18, 48)
DARK_RED = (150, 10, 30)
GOLD = (242, 193, 78)
PAPER = (255, 250, 242)
INK = (40, 30, 30)
MUTED = (110, 90, 90)
MARGIN = 160


@dataclass(frozen=True)
class PosterInfo:
    """What one poster says."""

    village_code: str
    village: str
    township: str
    region: str
    hotline: str | None
    bot_username: str
    language: str = "zh_CN"
    link_template: str | None = None
    #: A link made elsewhere (a WeChat parametric QR code's URL), used as it is.
    qr_link: str | None = None

    @property
    def link(self) -> str:
        """The link the QR code holds: a given one, the template's, else Telegram's."""
        if self.qr_link:
            return self.qr_link
        if self.link_template:
            return templated_link(self.link_template, self.village_code)
        return deep_link(self.bot_username, self.village_code)


@dataclass(frozen=True)
class Box:
    """A rectangle on the sheet, in pixels."""

    left: int
    top: int
    size: int


def deep_link(bot_username: str, village_code: str) -> str:
    """``https://t.me/<bot>?start=v_<code>`` (Telegram allows 64 characters of payload)."""
    payload = f"{VILLAGE_PAYLOAD_PREFIX}{village_code}"
    if len(payload) > 64:
        raise ValueError(f"village code {village_code!r} is too long for a deep link")
    return f"https://t.me/{bot_username.lstrip('@')}?start={payload}"


def templated_link(template: str, village_code: str) -> str:
    """``template`` with ``{payload}`` replaced by the village binding ``v_<code>``."""
    if "{payload}" not in template:
        raise ValueError("a poster link template needs {payload}")
    return template.replace("{payload}", f"{VILLAGE_PAYLOAD_PREFIX}{village_code}")


def font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
    """Noto Sans CJK SC at ``size`` pixels."""
    name = "NotoSansCJK-Bold.ttc" if bold else "NotoSansCJK-Regular.ttc"
    return ImageFont.truetype(str(FONT_DIR / name), size, index=SC_INDEX)


def qr_image(link: str, size: int) -> Image.Image:
    """A crisp black-on-white QR code of ``link``, ``size`` pixels square (quiet zone in)."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    code.add_data(link)
    code.make(fit=True)
    matrix = code.get_matrix()
    modules = len(matrix)
    image = Image.new("L", (modules, modules), 255)
    image.putdata([0 if cell else 255 for row in matrix for cell in row])
    return image.resize((size, size), Image.Resampling.NEAREST).convert("RGB")


def render(info: PosterInfo) -> tuple[Image.Image, Box]:
    """The poster as an image, and where its QR code (with its quiet zone) sits."""
    sheet = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    draw = ImageDraw.Draw(sheet)
    t = texts(info)
    _banner(draw, t["title"], info.region)
    size = _fit(t["village"], 150, WIDTH - 2 * MARGIN, bold=True)
    _centered(draw, t["village"], 700, font(size, bold=True), INK)
    qr_box = _qr(sheet, draw, info.link, t["scan"])
    y = _lines(draw, [t["line1"], t["line2"], t["line3"]], qr_box.top + qr_box.size + 240)
    _hotline(draw, t["hotline"], y + 30)
    _footer(draw, t["footer"], info.link)
    return sheet, qr_box


def write(info: PosterInfo, directory: Path) -> tuple[Path, Path]:
    """Write ``<village code>.png`` and ``.pdf`` into ``directory``; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    image, _ = render(info)
    png = directory / f"{info.village_code}.png"
    pdf = directory / f"{info.village_code}.pdf"
    image.save(png, dpi=(DPI, DPI), optimize=True)
    page = canvas.Canvas(str(pdf), pagesize=A4)
    page.setTitle(f"{info.township} {info.village}")
    page.setAuthor(info.region)
    page.drawImage(ImageReader(image), 0, 0, width=A4[0], height=A4[1])
    page.showPage()
    page.save()
    return png, pdf


def texts(info: PosterInfo) -> dict[str, str]:
    """Every text the poster shows, by its place on the sheet."""
    lang = info.language
    hotline = (
        translate(lang, "telegram.poster.hotline", phone=info.hotline)
        if info.hotline
        else translate(lang, "telegram.poster.no_hotline")
    )
    return {
        "title": translate(lang, "telegram.poster.title"),
        "village": translate(
            lang, "telegram.poster.village", township=info.township, village=info.village
        ),
        "scan": translate(lang, "telegram.poster.scan"),
        "line1": translate(lang, "telegram.poster.line1"),
        "line2": translate(lang, "telegram.poster.line2"),
        "line3": translate(lang, "telegram.poster.line3"),
        "hotline": hotline,
        "footer": translate(lang, "telegram.poster.footer", region=info.region),
    }


def _banner(draw: ImageDraw.ImageDraw, title: str, region: str) -> None:
    draw.rectangle((0, 0, WIDTH, 560), fill=RED)
    draw.rectangle((0, 560, WIDTH, 590), fill=GOLD)
    _centered(draw, region, 90, font(80), GOLD)
    size = _fit(title, 190, WIDTH - 2 * MARGIN, bold=True)
    _centered(draw, title, 230, font(size, bold=True), (255, 255, 255))


def _qr(sheet: Image.Image, draw: ImageDraw.ImageDraw, link: str, scan: str) -> Box:
    size = 1160
    left, top = (WIDTH - size) // 2, 960
    frame = 36
    draw.rounded_rectangle(
        (left - frame, top - frame, left + size + frame, top + size + frame),
        radius=48,
        outline=RED,
        width=18,
    )
    sheet.paste(qr_image(link, size), (left, top))
    _centered(draw, scan, top + size + frame + 50, font(76, bold=True), RED)
    return Box(left, top, size)


def _lines(draw: ImageDraw.ImageDraw, lines: list[str], top: int) -> int:
    body = font(62)
    y = top
    for number, line in enumerate(lines, start=1):
        cx, cy, r = MARGIN + 48, y + 44, 44
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=RED)
        _centered_at(draw, str(number), cx, cy, font(60, bold=True), (255, 255, 255))
        for piece in wrap(line, body, WIDTH - 2 * MARGIN - 140):
            draw.text((MARGIN + 130, y), piece, font=body, fill=INK)
            y += 86
        y += 24
    return y


def _hotline(draw: ImageDraw.ImageDraw, text: str, top: int) -> None:
    size = _fit(text, 104, WIDTH - 2 * MARGIN - 120, bold=True)
    box = (MARGIN, top, WIDTH - MARGIN, top + size + 100)
    draw.rounded_rectangle(box, radius=40, fill=(255, 241, 214), outline=RED, width=10)
    _centered(draw, text, top + 38, font(size, bold=True), DARK_RED)


def _footer(draw: ImageDraw.ImageDraw, text: str, link: str) -> None:
    draw.rectangle((0, HEIGHT - 250, WIDTH, HEIGHT), fill=RED)
    draw.rectangle((0, HEIGHT - 260, WIDTH, HEIGHT - 250), fill=GOLD)
    size = _fit(text, 58, WIDTH - 2 * MARGIN)
    _centered(draw, text, HEIGHT - 215, font(size), (255, 255, 255))
    _centered(draw, link, HEIGHT - 120, font(46), GOLD)


def wrap(text: str, face: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Lines of ``text`` no wider than ``width``: by words for English, by characters else."""
    spaced = " " in text
    units = text.split(" ") if spaced else list(text)
    joiner = " " if spaced else ""
    lines: list[str] = []
    current = ""
    for unit in units:
        candidate = f"{current}{joiner}{unit}" if current else unit
        if current and face.getlength(candidate) > width and unit not in "，。、；：！？":
            lines.append(current)
            current = unit
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def _fit(text: str, size: int, width: int, *, bold: bool = False) -> int:
    """The largest size up to ``size`` at which ``text`` fits on one line of ``width``."""
    while size > 24 and font(size, bold=bold).getlength(text) > width:
        size -= 4
    return size


def _centered(
    draw: ImageDraw.ImageDraw,
    text: str,
    top: int,
    face: ImageFont.FreeTypeFont,
    fill: tuple[int, int, int],
) -> None:
    draw.text(((WIDTH - face.getlength(text)) / 2, top), text, font=face, fill=fill)


def _centered_at(
    draw: ImageDraw.ImageDraw,
    text: str,
    cx: int,
    cy: int,
    face: ImageFont.FreeTypeFont,
    fill: tuple[int, int, int],
) -> None:
    draw.text((cx, cy), text, font=face, fill=fill, anchor="mm")

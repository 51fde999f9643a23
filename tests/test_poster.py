"""Village posters: an A4 sheet whose QR code holds the village's deep link."""

from __future__ import annotations

from pathlib import Path

import pytest
import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M
from typer.testing import CliRunner

from bot.cli import app
from bot.poster import HEIGHT, WIDTH, PosterInfo, deep_link, render, texts, write

INFO = PosterInfo(
    village_code="gangkou-bailing",
    village="柏岭村",
    township="港口乡",
    region="崇阳县港口乡",
    hotline="0715-3811061",
    bot_username="fanpin_hotline_bot",
)


def qr_cells_of(image: Image.Image, left: int, top: int, size: int, modules: int) -> list[bool]:
    """Read the QR back: sample the centre of every module (dark = True)."""
    step = size / modules
    gray = image.convert("L")
    cells = []
    for y in range(modules):
        for x in range(modules):
            value = gray.getpixel((int(left + (x + 0.5) * step), int(top + (y + 0.5) * step)))
            cells.append(isinstance(value, int) and value < 128)
    return cells


def test_the_qr_code_holds_the_deep_link_of_the_village() -> None:
    image, box = render(INFO)
    assert image.size == (WIDTH, HEIGHT)
    assert INFO.link == "https://t.me/fanpin_hotline_bot?start=v_gangkou-bailing"
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    code.add_data(INFO.link)
    code.make(fit=True)
    matrix = code.get_matrix()
    expected = [cell for row in matrix for cell in row]
    assert qr_cells_of(image, box.left, box.top, box.size, len(matrix)) == expected


def test_the_sheet_names_the_village_the_hotline_and_what_the_bot_is_for() -> None:
    shown = texts(INFO)
    assert "柏岭村" in shown["village"] and "港口乡" in shown["village"]
    assert "0715-3811061" in shown["hotline"]
    assert all(len(shown[f"line{n}"]) >= 6 for n in (1, 2, 3))
    assert "崇阳县港口乡" in shown["footer"]
    english = texts(PosterInfo(**{**INFO.__dict__, "language": "en"}))
    assert english["line1"] != shown["line1"] and "0715-3811061" in english["hotline"]
    nameless = texts(PosterInfo(**{**INFO.__dict__, "hotline": None}))
    assert "0715" not in nameless["hotline"] and nameless["hotline"]


def test_a_link_template_replaces_the_telegram_link() -> None:
    info = PosterInfo(**{**INFO.__dict__, "link_template": "https://x.gov.cn/chat?s={payload}"})
    assert info.link == "https://x.gov.cn/chat?s=v_gangkou-bailing"
    image, box = render(info)
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    code.add_data(info.link)
    code.make(fit=True)
    matrix = code.get_matrix()
    cells = qr_cells_of(image, box.left, box.top, box.size, len(matrix))
    assert cells == [cell for row in matrix for cell in row]


def test_png_and_pdf_are_written_at_a4(tmp_path: Path) -> None:
    png, pdf = write(INFO, tmp_path)
    with Image.open(png) as image:
        assert image.size == (2480, 3508)
        assert round(image.info["dpi"][0]) == 300
    content = pdf.read_bytes()
    assert content.startswith(b"%PDF") and b"/MediaBox [ 0 0 595.2756 841.8898 ]" in content


def test_a_village_code_too_long_for_a_deep_link_is_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        deep_link("bot", "x" * 63)


def test_the_command_writes_a_poster_for_a_village(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"HOTLINE_DATA_DIR": str(tmp_path / "var"), "HOTLINE_TELEGRAM_TOKEN": ""}
    out = ["--out", str(tmp_path), "--bot-username", "b"]
    result = runner.invoke(app, ["poster", "--village", "gangkou-bailing", *out], env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "gangkou-bailing.png").exists()
    assert (tmp_path / "gangkou-bailing.pdf").exists()
    assert "https://t.me/b?start=v_gangkou-bailing" in result.output
    unknown = runner.invoke(app, ["poster", "--village", "nowhere", *out], env=env)
    assert unknown.exit_code == 2 and "no village" in unknown.output
    nameless = runner.invoke(app, ["poster", "--village", "gangkou-bailing"], env=env)
    assert nameless.exit_code == 2 and "--bot-username" in nameless.output
    bad = ["--link-template", "https://x.gov.cn/chat"]
    templated = runner.invoke(app, ["poster", "--village", "gangkou-bailing", *bad], env=env)
    assert templated.exit_code == 2 and "{payload}" in templated.output
    default_out = runner.invoke(
        app,
        ["poster", "--village", "gangkou-bailing", "--link-template", "https://x.cn/?s={payload}"],
        env=env,
    )
    assert default_out.exit_code == 0, default_out.output
    assert (tmp_path / "var" / "posters" / "gangkou-bailing.png").exists()


def test_the_wechat_poster_holds_the_accounts_parametric_qr_code(
    tmp_path: Path, cli_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fakes.wechat_api import APP_ID, APP_SECRET, FakeWeChat

    runner = CliRunner()
    args = ["poster", "--channel", "wechat", "--village", "gangkou-bailing", "--out", str(tmp_path)]
    unset = runner.invoke(app, args)
    assert unset.exit_code == 2 and "HOTLINE_WECHAT_TOKEN" in unset.output
    with FakeWeChat() as wx:
        monkeypatch.setenv("HOTLINE_WECHAT_TOKEN", "poster-token")
        monkeypatch.setenv("HOTLINE_WECHAT_APP_ID", APP_ID)
        monkeypatch.setenv("HOTLINE_WECHAT_APP_SECRET", APP_SECRET)
        monkeypatch.setenv("HOTLINE_WECHAT_API_URL", wx.base_url)
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        (created,) = wx.calls_for("qrcode/create")
    assert created.body["action_name"] == "QR_LIMIT_STR_SCENE"
    assert created.body["action_info"]["scene"]["scene_str"] == "v_gangkou-bailing"
    assert "QR: http://weixin.qq.com/q/" in result.output
    assert (tmp_path / "gangkou-bailing.png").exists()

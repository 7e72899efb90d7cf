"""Translations: the Chinese catalogue is complete, has no fuzzy entries, and the committed .mo matches the .po.

The .po is parsed here by hand (no polib) and compared with what Python's gettext reads from the .mo, so a .po edited
without rerunning `manage.py compilemessages` fails the suite.
"""

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

LOCALE = Path(settings.BASE_DIR) / "locale"
ZH_PO = LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po"
ZH_MO = ZH_PO.with_suffix(".mo")
EN_PO = LOCALE / "en" / "LC_MESSAGES" / "django.po"


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0


def parse_po(path: Path) -> list[Entry]:
    """Entries of a .po file, header included (msgid ""), obsolete (#~) entries left out."""
    entries: list[Entry] = []
    current: Entry | None = None
    key: tuple[str, int | None] | None = None

    def finish():
        if current is not None:
            entries.append(current)

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#,"):
            if current is not None and key is not None and key[0] != "flags":
                finish()
                current, key = None, None
            current = current or Entry(line=number)
            current.flags |= {f.strip() for f in line[2:].split(",")}
            key = ("flags", None)
            continue
        if line.startswith("#"):
            continue
        match = re.match(r"^(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(\".*\")$", line)
        if match:
            word, index, literal = match.group(1), match.group(2), match.group(3)
            if word in ("msgctxt", "msgid") and key is not None and key[0] not in ("flags", "msgctxt"):
                finish()
                current = None
            current = current or Entry(line=number)
            key = (word, int(index) if index is not None else None)
            _append(current, key, "")
            _append(current, key, ast.literal_eval(literal))
            continue
        if line.startswith('"') and current is not None and key is not None:
            _append(current, key, ast.literal_eval(line))
            continue
        raise AssertionError(f"{path}:{number}: cannot parse {raw!r}")
    finish()
    return entries


def _append(entry: Entry, key, text: str) -> None:
    word, index = key
    if word == "msgstr":
        entry.msgstr[index or 0] = entry.msgstr.get(index or 0, "") + text
    elif word == "msgid":
        entry.msgid += text
    elif word == "msgid_plural":
        entry.msgid_plural = (entry.msgid_plural or "") + text
    elif word == "msgctxt":
        entry.msgctxt = (entry.msgctxt or "") + text


def messages(path: Path) -> list[Entry]:
    return [e for e in parse_po(path) if e.msgid != ""]


def header(path: Path) -> Entry:
    return next(e for e in parse_po(path) if e.msgid == "")


def test_the_parser_sees_every_msgid():
    text = ZH_PO.read_text(encoding="utf-8")
    live = [line for line in text.splitlines() if line.startswith("msgid ")]
    assert len(parse_po(ZH_PO)) == len(live)  # header included on both sides


def test_chinese_catalogue_is_not_empty():
    assert len(messages(ZH_PO)) > 50


def test_every_chinese_message_is_translated():
    untranslated = [
        f"line {e.line}: {e.msgid!r}" for e in messages(ZH_PO) if not e.msgstr or not all(e.msgstr.values())
    ]
    assert not untranslated, "Untranslated zh_Hans messages:\n" + "\n".join(untranslated)


def test_no_fuzzy_entries():
    for path in (ZH_PO, EN_PO):
        fuzzy = [f"line {e.line}: {e.msgid!r}" for e in parse_po(path) if "fuzzy" in e.flags]
        assert not fuzzy, f"Fuzzy entries in {path} (review them and remove the flag):\n" + "\n".join(fuzzy)


def test_chinese_header_declares_utf8_and_one_plural_form():
    head = header(ZH_PO).msgstr[0]
    assert "charset=UTF-8" in head
    assert "nplurals=1;" in head


def test_placeholders_survive_translation():
    pattern = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")
    for e in messages(ZH_PO):
        for text in e.msgstr.values():
            assert sorted(pattern.findall(text)) == sorted(pattern.findall(e.msgid)), e.msgid


def test_compiled_chinese_catalogue_matches_the_po():
    assert ZH_MO.exists(), "run manage.py compilemessages --ignore=.venv --ignore=var and commit the .mo"
    with ZH_MO.open("rb") as fh:
        catalog = gettext.GNUTranslations(fh)._catalog
    stale = []
    for e in messages(ZH_PO):
        key = e.msgid if e.msgctxt is None else f"{e.msgctxt}\x04{e.msgid}"
        if e.msgid_plural is None:
            compiled = catalog.get(key)
            if compiled != e.msgstr.get(0):
                stale.append(f"{e.msgid!r}: .po {e.msgstr.get(0)!r} / .mo {compiled!r}")
        else:
            for index, text in e.msgstr.items():
                compiled = catalog.get((key, index))
                if compiled != text:
                    stale.append(f"{e.msgid!r}[{index}]: .po {text!r} / .mo {compiled!r}")
    assert not stale, "The .mo is older than the .po — run compilemessages:\n" + "\n".join(stale)


def test_english_catalogue_is_compiled():
    assert EN_PO.with_suffix(".mo").exists()


@pytest.mark.parametrize(("language", "expected"), [("zh-hans", "红包返利"), ("en", "Red Packet Rebates")])
def test_runtime_translation(language, expected):
    with translation.override(language):
        assert translation.gettext("Red Packet Rebates") == expected


def test_plural_in_chinese():
    with translation.override("zh-hans"):
        assert translation.ngettext("%(count)d user banned.", "%(count)d users banned.", 3) % {"count": 3} == (
            "已封禁 3 个用户。"
        )


# --- the language switch ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_language_switch_to_english_and_back(client):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert response.url == "/accounts/login/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "Username, phone or email" in html  # the cookie wins over the browser header

    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "用户名、手机号或邮箱" in html


@pytest.mark.django_db
def test_language_switch_ignores_unknown_languages_and_foreign_next(client):
    response = client.post("/i18n/setlang/", {"language": "xx", "next": "https://evil.example/"})
    assert response.status_code == 302
    assert response.url == "/"
    assert settings.LANGUAGE_COOKIE_NAME not in client.cookies


@pytest.mark.django_db
def test_language_switch_form_is_on_every_page(client):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    form = html[html.index('<form class="langswitch"') : html.index("</form>", html.index('<form class="langswitch"'))]
    assert 'method="post"' in form
    assert "csrfmiddlewaretoken" in form
    assert 'name="language" value="zh-hans"' in form
    assert 'name="language" value="en"' in form
    assert "简体中文" in form and "English" in form
    assert 'value="en" lang="en"\n                  aria-pressed="true"' in form

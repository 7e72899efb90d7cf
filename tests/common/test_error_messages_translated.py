"""Every error message a user can be shown is translatable where it is written and has its zh-Hans translation, so a
reply never mixes languages: the ApplicationError raises of every app (and their errors.py constants), validation
errors (DRF's and Django's) and serializers' error_messages. Read from the source (ast), so a new raise with a bare
English string fails here, not in front of a Chinese-speaking user."""

import ast
from pathlib import Path

from django.conf import settings
from django.utils import translation

ROOT = Path(settings.BASE_DIR)
APPS = ("accounts", "antifraud", "campaigns", "common", "lucky", "packets", "rebates")
TRANSLATE = {"_", "gettext", "gettext_lazy", "pgettext", "pgettext_lazy", "ngettext", "ngettext_lazy"}
VALIDATION = {"ValidationError"}


def source_files() -> list[Path]:
    return sorted(
        p
        for app in APPS
        for p in (ROOT / app).rglob("*.py")
        if "migrations" not in p.parts and "management" not in p.parts and "fake_wechat" not in p.name
    )


def parsed() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(), filename=str(path)) for path in source_files()}


def error_classes(modules: dict[Path, ast.Module]) -> set[str]:
    """Names of ApplicationError and every class deriving from it, anywhere in the apps."""
    bases = {}
    for tree in modules.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = {_name(b) for b in node.bases}
    names = {"ApplicationError"}
    while True:
        more = {name for name, parents in bases.items() if parents & names} - names
        if not more:
            return names
        names |= more


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def bare_texts(node: ast.expr | None) -> list[ast.expr]:
    """Parts of a message expression that are text nobody translates (nested through dicts and lists, as
    ValidationError takes them)."""
    if node is None:
        return []
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip():
        return [node]
    if isinstance(node, ast.JoinedStr):
        return [node]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return bare_texts(node.left) + bare_texts(node.right)
    if isinstance(node, ast.Call) and _name(node.func) == "format":
        return bare_texts(node.func.value) if isinstance(node.func, ast.Attribute) else []
    if isinstance(node, ast.Dict):
        return [t for v in node.values for t in bare_texts(v)]
    if isinstance(node, ast.List | ast.Tuple):
        return [t for e in node.elts for t in bare_texts(e)]
    if isinstance(node, ast.IfExp):
        return bare_texts(node.body) + bare_texts(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [t for v in node.values for t in bare_texts(v)]
    return []


def translated_texts(node: ast.expr | None) -> list[str]:
    """The msgids of `_("…")` calls inside a message expression."""
    if node is None:
        return []
    return [
        call.args[0].value
        for call in ast.walk(node)
        if isinstance(call, ast.Call)
        and _name(call.func) in TRANSLATE
        and call.args
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    ]


def message_expressions(modules: dict[Path, ast.Module]):
    """(where, expression) for every message an error or a validation failure carries."""
    errors = error_classes(modules)
    for path, tree in modules.items():
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in errors | VALIDATION:
                keyword = next((k.value for k in node.keywords if k.arg == "message"), None)
                yield f"{where}:{node.lineno}", node.args[0] if node.args else keyword
            elif isinstance(node, ast.Call) and _name(node.func) == "__init__" and path.name == "errors.py":
                yield f"{where}:{node.lineno}", node.args[0] if node.args else None  # a default message in super()
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {_name(t) for t in targets}
                error_messages = bool(names & {"default_error_messages", "error_messages"})
                constant = path.name == "errors.py" and any(n.isupper() for n in names)  # a message constant
                if error_messages or constant:
                    yield f"{where}:{node.lineno}", node.value


def test_the_scan_sees_the_raises_of_every_app():
    found = {where.split("/")[0] for where, _ in message_expressions(parsed())}
    assert set(APPS) <= found


def test_the_scan_flags_a_bare_english_message():
    tree = ast.parse('class E(ApplicationError): pass\nraise E(f"No {x}.")\nraise ValidationError({"a": ["Bad."]})')
    flagged = [t for _, m in message_expressions({ROOT / "common" / "x.py": tree}) for t in bare_texts(m)]
    assert len(flagged) == 2


def test_every_error_message_is_translatable():
    untranslatable = [
        f"{where}: {ast.unparse(text)}"
        for where, message in message_expressions(parsed())
        for text in bare_texts(message)
    ]
    assert not untranslatable, "Wrap these messages in _() (gettext_lazy) where they are written:\n" + "\n".join(
        untranslatable
    )


def test_every_error_message_has_its_chinese_translation():
    missing = []
    with translation.override("zh-hans"):
        for where, message in message_expressions(parsed()):
            for msgid in translated_texts(message):
                if translation.gettext(msgid) == msgid:
                    missing.append(f"{where}: {msgid!r}")
    assert not missing, "Add these to locale/zh_Hans/LC_MESSAGES/django.po (then compile the .mo):\n" + "\n".join(
        missing
    )

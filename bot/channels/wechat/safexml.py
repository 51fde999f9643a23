"""Reading the small, flat XML documents WeChat posts, and nothing else.

The callback URL is public, so its body is hostile until proven otherwise. The parser is
expat with every door shut that XML bombs and XXE come through: no DOCTYPE at all (so no
entity can be declared, internal or external), no parameter entities, UTF-8 only, a bound
on bytes, elements and depth. WeChat's documents are ``<xml>`` with a few dozen leaf
children (menu events nest one level more), so the bounds never touch a real message.
"""

from __future__ import annotations

from xml.parsers import expat

#: Largest body accepted: a text message is at most a few KiB, even encrypted.
MAX_BYTES = 64 * 1024
MAX_ELEMENTS = 200
MAX_DEPTH = 4
_UTF8 = frozenset({"utf-8", "utf8"})


class XmlRejected(ValueError):
    """The document is not one WeChat would send; ``reason`` says why (safe to log)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _FlatReader:
    """Collects the text of the root's direct children; deeper text is dropped."""

    def __init__(self) -> None:
        self.root: str | None = None
        self.fields: dict[str, str] = {}
        self._depth = 0
        self._elements = 0
        self._current: str | None = None
        self._text: list[str] = []

    def start(self, name: str, _attributes: dict[str, str]) -> None:
        self._elements += 1
        self._depth += 1
        if self._elements > MAX_ELEMENTS:
            raise XmlRejected("too many elements")
        if self._depth > MAX_DEPTH:
            raise XmlRejected("nested too deeply")
        if self._depth == 1:
            self.root = name
        elif self._depth == 2:
            self._current, self._text = name, []

    def end(self, name: str) -> None:
        if self._depth == 2 and self._current is not None:
            self.fields.setdefault(name, "".join(self._text))
            self._current = None
        self._depth -= 1

    def text(self, data: str) -> None:
        if self._depth == 2 and self._current is not None:
            self._text.append(data)


def _refuse_doctype(*_args: object) -> None:
    raise XmlRejected("DOCTYPE is not allowed")


def _refuse_entity(*_args: object) -> None:
    raise XmlRejected("entities are not allowed")


def _refuse_external(*_args: object) -> int:
    raise XmlRejected("external entities are not allowed")


def _check_declaration(_version: str | None, encoding: str | None, _standalone: int) -> None:
    if encoding is not None and encoding.lower() not in _UTF8:
        raise XmlRejected("only UTF-8 is accepted")


def parse_flat(body: bytes, *, root: str = "xml") -> dict[str, str]:
    """The children of ``<root>`` as ``{tag: text}`` (the first of a repeated tag wins).

    Raises :class:`XmlRejected` for anything else: too big, not UTF-8, a DOCTYPE or an
    entity declaration, malformed XML, another root element.
    """
    if len(body) > MAX_BYTES:
        raise XmlRejected("document too large")
    if body.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in body:
        # expat would follow a UTF-16 byte order mark over the encoding we impose.
        raise XmlRejected("only UTF-8 is accepted")
    reader = _FlatReader()
    parser = expat.ParserCreate("UTF-8")  # overrides whatever the document declares
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.XmlDeclHandler = _check_declaration
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_external
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    parser.buffer_text = True
    try:
        parser.Parse(body, True)
    except expat.ExpatError as error:
        raise XmlRejected(f"malformed XML ({expat.errors.messages[error.code]})") from None
    if reader.root != root:
        raise XmlRejected(f"root element is not <{root}>")
    return reader.fields


def _is_xml_char(ch: str) -> bool:
    code = ord(ch)
    if code < 0x20:
        return ch in "\t\n\r"
    return not (0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF))


def cdata(value: str) -> str:
    """``value`` as CDATA, safe whatever it contains.

    ``]]>`` would end the section early, so it is split across two sections; characters
    XML 1.0 forbids (most C0 controls) are dropped, since WeChat would refuse the reply.
    """
    legal = "".join(ch for ch in value if _is_xml_char(ch))
    return "<![CDATA[" + legal.replace("]]>", "]]]]><![CDATA[>") + "]]>"

"""The one way provider XML is read (news feeds, the ForexFactory XML export): expat, streaming, hardened.

An XML answer is as hostile as any other input, and XML adds its own attacks: entity expansion ("billion
laughs"), external entities (a file or URL read on the parser's behalf) and nesting deep enough to exhaust
memory. :class:`SafeXmlParser` is the standard library's expat (no tree is built; the caller's handlers keep
only what they need, bounded) with

- every entity declaration refused (internal or external, general or parameter): the whole document fails, so
  no entity is ever expanded; references to undefined entities are expat's own error;
- external entities and DTDs never fetched (parameter-entity parsing off, external references refused);
- with ``refuse_doctype``, any document type declaration refused (for a format that never has one);
- elements nested at most ``max_depth`` deep (:data:`MAX_XML_DEPTH` by default);
- an ``encoding`` that overrides the document's declaration, when the caller allows only known ones; otherwise
  expat reads the declared one (an unknown or multi-byte codec fails the document).

Every failure is a :class:`~gateway.errors.MalformedInputError` naming the document and what was wrong, with
the first bytes of the body; defusedxml is not needed (and not a dependency).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final
from xml.parsers import expat

from gateway.echo import RAW_BYTES, clip_bytes, shown
from gateway.errors import MalformedInputError

MAX_XML_DEPTH: Final = 32
"""Deepest element nesting read: an RSS item's fields are at depth 4, an export's event fields at depth 3."""

StartHandler = Callable[[str, dict[str, str]], None]
EndHandler = Callable[[str], None]
TextHandler = Callable[[str], None]


class SafeXmlParser:
    """A hardened expat parser calling ``start(name, attributes)``, ``end(name)`` and ``text(data)``.

    ``what`` names the document in errors ("the calendar's XML", "feed fxstreet"). ``namespace_separator``
    makes expat give names as ``"<namespace><separator><local>"``. :attr:`byte_index` is the offset of the
    current event in the body (for the raw bytes of an item).
    """

    def __init__(
        self,
        what: str,
        start: StartHandler,
        end: EndHandler,
        text: TextHandler,
        *,
        encoding: str | None = None,
        namespace_separator: str | None = None,
        refuse_doctype: bool = False,
        max_depth: int = MAX_XML_DEPTH,
    ) -> None:
        self.what = what
        self.depth = 0
        self._start = start
        self._end = end
        self._max_depth = max_depth
        self._parser = expat.ParserCreate(encoding, namespace_separator)
        self._parser.buffer_text = True
        self._parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self._parser.EntityDeclHandler = self._refuse_entity
        self._parser.ExternalEntityRefHandler = self._refuse_external
        if refuse_doctype:
            self._parser.StartDoctypeDeclHandler = self._refuse_doctype
        self._parser.StartElementHandler = self._on_start
        self._parser.EndElementHandler = self._on_end
        self._parser.CharacterDataHandler = text

    @property
    def byte_index(self) -> int:
        return self._parser.CurrentByteIndex

    def parse(self, body: bytes) -> None:
        """Read the whole of ``body``, calling the handlers; MalformedInputError when it is not safe, well-formed
        XML (a handler may raise MalformedInputError itself, which passes through)."""
        try:
            self._parser.Parse(body, True)
        except expat.ExpatError as exc:
            raise self._malformed(f"not well-formed XML: {exc}", body) from None
        except (LookupError, ValueError) as exc:  # an unknown or multi-byte encoding (expat reads single-byte ones)
            raise self._malformed(f"XML in an unreadable encoding: {exc}", body) from None
        except RecursionError:
            raise self._malformed("XML too deeply nested", body) from None

    def _malformed(self, detail: str, body: bytes) -> MalformedInputError:
        return MalformedInputError(f"{self.what}: {detail}", raw=clip_bytes(body, RAW_BYTES)[0])

    def _on_start(self, name: str, attributes: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > self._max_depth:
            raise MalformedInputError(f"{self.what}: XML nests deeper than {self._max_depth} elements")
        self._start(name, attributes)

    def _on_end(self, name: str) -> None:
        self._end(name)
        self.depth -= 1

    def _refuse_entity(self, name: str, *_: object) -> None:
        refused = f"XML declares the entity {shown(name)}; entity declarations are refused"
        raise MalformedInputError(f"{self.what}: {refused}")

    def _refuse_external(self, *_: object) -> int:
        raise MalformedInputError(f"{self.what}: XML refers to an external entity; external entities are refused")

    def _refuse_doctype(self, name: str, *_: object) -> None:
        raise MalformedInputError(f"{self.what}: a document type declaration ({shown(name)}) is not accepted")

"""An independent reader of Microsoft Graph's v1.0 CSDL, for checking the project's extract.

It reads ``v1.0-cleanMetadata.xml`` (shipped beside the checkout in ``shared/reference``)
with the standard library only and shares no code with ``vdc_tui.emulator.schema``: when
the two disagree about a type, one of them is wrong, and the test says which type.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
REPO_ROOT = Path(__file__).resolve().parents[2]
CSDL_RELATIVE = Path("reference") / "graph" / "v1.0-cleanMetadata.xml"


class CsdlMissing(RuntimeError):
    """The CSDL file is not where CI lays ``shared/`` (beside the checkout)."""


def csdl_path() -> Path:
    """Where the CSDL is: ``$VDC_TUI_SHARED`` or ``../shared`` next to the repository root.

    Raises:
        CsdlMissing: with one line naming the paths tried.
    """
    tried: list[Path] = []
    env = os.environ.get("VDC_TUI_SHARED")
    roots = ([Path(env)] if env else []) + [REPO_ROOT.parent / "shared", REPO_ROOT / "shared"]
    for root in roots:
        candidate = root / CSDL_RELATIVE
        tried.append(candidate)
        if candidate.is_file():
            return candidate
    raise CsdlMissing(
        "Graph's CSDL (shared/reference/graph/v1.0-cleanMetadata.xml) is missing; looked at: "
        + ", ".join(str(p) for p in tried)
    )


@dataclass(frozen=True)
class CsdlProperty:
    """One structural or navigation property.

    Attributes:
        name: Property name.
        type: Full type name with namespace (``Edm.Guid``, ``microsoft.graph.keyCredential``),
            aliases resolved; ``Collection(...)`` kept.
        nullable: ``Nullable`` attribute (CSDL default: true).
        navigation: True for a NavigationProperty.
    """

    name: str
    type: str
    nullable: bool
    navigation: bool = False

    @property
    def is_collection(self) -> bool:
        """Whether the value is a JSON array."""
        return self.type.startswith("Collection(")

    @property
    def element_type(self) -> str:
        """The type without ``Collection(...)``."""
        return self.type[len("Collection(") : -1] if self.is_collection else self.type


@dataclass(frozen=True)
class CsdlType:
    """An entity, complex or enum type.

    Attributes:
        name: Full name (``microsoft.graph.application``).
        kind: ``EntityType``, ``ComplexType`` or ``EnumType``.
        base: Full name of the base type, or ``None``.
        open: ``OpenType="true"`` (Graph itself accepts unknown properties on such types).
        abstract: ``Abstract="true"``.
        properties: Declared properties (not inherited), by name.
        members: Enum member names (enum types only).
        flags: ``IsFlags="true"`` (enum types only: a comma-separated combination is valid).
    """

    name: str
    kind: str
    base: str | None
    open: bool
    abstract: bool
    properties: dict[str, CsdlProperty] = field(default_factory=dict)
    members: tuple[str, ...] = ()
    flags: bool = False


@dataclass(frozen=True)
class Csdl:
    """All types of the document, by full name."""

    types: dict[str, CsdlType]

    def lineage(self, name: str) -> list[CsdlType]:
        """The type and its base types, most derived first."""
        out: list[CsdlType] = []
        current: str | None = name
        while current is not None:
            t = self.types[current]
            out.append(t)
            current = t.base
        return out

    def all_properties(self, name: str) -> dict[str, CsdlProperty]:
        """Declared and inherited properties of a type."""
        props: dict[str, CsdlProperty] = {}
        for t in reversed(self.lineage(name)):
            props.update(t.properties)
        return props

    def is_open(self, name: str) -> bool:
        """Whether the type or one of its bases is open."""
        return any(t.open for t in self.lineage(name))


def _resolve(type_name: str, aliases: dict[str, str]) -> str:
    if type_name.startswith("Collection(") and type_name.endswith(")"):
        return f"Collection({_resolve(type_name[len('Collection(') : -1], aliases)})"
    head, _, tail = type_name.rpartition(".")
    if head in aliases:
        return f"{aliases[head]}.{tail}"
    return type_name


@cache
def load_csdl(path: Path | None = None) -> Csdl:
    """Parse the CSDL (cached: the file is 3.5 MB and every test reads the same one)."""
    root = ET.parse(path or csdl_path()).getroot()
    schemas = list(root.iter(f"{EDM}Schema"))
    aliases = {s.get("Alias", ""): s.get("Namespace", "") for s in schemas if s.get("Alias")}
    types: dict[str, CsdlType] = {}
    for schema in schemas:
        ns = schema.get("Namespace", "")
        for element in schema:
            kind = element.tag.removeprefix(EDM)
            if kind not in ("EntityType", "ComplexType", "EnumType"):
                continue
            name = f"{ns}.{element.get('Name')}"
            base = element.get("BaseType")
            props: dict[str, CsdlProperty] = {}
            for child in element:
                tag = child.tag.removeprefix(EDM)
                if tag in ("Property", "NavigationProperty"):
                    props[child.get("Name", "")] = CsdlProperty(
                        name=child.get("Name", ""),
                        type=_resolve(child.get("Type", ""), aliases),
                        nullable=child.get("Nullable", "true") != "false",
                        navigation=tag == "NavigationProperty",
                    )
            types[name] = CsdlType(
                name=name,
                kind=kind,
                base=_resolve(base, aliases) if base else None,
                open=element.get("OpenType") == "true",
                abstract=element.get("Abstract") == "true",
                properties=props,
                members=tuple(m.get("Name", "") for m in element if m.tag == f"{EDM}Member"),
                flags=element.get("IsFlags") == "true",
            )
    return Csdl(types)

"""Document sources, chosen by URL through a registry: one module per kind, one entry each.

`open_source` builds the source a `SourceConfig` names, with the department mapping it asked for.
Adding a kind (SharePoint, say) is one module with a `DocumentSource` subclass and one entry here.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from urllib.parse import urlsplit

from kgflow.config import Settings, SourceConfig
from kgflow.sources.base import DocumentSource, SourceRefused
from kgflow.sources.policy import policy_for

SOURCE_KINDS: dict[str, str] = {
    "local": "kgflow.sources.local:LocalSource",
    "object_store": "kgflow.sources.object_store:ObjectStoreSource",
}


def kind_of(url: str) -> str:
    """A plain path or file:// URL is a local folder; every other scheme is an fsspec store."""
    return "local" if urlsplit(url).scheme in ("", "file") else "object_store"


def open_source(config: SourceConfig, s: Settings, forbidden: list[Path] | None = None) -> DocumentSource:
    module, cls = SOURCE_KINDS[kind_of(config.url)].split(":")
    return getattr(import_module(module), cls)(config, policy_for(config, s), follow_symlinks=s.follow_symlinks,
                                               forbidden=forbidden)


def select_sources(s: Settings, source: str | None = None) -> list[SourceConfig]:
    """The sources a run scans: every configured one, one by name, or a path/URL as a source of its own.

    A path or URL given this way gets its own identity (derived from the URL), so scanning it never retires
    documents of the configured sources, and only another scan of the same location retires its own."""
    configured = s.source_configs
    if not source:
        return configured
    for c in configured:
        if source == c.name:
            return [c]
    if "/" not in source and "://" not in source:
        names = ", ".join(c.name for c in configured)
        raise SourceRefused(f"no source named {source!r}: configured sources are {names} "
                            f"(KGFLOW_SOURCES); give a path or URL to scan another location")
    url = source if "://" in source else str(Path(source).expanduser().absolute())
    from kgflow.ids import stable_id

    return [SourceConfig(name="adhoc-" + stable_id("src", url)[4:16], url=url)]


__all__ = ["SOURCE_KINDS", "DocumentSource", "SourceRefused", "kind_of", "open_source", "select_sources"]

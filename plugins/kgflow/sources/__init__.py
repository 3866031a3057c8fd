"""Document sources, chosen by URL through their registry (kgflow.seams.SOURCES): one module per kind, one
entry each. Each kind says which URL schemes it reads (`DocumentSource.schemes`; "*": any other).

`open_source` builds the source a `SourceConfig` names, with the department mapping it asked for.
Adding a kind (SharePoint, say) is one module with a `DocumentSource` subclass and one entry.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from kgflow.config import Settings, SourceConfig
from kgflow.seams import SOURCES
from kgflow.sources.base import DocumentSource, SourceRefused
from kgflow.sources.policy import policy_for


def kind_of(url: str) -> str:
    """The registered kind that reads this URL's scheme (a plain path is scheme ""); one that reads "*"
    takes every scheme no kind names."""
    scheme, catch_all = urlsplit(url).scheme, None
    for name in SOURCES.names():
        schemes = SOURCES.resolve(name).schemes
        if scheme in schemes:
            return name
        catch_all = catch_all or (name if "*" in schemes else None)
    if catch_all is None:
        raise SourceRefused(f"no source kind reads {scheme}:// URLs: one of {', '.join(SOURCES.names())}")
    return catch_all


def open_source(config: SourceConfig, s: Settings, forbidden: list[Path] | None = None) -> DocumentSource:
    return SOURCES.resolve(kind_of(config.url))(config, policy_for(config, s), follow_symlinks=s.follow_symlinks,
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


__all__ = ["DocumentSource", "SourceRefused", "kind_of", "open_source", "select_sources"]

"""Match image uses to the images of one repository, by digest.

Pure. A consumer that reports a digest is matched on it. A consumer that names only a tag is
matched on the digest the tag points to today, and the match says so (the consumer may in fact run
an older digest the tag pointed to when it started). An image index in use protects its platform
images (children) too, because pulling the index pulls one of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from bot.inventory.models import ImageUse, ResolvedUse
from bot.lifecycle.images import Image
from bot.text import short_digest


def uses_by_digest(
    images: Sequence[Image], uses: Iterable[ImageUse]
) -> dict[str, list[ResolvedUse]]:
    """For each digest of a repository, the uses that need it.

    ``uses`` must all concern this repository. Uses whose digest or tag is not in ``images`` are
    left out (they point at something already gone; ``why-missing`` is the tool for those).

    Example:
        >>> from bot.inventory.models import Consumer, UseKind
        >>> from bot.refs import ImageRef
        >>> index = Image("sha256:" + "a" * 64, ("v1",), 0.0, children=("sha256:" + "b" * 64,))
        >>> child = Image("sha256:" + "b" * 64, (), 0.0)
        >>> use = ImageUse(ImageRef("app", tag="v1"), UseKind.RUNNING, Consumer("k8s-pod", "web"))
        >>> found = uses_by_digest([index, child], [use])
        >>> [(d[7:9], r[0].note) for d, r in sorted(found.items())]
        [('aa', 'tag v1 resolved to the digest it points to now'), ('bb', 'platform image of index aaaaaaaaaaaa, which is in use')]
    """  # noqa: E501
    by_tag = {tag: image for image in images for tag in image.tags}
    by_digest = {image.digest: image for image in images}
    found: dict[str, list[ResolvedUse]] = defaultdict(list)
    for use in uses:
        resolved = _resolve(use, by_tag, by_digest)
        if resolved is None:
            continue
        found[resolved.digest].append(resolved)
        for child in by_digest[resolved.digest].children:
            if child in by_digest:
                note = f"platform image of index {short_digest(resolved.digest)}, which is in use"
                found[child].append(ResolvedUse(use, child, note))
    return dict(found)


def _resolve(
    use: ImageUse, by_tag: dict[str, Image], by_digest: dict[str, Image]
) -> ResolvedUse | None:
    ref = use.ref
    if ref.digest is not None:
        return ResolvedUse(use, ref.digest) if ref.digest in by_digest else None
    if ref.tag is not None and ref.tag in by_tag:
        note = f"tag {ref.tag} resolved to the digest it points to now"
        return ResolvedUse(use, by_tag[ref.tag].digest, note)
    return None

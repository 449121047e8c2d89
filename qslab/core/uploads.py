"""Uploaded files: checked by content (magic bytes) and size on the way in, served safely on the way out.

A browser or a client states a file's type; neither the stated type nor the file name is trusted. An
upload is accepted only if its first bytes are those of one of the kinds the field allows and it is no
larger than the field's limit. Files go back out as downloads (``Content-Disposition: attachment``)
with ``X-Content-Type-Options: nosniff`` and a sandboxing Content-Security-Policy, so a file that
slipped through can never run as a page of the site.

Use the validator on a form or model field::

    file = forms.FileField(validators=[UploadValidator(("pdf",), max_bytes=20 * MB)])

or call ``check_upload(upload, kinds, max_bytes)`` in a service, and ``download_response(field_file,
filename)`` in the view that serves it.
"""

from __future__ import annotations

import dataclasses
import mimetypes
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.http import FileResponse
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

MB = 1024 * 1024
DEFAULT_MAX_BYTES = 20 * MB
HEAD_BYTES = 8192


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    content_type: str
    extensions: tuple[str, ...]


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("pdf", "application/pdf", (".pdf",)),
        Kind("png", "image/png", (".png",)),
        Kind("jpeg", "image/jpeg", (".jpg", ".jpeg")),
        Kind("gif", "image/gif", (".gif",)),
        Kind("webp", "image/webp", (".webp",)),
        Kind("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (".xlsx",)),
        Kind("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", (".docx",)),
        Kind("ole", "application/octet-stream", (".xls", ".doc")),
        Kind("text", "text/plain; charset=utf-8", (".csv", ".txt", ".tsv", ".json")),
    )
}
IMAGES = ("png", "jpeg", "gif", "webp")
DOCUMENTS = ("pdf", *IMAGES, "xlsx", "docx", "ole")
TABLES = ("text", "xlsx")

# Markup that a browser would render as a page (HTML, SVG, XML) is never accepted as "text".
_ACTIVE_MARKUP = (b"<!doctype", b"<html", b"<script", b"<svg", b"<?xml", b"<body", b"<iframe", b"<head")


def sniff(head: bytes) -> str | None:
    """The kind whose signature ``head`` (the file's first bytes) carries, or ``None``.

    >>> sniff(b"%PDF-1.7\\n"), sniff(b"\\x89PNG\\r\\n\\x1a\\n...."), sniff(b"GIF89a"), sniff(b"MZ\\x90\\x00")
    ('pdf', 'png', 'gif', None)
    >>> sniff("名称,数值\\n样品,1.5\\n".encode()), sniff(b"<html><script>alert(1)</script>")
    ('text', None)
    """
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"PK\x03\x04"):
        if b"xl/" in head:
            return "xlsx"
        if b"word/" in head:
            return "docx"
        return None  # another zip: an archive we do not open
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    return "text" if _is_plain_text(head) else None


def _is_plain_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if any(marker in lowered[:1024] for marker in _ACTIVE_MARKUP):
        return False
    for encoding in ("utf-8", "gb18030"):
        # The head may end inside a multi-byte character: allow up to three bytes cut off at the end.
        for cut in range(4):
            try:
                head[: len(head) - cut].decode(encoding)
            except UnicodeDecodeError:
                continue
            return True
    return False


def _read_head(upload: Any) -> bytes:
    position = upload.tell() if hasattr(upload, "tell") else 0
    upload.seek(0)
    head = upload.read(HEAD_BYTES)
    upload.seek(position)
    return head if isinstance(head, bytes) else head.encode()


def check_upload(upload: Any, kinds: Iterable[str] = DOCUMENTS, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The kind of ``upload`` if it is one of ``kinds`` and at most ``max_bytes``, else ValidationError."""
    allowed = tuple(kinds)
    unknown = set(allowed) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown upload kinds {sorted(unknown)}")
    size = getattr(upload, "size", None)
    if size is None:
        size = len(_read_head(upload))
    if size == 0:
        raise ValidationError(_("The file is empty."), code="empty")
    if size > max_bytes:
        raise ValidationError(
            _("The file is too large (%(size)s MB; at most %(limit)s MB).")
            % {"size": f"{size / MB:.1f}", "limit": f"{max_bytes / MB:g}"},
            code="too_large",
        )
    kind = sniff(_read_head(upload))
    if kind not in allowed:
        names = ", ".join(ext for k in allowed for ext in KINDS[k].extensions)
        raise ValidationError(
            _("The file's content is not an accepted type (%(names)s).") % {"names": names},
            code="wrong_type",
        )
    return kind


@deconstructible
class UploadValidator:
    """A field validator: ``UploadValidator(("pdf", "png"), max_bytes=5 * MB)``."""

    def __init__(self, kinds: Iterable[str] = DOCUMENTS, max_bytes: int = DEFAULT_MAX_BYTES):
        self.kinds = tuple(kinds)
        self.max_bytes = max_bytes

    def __call__(self, upload: Any) -> None:
        check_upload(upload, self.kinds, self.max_bytes)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, UploadValidator)
            and self.kinds == other.kinds
            and self.max_bytes == other.max_bytes
        )

    def __hash__(self) -> int:
        return hash((self.kinds, self.max_bytes))


def safe_filename(name: str) -> str:
    """A download name without path parts or characters that could break the header.

    >>> safe_filename('../../etc/pass"wd\\r\\n.pdf')
    'pass_wd__.pdf'
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join("_" if (ch in '"\r\n;' or ord(ch) < 32) else ch for ch in base).strip(" .")
    return cleaned or "download"


def download_response(stored: Any, filename: str, content_type: str | None = None) -> FileResponse:
    """Serve a stored file as a download that the browser never renders as a page of the site."""
    name = safe_filename(filename)
    if content_type is None:
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.split(";")[0].strip() in (
        "text/html",
        "image/svg+xml",
        "application/xhtml+xml",
        "text/xml",
    ):
        content_type = "application/octet-stream"
    response = FileResponse(stored.open("rb"), as_attachment=True, filename=name, content_type=content_type)
    harden_download(response)
    return response


def harden_download(response: Any) -> Any:
    """The headers every served file carries (also for responses built elsewhere)."""
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response

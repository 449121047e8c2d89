"""Official acts: gap-free numbers per kind and year, PDFs in both languages, stored with a hash.

The number is drawn and the PDFs rendered in one transaction: if rendering fails the sequence is not
advanced, so numbers have no gaps; the sequence row is locked while drawing, so two offices issuing
at the same moment never get the same number.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from qslab.core.models import (
    ChangeRecord,
    DocumentKind,
    DocumentRecipient,
    DocumentSequence,
    OfficialDocument,
)
from qslab.core.pdf import render_pdf


def draw_number(kind: DocumentKind, year: int) -> int:
    """The next sequence number for ``kind`` in ``year``. Call inside a transaction."""
    try:
        with transaction.atomic():
            DocumentSequence.objects.get_or_create(kind=kind, year=year)
    except IntegrityError:
        pass  # created concurrently by another transaction: fine, lock it below
    sequence = DocumentSequence.objects.select_for_update().get(kind=kind, year=year)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    return sequence.last_number


@transaction.atomic
def issue_document(
    *,
    kind_code: str,
    title_zh: str,
    title_en: str,
    body_zh: str = "",
    body_en: str = "",
    issued_by: Any = None,
    public: bool | None = None,
    subject: Any = None,
    recipients: list[Any] | None = None,
    template: str = "core/pdf/document.html",
    extra_context: dict[str, Any] | None = None,
) -> OfficialDocument:
    """Number, render (zh-Hans and en) and store an official document; returns the saved row."""
    kind = DocumentKind.objects.get(code=kind_code)
    issued_at = timezone.now()
    year = timezone.localtime(issued_at).year
    seq = draw_number(kind, year)
    number = kind.format_number(year, seq)
    context = {
        "number": number,
        "kind": kind,
        "title_zh": title_zh,
        "title_en": title_en,
        "body_zh": body_zh,
        "body_en": body_en,
        "issued_at": timezone.localtime(issued_at),
        "issued_by": issued_by,
        "subject": subject,
        **(extra_context or {}),
    }
    doc = OfficialDocument(
        kind=kind,
        year=year,
        sequence=seq,
        number=number,
        title_zh=title_zh,
        title_en=title_en,
        body_zh=body_zh,
        body_en=body_en,
        issued_at=issued_at,
        issued_by=issued_by if getattr(issued_by, "pk", None) else None,
        is_public=kind.public_by_default if public is None else public,
        published_at=issued_at if (kind.public_by_default if public is None else public) else None,
    )
    if subject is not None:
        doc.content_type = ContentType.objects.get_for_model(subject, for_concrete_model=True)
        doc.object_id = str(subject.pk)
    for language, field, hash_field in (("zh-hans", "pdf_zh", "sha256_zh"), ("en", "pdf_en", "sha256_en")):
        pdf = render_pdf(template, {**context, "pdf_identifier": f"{number}-{language}".encode()}, language)
        setattr(doc, hash_field, hashlib.sha256(pdf).hexdigest())
        getattr(doc, field).save(f"{kind.code}-{year}-{seq:04d}-{language}.pdf", ContentFile(pdf), save=False)
    doc.save()
    for user in recipients or []:
        DocumentRecipient.objects.create(document=doc, user=user)
    return doc


@transaction.atomic
def publish_document(document: OfficialDocument, by: Any, reason: str) -> OfficialDocument:
    """Publish an issued, non-public document on the portal (committee office only, with a reason).

    Documents of a kind that is not public by default (a rejection letter, committee minutes, an
    acceptance consensus) go only to their recipients when issued; the office may later decide to
    publish one. The PDFs are not touched (their hashes stay valid); the row becomes public, gets its
    publication time, and an audited change record names who published it and why.
    """
    from qslab.accounts.roles import Role, has_role
    from qslab.core import context
    from qslab.core.changelog import record_change

    if not has_role(by, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office publishes official documents."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why this document is being published.")]})
    locked = OfficialDocument.objects.select_for_update().get(pk=document.pk)
    if locked.is_public:
        raise ValidationError(
            {"document": [_("Document %(number)s is already public.") % {"number": locked.number}]}
        )
    before = {"is_public": False, "published_at": None}
    locked.is_public = True
    locked.published_at = timezone.now()
    locked.save(update_fields=["is_public", "published_at"])
    with context.acting_as(by, reason):
        record_change(
            locked,
            ChangeRecord.Action.UPDATE,
            before,
            {"is_public": True, "published_at": locked.published_at.isoformat()},
            reason=reason,
        )
    document.is_public, document.published_at = locked.is_public, locked.published_at
    return locked


#: what the office may change on a kind (not its code, which the code of the apps names)
DOCUMENT_KIND_EDITABLE = ("name_zh", "name_en", "prefix", "pattern", "public_by_default")


def _pattern_problem(pattern: str, prefix: str) -> str | None:
    """Why a number pattern cannot number documents, or None."""
    import string

    try:
        names = {name for _text, name, _spec, _conv in string.Formatter().parse(pattern) if name is not None}
        if not names <= {"prefix", "year", "seq"}:  # no other names, no attribute or index access
            raise ValueError(", ".join(sorted(names - {"prefix", "year", "seq"})))
        if "seq" not in names:
            return _("The pattern must contain {seq}, the number in the year.")
        pattern.format(prefix=prefix, year=2026, seq=1)
    except (KeyError, IndexError, ValueError) as exc:
        return _("The pattern cannot be filled in: %(error)s.") % {"error": exc}
    return None


@transaction.atomic
def update_document_kind(kind: DocumentKind, by: Any, reason: str = "", **changes: Any) -> DocumentKind:
    """Change a kind's names, number prefix and pattern, or whether its documents go on the portal when
    issued (office only).

    Documents already issued keep their number and state (one is published from its page, with a
    reason); the yearly sequence goes on counting under a new pattern. The change is a change record with
    the values before and after and the reason.
    """
    from qslab.accounts.roles import Role, has_role
    from qslab.core import context
    from qslab.core.changelog import record_change

    if not has_role(by, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office changes document kinds."))
    unknown = set(changes) - set(DOCUMENT_KIND_EDITABLE)
    if unknown:
        raise ValueError(f"not editable fields of a document kind: {sorted(unknown)}")
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for field in ("name_zh", "name_en", "prefix", "pattern"):
        if changes.get(field) is not None:
            value = str(changes[field]).strip()
            limit = DocumentKind._meta.get_field(field).max_length
            if not value:
                errors[field] = [_("This field is required.")]
            elif len(value) > limit:
                errors[field] = [_("At most %(n)d characters.") % {"n": limit}]
            clean[field] = value
    if "pattern" not in errors and ("pattern" in clean or "prefix" in clean):
        problem = _pattern_problem(clean.get("pattern", kind.pattern), clean.get("prefix", kind.prefix))
        if problem:
            errors["pattern"] = [problem]
    if changes.get("public_by_default") is not None:
        clean["public_by_default"] = bool(changes["public_by_default"])
    if errors:
        raise ValidationError(errors)
    locked = DocumentKind.objects.select_for_update().get(pk=kind.pk)
    changed = [f for f, v in clean.items() if getattr(locked, f) != v]
    if not changed:
        return locked
    before = {f: getattr(locked, f) for f in changed}
    for field in changed:
        setattr(locked, field, clean[field])
    locked.save(update_fields=changed)
    with context.acting_as(by, (reason or "").strip()):
        record_change(locked, ChangeRecord.Action.UPDATE, before, {f: clean[f] for f in changed})
    for field in changed:
        setattr(kind, field, clean[field])
    return locked


def verify_document(doc: OfficialDocument) -> bool:
    """True if both stored PDFs still have the hashes recorded when they were issued."""
    for field, hash_field in (("pdf_zh", "sha256_zh"), ("pdf_en", "sha256_en")):
        with getattr(doc, field).open("rb") as fh:
            if hashlib.sha256(fh.read()).hexdigest() != getattr(doc, hash_field):
                return False
    return True


# Folders under MEDIA_ROOT whose files are written by qslab.core before the transaction that records them
# commits (official documents, attachments). A transaction that rolls back, or a worker killed in
# between, leaves a file no row names; these are swept.
SWEPT_FOLDERS = ("documents", "attachments")


def sweep_orphan_files(min_age_seconds: int = 3600) -> list[str]:
    """Delete files under ``SWEPT_FOLDERS`` that no row refers to and that are older than ``min_age_seconds``
    (younger ones may belong to a transaction still running). Returns the names removed."""
    import time
    from pathlib import Path

    from django.apps import apps
    from django.conf import settings
    from django.db import models as dj_models

    referenced: set[str] = set()
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, dj_models.FileField):
                referenced.update(
                    model._default_manager.exclude(**{field.attname: ""}).values_list(
                        field.attname, flat=True
                    )
                )
    root = Path(settings.MEDIA_ROOT)
    cutoff = time.time() - min_age_seconds
    removed = []
    for folder in SWEPT_FOLDERS:
        for path in sorted((root / folder).rglob("*")) if (root / folder).is_dir() else []:
            name = path.relative_to(root).as_posix()
            if path.is_file() and name not in referenced and path.stat().st_mtime <= cutoff:
                path.unlink()
                removed.append(name)
    return removed

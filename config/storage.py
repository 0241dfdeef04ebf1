"""Media storage (package photos, tenant logos, anything written through
`default_storage` or a FileField): local disk by default, S3 when
AWS_STORAGE_BUCKET_NAME is set (config/storage_s3.py, docs/deploy.md).

Both classes delete a file they wrote inside a transaction when that
transaction (or the savepoint the write happened in) rolls back, so a
refused or failed save leaves no orphan behind, whichever code wrote it.

Why delete-on-rollback rather than write-after-commit: a committed row then
always points at a file that exists (the file is written first, the row
second; deletes go the other way, `transaction.on_commit`), code that reads
the file back right after saving it (dimensions, thumbnails) works, and a
storage outage fails the request instead of committing a photo whose file
never arrives. The price is that a process killed between the upload and
the rollback leaves the file (no hook runs in a dead process).
"""

from __future__ import annotations

from functools import partial

from django.core.files.storage import FileSystemStorage

from config.db import on_rollback


class RollbackCleanupMixin:
    """Deletes what `_save` wrote if the enclosing transaction rolls back."""

    def _save(self, name, content):
        name = super()._save(name, content)
        on_rollback(partial(self.delete, name))
        return name


class MediaFileSystemStorage(RollbackCleanupMixin, FileSystemStorage):
    """MEDIA_ROOT on this host's disk (`make run`, tests, one-host setups)."""

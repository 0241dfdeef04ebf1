"""Media in an S3-compatible bucket (AWS S3, MinIO, R2, …) through
django-storages; settings build its options from AWS_* variables. A module
of its own so that local runs never import boto3."""

from __future__ import annotations

from storages.backends.s3 import S3Storage

from config.storage import RollbackCleanupMixin


class MediaS3Storage(RollbackCleanupMixin, S3Storage):
    """Objects are never overwritten: names that exist get a suffix
    (file_overwrite is off), so one tenant's upload can never replace
    another's file, and a rollback deletes only what it wrote."""

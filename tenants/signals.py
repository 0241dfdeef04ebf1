"""A committed change to a tenant or an API key starts a new key-state epoch:
every process re-reads the key on its next request (tenants.api.gate), so a
revoked key or a deactivated tenant is refused at once."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from tenants.api import gate
from tenants.models import ApiKey, Tenant


def new_epoch_after_commit() -> None:
    transaction.on_commit(gate.new_epoch)


@receiver([post_save, post_delete], sender=Tenant)
@receiver([post_save, post_delete], sender=ApiKey)
def _tenant_or_key_changed(sender, **kwargs) -> None:
    new_epoch_after_commit()

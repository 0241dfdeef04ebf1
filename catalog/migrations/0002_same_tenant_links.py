"""Composite foreign keys: a package↔add-on link, and a photo, can only point
at rows of their own tenant. Django has no composite foreign keys, so the
database enforces this with plain SQL on top of the (id, tenant) unique
constraints of 0001."""

from django.db import migrations

LINKS = [
    ("catalog_packageaddon", "package_id", "catalog_package", "catalog_packageaddon_package_same_tenant_fk"),
    ("catalog_packageaddon", "add_on_id", "catalog_addon", "catalog_packageaddon_add_on_same_tenant_fk"),
    ("catalog_packagephoto", "package_id", "catalog_package", "catalog_packagephoto_package_same_tenant_fk"),
]


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql=(
                f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}, tenant_id) "
                f"REFERENCES {target} (id, tenant_id) ON DELETE CASCADE"
            ),
            reverse_sql=f"ALTER TABLE {table} DROP CONSTRAINT {name}",
        )
        for table, column, target, name in LINKS
    ]

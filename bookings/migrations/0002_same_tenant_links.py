"""A booking's package and add-on lines belong to the booking's tenant,
enforced by composite foreign keys (see catalog 0002)."""

from django.db import migrations

LINKS = [
    ("bookings_booking", "package_id", "catalog_package", "bookings_booking_package_same_tenant_fk"),
]


class Migration(migrations.Migration):
    dependencies = [("bookings", "0001_initial"), ("catalog", "0002_same_tenant_links")]

    operations = [
        migrations.RunSQL(
            sql=(
                f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}, tenant_id) "
                f"REFERENCES {target} (id, tenant_id)"
            ),
            reverse_sql=f"ALTER TABLE {table} DROP CONSTRAINT {name}",
        )
        for table, column, target, name in LINKS
    ]

"""The hourly rates of a resource became tariffs in 0003; the columns go now."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("sharing", "0007_booking_starts_index")]

    operations = [
        migrations.RemoveField(model_name="resource", name="rate_external"),
        migrations.RemoveField(model_name="resource", name="rate_internal"),
    ]

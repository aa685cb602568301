"""The newest batch of each hub in one index step (the worklist's "last delivered", issue 13).

Without it the worklist's query walks all of a hub's batches (the (hub, batch_id) index) and
sorts them: a year of batches per hub on every page. Plain SQL, and no model index, so that the
models (centre/records/models.py) and this migration's state keep saying the same; the index
can move into the model's Meta with SeparateDatabaseAndState later."""

from django.db import migrations

INDEX = "batches_newest"


class Migration(migrations.Migration):
    dependencies = [("records", "0001_initial")]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX {INDEX} ON batches (hub_id, stored_at)",
            f"DROP INDEX {INDEX}",
        )
    ]

"""PostgreSQL: what ties each event to its incident, kept by triggers instead of a foreign key.

A foreign key checks every inserted row on its own (one lookup and row lock per event): in
a big COPY that check cost the server a third of its work (200,000 events: 2.8-3.2 s of
server time with it, 1.9-2.2 s without). The triggers here keep the same rules, and let
the store's own ingest skip the per-row check it does not need:

- an event whose incident is not stored is refused (`foreign_key_violation`), on insert and
  on update, and the incident row is locked against deletion until the transaction ends,
  as the foreign key did;
- deleting an incident deletes its events, and renaming one moves them (the foreign key's
  ON DELETE / ON UPDATE CASCADE).

The ingest upserts every incident a batch's events name, in the same transaction and before
the events (`Store._write_batch`), and that upsert locks each incident row it meets (ON
CONFLICT DO UPDATE locks even the rows it leaves unchanged). So while it COPYs the events
it marks the transaction (`incidents_held`) and the per-row check is skipped; any other
writer, or this store's own other statements, are checked.

SQLite keeps its foreign key: there the check is a B-tree probe in the same process.
"""
from __future__ import annotations

from sqlalchemy.engine import Connection

# A transaction-local setting: 'on' while the ingest COPYs events whose incidents it holds.
HELD_SETTING = "review_kit.incidents_held"

_STATEMENTS = (
    # SET search_path FROM CURRENT: the functions find the tables of the store they were made
    # for, whatever search path a later session has.
    """CREATE OR REPLACE FUNCTION review_kit_event_incident_check() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM 1 FROM incidents WHERE incident_id = NEW.incident_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE foreign_key_violation
            USING MESSAGE = 'insert or update on table "events" names an incident not in table "incidents"',
                  DETAIL = format('Key (incident_id)=(%s) is not present in table "incidents".', NEW.incident_id);
    END IF;
    RETURN NULL;
END $$""",
    """CREATE OR REPLACE FUNCTION review_kit_incident_deleted() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM events WHERE incident_id = OLD.incident_id;
    RETURN NULL;
END $$""",
    """CREATE OR REPLACE FUNCTION review_kit_incident_renamed() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE events SET incident_id = NEW.incident_id WHERE incident_id = OLD.incident_id;
    RETURN NULL;
END $$""",
    f"""CREATE TRIGGER review_kit_event_incident AFTER INSERT OR UPDATE OF incident_id ON events
    FOR EACH ROW WHEN (current_setting('{HELD_SETTING}', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION review_kit_event_incident_check()""",
    """CREATE TRIGGER review_kit_incident_deleted AFTER DELETE ON incidents
    FOR EACH ROW EXECUTE FUNCTION review_kit_incident_deleted()""",
    """CREATE TRIGGER review_kit_incident_renamed AFTER UPDATE OF incident_id ON incidents
    FOR EACH ROW WHEN (OLD.incident_id IS DISTINCT FROM NEW.incident_id)
    EXECUTE FUNCTION review_kit_incident_renamed()""",
)


def link_events_to_incidents(conn: Connection) -> None:
    """Make the triggers on a PostgreSQL store whose `events` has no foreign key (a new
    store's, or one the version 4 migration has just dropped)."""
    for statement in _STATEMENTS:
        conn.exec_driver_sql(statement)


def holding_incidents(held: bool) -> str:
    """The statement that marks (or unmarks) this transaction as holding the incidents of
    the events it inserts next. Transaction-local: a rollback to an earlier savepoint undoes
    it too."""
    return f"SELECT set_config('{HELD_SETTING}', '{'on' if held else 'off'}', true)"

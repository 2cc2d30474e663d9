"""The sharding plan of docs/scaling.md, held against the schema.

Sharded by clinic (Citus), a table is *distributed* by `clinic_id`, a *reference* table (a copy
on every node) or a *local* one (on the coordinator only). A distributed table must name the
clinic on every row, and each of its unique keys must include the clinic, or a node could not
enforce it alone. Every exception is listed here with its reason, and docs/scaling.md's table
places every table the way this file does.
"""

import re
from pathlib import Path

import pytest
from sqlalchemy import Index, Table, UniqueConstraint

from app.models import metadata

TENANT = "clinic_id"
DOC = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"

# Tables that are not distributed by clinic, and why.
NOT_DISTRIBUTED = {
    "clinic": (
        "reference",
        "the tenants themselves: few rows, rarely written; as a reference table every "
        "distributed table keeps its foreign key to it",
    ),
    "template": (
        "reference",
        "the catalogue: the built-in library (no clinic) and each clinic's own templates, "
        "which assignments and completions of any clinic pin",
    ),
    "template_version": ("reference", "immutable versions of the catalogue's templates"),
    "program": (
        "reference",
        "the program catalogue: built-in programs (no clinic) and each clinic's own, which "
        "enrolments of any clinic pin, as templates are",
    ),
    "program_version": ("reference", "immutable versions of the catalogue's programs"),
    "audit_prune_permit": (
        "reference",
        "a row present only inside a retention prune, read by the append-only triggers of "
        "every audit shard",
    ),
}

# Distributed tables without a NOT NULL clinic_id yet, and why.
TENANT_COLUMN_MISSING = {
    "audit_event": "rows of requests no clinic can be named for (no token, an unknown email) "
    "have none; at cutover they are written with the nil UUID (docs/scaling.md)",
}

# Unique keys of distributed tables without clinic_id, and why.
UNIQUE_WITHOUT_TENANT: dict[tuple[str, tuple[str, ...]], str] = {}

# Foreign keys from a reference table to a distributed one (Citus has none): dropped at cutover.
DROPPED_AT_CUTOVER = {
    ("template", "created_by_id"): "the author of a clinic's template: kept as a plain id",
    ("template_version", "created_by_id"): "the author of a version: kept as a plain id",
}


def placement(table: str) -> str:
    return NOT_DISTRIBUTED[table][0] if table in NOT_DISTRIBUTED else "distributed"


def distributed_tables() -> list[Table]:
    return [t for t in metadata.sorted_tables if placement(t.name) == "distributed"]


def unique_keys(table: Table) -> list[tuple[str, ...]]:
    """The column sets a table holds unique, primary key aside (widened at cutover)."""
    keys = [
        tuple(c.name for c in constraint.columns)
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    ]
    keys += [
        tuple(c.name for c in index.columns)
        for index in table.indexes
        if isinstance(index, Index) and index.unique
    ]
    return keys


@pytest.mark.parametrize("table", [t.name for t in distributed_tables()])
def test_each_distributed_table_names_the_clinic_on_every_row(table):
    if table in TENANT_COLUMN_MISSING:
        pytest.skip(f"{table}: {TENANT_COLUMN_MISSING[table]}")
    column = metadata.tables[table].c.get(TENANT)
    assert column is not None, f"{table} has no {TENANT}"
    assert not column.nullable, f"{table}.{TENANT} may be NULL"


@pytest.mark.parametrize("table", [t.name for t in distributed_tables()])
def test_each_unique_key_of_a_distributed_table_includes_the_clinic(table):
    for key in unique_keys(metadata.tables[table]):
        if (table, key) in UNIQUE_WITHOUT_TENANT:
            continue
        assert TENANT in key, f"unique {table}{key} does not include {TENANT}"


def test_the_exceptions_are_current():
    """Each listed exception names what the schema has, so a fixed one must leave the list."""
    for table in [*NOT_DISTRIBUTED, *TENANT_COLUMN_MISSING]:
        assert table in metadata.tables, f"{table} is listed but no longer exists"
    for table in TENANT_COLUMN_MISSING:
        column = metadata.tables[table].c.get(TENANT)
        assert column is None or column.nullable, f"{table} has its {TENANT}: unlist it"
    for table, key in UNIQUE_WITHOUT_TENANT:
        assert key in unique_keys(metadata.tables[table]), f"{table}{key}: no such unique key"


def test_reference_tables_point_only_at_reference_tables_but_for_what_cutover_drops():
    pointing_at_distributed = {
        (table.name, fk.parent.name)
        for table in metadata.sorted_tables
        if placement(table.name) == "reference"
        for fk in table.foreign_keys
        if placement(fk.column.table.name) == "distributed"
    }
    assert pointing_at_distributed == set(DROPPED_AT_CUTOVER)


def _doc_rows() -> dict[str, list[str]]:
    """docs/scaling.md's table of tables: `| table | tenant column | placement | notes |`."""
    rows: dict[str, list[str]] = {}
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`(\w+)`", cells[0]) if line.startswith("|") else None
        if match and len(cells) == 4:
            assert match.group(1) not in rows, f"{match.group(1)} is listed twice"
            rows[match.group(1)] = cells[1:]
    return rows


def test_the_scaling_doc_places_every_table_as_planned():
    rows = _doc_rows()
    assert set(rows) == set(metadata.tables)
    for table, (tenant, placed, notes) in rows.items():
        assert placed == placement(table), table
        has_tenant = TENANT in metadata.tables[table].c
        assert (TENANT in tenant) == has_tenant, f"{table}: tenant column {tenant!r}"
        assert notes, f"{table} has no notes"


def _citus_steps() -> tuple[list[str], list[str]]:
    """The tables the doc's Citus SQL makes reference tables, and distributed ones, in order."""
    sql = DOC.read_text().split("```sql\n", 1)[1].split("```", 1)[0]
    statements = [s for s in sql.split(";") if "create_" in s]
    reference: list[str] = []
    distributed: list[str] = []
    for statement in statements:
        names = re.findall(r"'(\w+)'", re.sub(r"colocate_with => '\w+'", "", statement))
        if "create_reference_table" in statement:
            reference += names
        elif "create_distributed_table" in statement:
            distributed += [n for n in names if n != "clinic_id"]
    return reference, distributed


def test_the_citus_steps_place_each_table_once_parents_first():
    reference, distributed = _citus_steps()
    assert sorted(reference) == sorted(t for t in metadata.tables if placement(t) == "reference")
    assert sorted(distributed) == sorted(t.name for t in distributed_tables())
    for child in distributed:
        for fk in metadata.tables[child].foreign_keys:
            parent = fk.column.table.name
            if parent in distributed and parent != child:
                assert distributed.index(parent) < distributed.index(child), (parent, child)

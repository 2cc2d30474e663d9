"""Keyset pagination: stable order, nothing skipped or repeated, bad cursors named."""

import pytest
from sqlalchemy import select

from app.clinics.models import Clinic
from app.core.errors import Unprocessable
from app.core.pagination import ListParams, SortKey, decode_cursor, paginate_rows


async def test_pages_walk_every_row_once_in_id_order(db):
    clinics = [Clinic(name=f"c{i}", timezone="UTC") for i in range(7)]
    db.add_all(clinics)
    await db.commit()
    keys = [SortKey(Clinic.id)]
    seen, cursor = [], None
    while True:
        rows, cursor = await paginate_rows(
            db, select(Clinic), ListParams(limit=3, cursor=cursor), keys
        )
        seen += [row.name for row in rows]
        if cursor is None:
            break
    assert seen == [f"c{i}" for i in range(7)]


async def test_rows_inserted_between_pages_are_not_skipped_or_repeated(db):
    db.add_all([Clinic(name=f"a{i}", timezone="UTC") for i in range(4)])
    await db.commit()
    keys = [SortKey(Clinic.id)]
    first, cursor = await paginate_rows(db, select(Clinic), ListParams(limit=2), keys)
    db.add(Clinic(name="late", timezone="UTC"))
    await db.commit()
    rest, _ = await paginate_rows(db, select(Clinic), ListParams(limit=50, cursor=cursor), keys)
    names = [r.name for r in first + rest]
    assert names == ["a0", "a1", "a2", "a3", "late"]


def test_a_forged_cursor_is_a_422_naming_the_cursor():
    with pytest.raises(Unprocessable) as raised:
        decode_cursor("not-a-cursor", [SortKey(Clinic.id)])
    assert raised.value.errors[0]["loc"] == ["query", "cursor"]

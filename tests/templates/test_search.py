"""Finding templates: `q` searches slug, title, description, kind and tags (case and accents
ignored), `tag=` filters by catalogue labels, which clinic templates set and built-ins carry."""

from sqlalchemy import select

from app.templates.library import BUILTIN_SLUGS, builtin_templates, get_builtin
from app.templates.models import Template
from app.templates.search import normalized, search_text
from app.templates.service import builtin_template_id, sync_builtins
from tests.templates.test_api import scored_template


async def slugs(client, world, query: str, who: str = "therapist") -> list[str]:
    response = await client.get(f"/v1/templates?limit=200&{query}", headers=world.auth(who))
    assert response.status_code == 200, response.text
    return sorted(t["slug"] for t in response.json()["items"])


async def test_q_finds_the_gratitude_journal_whose_title_does_not_say_gratitude(client, world):
    assert get_builtin("gratitude-journal").definition.title == "Three good things"
    assert await slugs(client, world, "q=gratitude&source=builtin") == ["gratitude-journal"]


async def test_q_searches_the_description_and_the_kind(client, world):
    # "Note three things that went well today..."
    assert await slugs(client, world, "q=WENT%20WELL") == ["gratitude-journal"]
    # The kind `cbt_worksheet`, written as words.
    assert await slugs(client, world, "q=cbt%20worksheet") == [
        "cognitive-distortions",
        "thought-record",
    ]
    # A slug written with spaces.
    assert await slugs(client, world, "q=body%20scan") == ["body-scan"]


async def test_q_ignores_case_and_accents_both_ways(client, world):
    created = await client.post(
        "/v1/templates",
        headers=world.auth("therapist"),
        json=scored_template("grubeln")
        | {"title": "Grübeln stoppen", "description": "Wenn Ängste kreisen."},
    )
    assert created.status_code == 201, created.text
    for query in ("GRUBELN%20STOPPEN", "gr%C3%BCbeln", "angste", "%C3%84NGSTE%20KREISEN"):
        assert await slugs(client, world, f"q={query}&source=clinic") == ["grubeln"], query
    # Stored without accents, asked with them: "bódy scán" finds the body scan.
    assert await slugs(client, world, "q=b%C3%B3dy%20sc%C3%A1n") == ["body-scan"]


async def test_q_is_a_plain_substring_and_never_a_pattern(client, world):
    assert await slugs(client, world, "q=%25") == []
    assert await slugs(client, world, "q=th%25ng") == []


async def test_q_sees_only_what_the_caller_may_see(client, world):
    await client.post(
        "/v1/templates",
        headers=world.auth("therapist"),
        json=scored_template("sleep-worries") | {"title": "Sleep worries"},
    )
    assert await slugs(client, world, "q=sleep%20worries") == ["sleep-worries"]
    assert await slugs(client, world, "q=sleep%20worries", who="other_therapist") == []


async def test_every_builtin_carries_tags_that_name_its_family(client, world):
    families = {"cbt", "journaling", "mindfulness", "measure"}
    response = await client.get(
        "/v1/templates?source=builtin&limit=200", headers=world.auth("therapist")
    )
    listed = {t["slug"]: t["tags"] for t in response.json()["items"]}
    assert listed == {t.slug: list(t.tags) for t in builtin_templates()}
    assert all(families & set(tags) for tags in listed.values()), listed
    one = await client.get(
        f"/v1/templates/{builtin_template_id('phq-9')}", headers=world.auth("therapist")
    )
    assert "measure" in one.json()["tags"]


async def test_tag_filters_and_every_repeated_tag_must_match(client, world):
    assert await slugs(client, world, "tag=journaling") == [
        "gratitude-journal",
        "reflective-journal",
    ]
    assert await slugs(client, world, "tag=journaling&tag=gratitude") == ["gratitude-journal"]
    assert await slugs(client, world, "tag=cbt&kind=behavioral") == ["activity-log"]
    assert await slugs(client, world, "tag=measure&q=anxiety") == ["gad-7"]
    assert await slugs(client, world, "tag=no-such-tag") == []


async def test_a_clinic_template_takes_tags_on_create_and_on_a_new_version(client, world):
    created = await client.post(
        "/v1/templates",
        headers=world.auth("therapist"),
        json=scored_template() | {"tags": ["measure", "sleep"]},
    )
    assert created.status_code == 201, created.text
    template = created.json()
    assert template["tags"] == ["measure", "sleep"]
    assert await slugs(client, world, "tag=sleep&source=clinic") == ["mood-check"]
    assert await slugs(client, world, "tag=sleep", who="other_therapist") == ["body-scan"]

    # A version that does not send tags keeps them; one that does replaces them.
    path = f"/v1/templates/{template['id']}"
    kept = await client.post(
        f"{path}/versions", headers=world.auth("therapist"), json={"title": "Mood check (v2)"}
    )
    assert kept.status_code == 201, kept.text
    read = (await client.get(path, headers=world.auth("therapist"))).json()
    assert (read["version"], read["tags"]) == (2, ["measure", "sleep"])
    assert await slugs(client, world, "q=mood%20check%20(v2)") == ["mood-check"]

    retagged = await client.post(
        f"{path}/versions", headers=world.auth("therapist"), json={"tags": ["mood"]}
    )
    assert retagged.status_code == 201, retagged.text
    assert (await client.get(path, headers=world.auth("therapist"))).json()["tags"] == ["mood"]
    assert await slugs(client, world, "tag=sleep&source=clinic") == []
    assert "mood-check" in await slugs(client, world, "tag=mood")


async def test_a_clone_keeps_the_tags_of_its_base_unless_it_sends_its_own(client, world):
    base = builtin_template_id("gratitude-journal")
    cloned = await client.post(
        "/v1/templates",
        headers=world.auth("therapist"),
        json={"slug": "good-things", "based_on": str(base)},
    )
    own = await client.post(
        "/v1/templates",
        headers=world.auth("therapist"),
        json={"slug": "good-things-2", "based_on": str(base), "tags": []},
    )
    assert cloned.json()["tags"] == list(get_builtin("gratitude-journal").tags)
    assert own.json()["tags"] == []


async def test_bad_tags_are_a_422_naming_the_field(client, world):
    cases = {
        "uppercase": (["CBT"], ["body", "tags", 0]),
        "spaces": (["cbt", "deep breathing"], ["body", "tags", 1]),
        "leading hyphen": (["-cbt"], ["body", "tags", 0]),
        "too long": (["x" * 33], ["body", "tags", 0]),
        "too many": ([f"tag-{n}" for n in range(11)], ["body", "tags"]),
        "repeated": (["cbt", "cbt"], ["body", "tags"]),
    }
    for name, (tags, loc) in cases.items():
        response = await client.post(
            "/v1/templates",
            headers=world.auth("therapist"),
            json=scored_template(f"bad-{len(tags)}") | {"tags": tags},
        )
        assert response.status_code == 422, (name, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert loc in [e["loc"] for e in response.json()["errors"]], (name, response.json())
    query = await client.get("/v1/templates?tag=Not%20A%20Tag", headers=world.auth("therapist"))
    assert query.status_code == 422
    assert ["query", "tag", 0] in [e["loc"] for e in query.json()["errors"]]


async def test_syncing_the_library_retags_builtins_without_a_new_version(client, world, db):
    template = await db.get(Template, builtin_template_id("body-scan"))
    before = (template.version, template.updated_at)
    template.tags = ["stale"]
    template.search_text = "stale"
    await db.commit()
    try:
        assert await slugs(client, world, "tag=stale") == ["body-scan"]
    finally:
        async with db.begin():
            assert await sync_builtins(db) == 0
    await db.refresh(template)
    assert template.version == before[0] and template.updated_at > before[1]
    assert template.tags == list(get_builtin("body-scan").tags)
    assert await slugs(client, world, "tag=stale") == []
    assert await slugs(client, world, "q=body%20scan") == ["body-scan"]


async def test_stored_search_text_is_what_the_service_computes(db):
    stored = {
        t.slug: t.search_text
        for t in (await db.execute(select(Template).where(Template.slug.in_(BUILTIN_SLUGS))))
        .scalars()
        .all()
    }
    for builtin in builtin_templates():
        definition = builtin.definition
        assert stored[builtin.slug] == search_text(
            builtin.slug, definition.title, definition.description, definition.kind, builtin.tags
        )


def test_normalization_folds_case_accents_and_separators():
    assert normalized("  Ängste_und-SORGEN  ") == "angste und sorgen"
    assert normalized("Straße") == "strasse"
    # Compatibility forms too: the "fi" ligature, full-width letters.
    assert normalized("\ufb01le \uff26\uff55\uff4c\uff4c") == "file full"
    assert normalized("cbt_worksheet") == normalized("CBT worksheet")

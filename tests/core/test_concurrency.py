"""Optimistic concurrency: two PATCHes with one ETag give one success and one 412."""

import asyncio

import pytest


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/clients/{client}", {"display_name": "Changed"}),
        ("/v1/assignments/{assignment}", {"instructions": "Changed"}),
        ("/v1/me", {"display_name": "Changed"}),
    ],
)
async def test_concurrent_patches_with_one_etag_give_one_success_and_one_412(
    client, world, path, body
):
    url = path.format(client=world.client.id, assignment=world.assignment.id)
    who = "client" if path == "/v1/me" else "therapist"
    etag = (await client.get(url, headers=world.auth(who))).headers["etag"]
    headers = {**world.auth(who), "If-Match": etag}
    answers = await asyncio.gather(
        *(client.patch(url, headers=headers, json=body) for _ in range(2))
    )
    assert sorted(a.status_code for a in answers) == [200, 412]


async def test_every_single_resource_get_has_an_etag(client, world):
    for url, who in (
        (f"/v1/clients/{world.client.id}", "therapist"),
        (f"/v1/assignments/{world.assignment.id}", "client"),
        (f"/v1/templates/{world.template.id}", "therapist"),
        (f"/v1/users/{world.therapist.id}", "admin"),
        ("/v1/me", "client"),
    ):
        response = await client.get(url, headers=world.auth(who))
        assert response.status_code == 200 and response.headers.get("etag"), url

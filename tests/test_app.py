"""The application factory: what someone opening the service's address sees."""

from __future__ import annotations

from cadre_support import client_for

from bot.services import Services


async def test_the_address_alone_opens_the_cadre_pages(services: Services) -> None:
    async with client_for(services) as client:
        response = await client.get("/")
        assert response.status_code == 303 and response.headers["location"] == "/cadre/"
        login = await client.get("/", follow_redirects=True)
    assert login.status_code == 200 and "<form" in login.text

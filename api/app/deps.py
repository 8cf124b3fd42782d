"""Dependencies of the routes, as `Annotated` aliases."""

from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings, get_settings
from app.db import Pool


def get_db(request: Request) -> Pool:
    """The worker's connection pool, opened by the app's lifespan."""
    pool: Pool = request.app.state.db
    return pool


Db = Annotated[Pool, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

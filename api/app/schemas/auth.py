"""Sign-in schemas."""

from datetime import datetime
from typing import Literal

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.schemas.types import plain_text


class SignInIn(BaseModel):
    """A user name and password. The password is never logged, stored or echoed."""

    model_config = ConfigDict(extra="forbid")

    # Plain text: a NUL byte or a control character never reaches PostgreSQL (422 instead).
    username: Annotated[str, Field(min_length=1, max_length=64, examples=["ada"]), AfterValidator(plain_text)]
    password: str = Field(min_length=1, max_length=256, examples=["correct horse battery staple"])


class SessionOut(BaseModel):
    """The signed-in operator and their session: it ends at `expires_at`, or after `idle_timeout_s` unused."""

    username: str
    role: Literal["officer", "supervisor"]
    expires_at: datetime
    idle_timeout_s: int

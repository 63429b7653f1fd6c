"""Reading the settings for a command: every problem at once, one line each.

pydantic's own report quotes each rejected value (`input_value=…`, so secrets end up on
the screen and in CI logs) and ends each error with a link to its documentation. An
operator needs the variable's name and what it must be, nothing more.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from paysource.config import Settings

ENV_PREFIX = "PAYSOURCE_"


class ConfigurationError(Exception):
    """The environment's settings are unusable; `problems` has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_settings() -> Settings:
    """Settings from the environment, or ConfigurationError listing every problem."""
    try:
        return Settings()
    except SettingsError as error:
        # Raised for a nested setting that is not valid JSON; the text names the field only.
        raise ConfigurationError([str(error)]) from None
    except ValidationError as error:
        problems = describe(error)
        failed = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
    raise ConfigurationError(problems + _cross_field_problems(failed))


def describe(error: ValidationError) -> list[str]:
    """One line per error: the variable and what is wrong; never the value, never a link."""
    lines: list[str] = []
    for item in error.errors(include_url=False, include_input=False):
        name = env_name(item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        lines += [
            line if line.startswith(ENV_PREFIX) or not name else f"{name}: {line}"
            for line in message.splitlines()
        ]
    return lines


def env_name(loc: tuple[int | str, ...]) -> str:
    """('webhook', 'signing_key') → PAYSOURCE_WEBHOOK_SIGNING_KEY; () → ''."""
    return ENV_PREFIX + "_".join(str(part).upper() for part in loc) if loc else ""


def _cross_field_problems(failed: set[str]) -> list[str]:
    """The checks across fields (production's requirements) that a field error stopped.

    pydantic runs them only when every field is valid; they run here again with the
    failed fields at their defaults, keeping what they say of the other fields.
    """
    if not failed:
        return []  # they ran already, and `describe` has their lines
    defaults: dict[str, Any] = {name: Settings.model_fields[name].default for name in failed}
    try:
        Settings(**defaults)
    except (ValidationError, SettingsError) as error:
        found = describe(error) if isinstance(error, ValidationError) else []
        names = tuple(env_name((name,)) for name in failed)
        return [line for line in found if not line.startswith(names)]
    return []

"""The runtime's user-facing error.

Runtime failures (an unreadable image, a provider that is not installed) reach the user the same
way compile failures do: one line naming the file and the problem, so the CLI handles both alike.
The class lives with the other error types; this module is where runtime code imports it from.
"""

from __future__ import annotations

from compiler.errors import RuntimeInputError

__all__ = ["RuntimeInputError"]

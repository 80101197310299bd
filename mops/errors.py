"""The one exception hierarchy of mops, mapped once to the exit codes of SPEC §6.

Every error a user can cause is a ``MopsError`` whose class fixes the exit code.  The message
names the object, path or reference at fault and, where one exists, the command that fixes it
(``hint``).  The CLI root prints ``mops: error: <message>`` (plus ``hint: ...``) and exits with
``exit_code``; anything else escaping a command is a bug and exits 70.
"""

from __future__ import annotations


class MopsError(Exception):
    """Base class: an error the user can act on."""

    exit_code = 70

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class NotFound(MopsError):
    """A query answered "no": an object, ref, tag or path the user named does not exist."""

    exit_code = 1


class UsageError(MopsError):
    """Bad arguments or invalid input: not a project, bad config, malformed data, unsafe path."""

    exit_code = 2


class NotAProject(UsageError):
    def __init__(self, start: str):
        super().__init__(f"not a mops project (run mops init): no .modelops-bundle/ in {start} or any parent")


class CorruptIndex(UsageError):
    def __init__(self, path: str, why: str):
        super().__init__(
            f"index {path} is corrupt ({why})",
            hint="move it aside and re-stage: mv .modelops-bundle/index /tmp/index.bad && mops add -A",
        )


class UnsafePath(UsageError):
    """A path that would escape the destination or touch mops' own bookkeeping."""


class RemoteUnavailable(MopsError):
    """A registry or object store could not be reached (connection refused, timeout, 5xx)."""

    exit_code = 3


class AuthError(MopsError):
    """Authentication or authorisation failed (401/403)."""

    exit_code = 10


class IntegrityError(MopsError):
    """A digest or size mismatch, a corrupt object, a referenced blob that is missing."""

    exit_code = 11


class ConflictError(MopsError):
    """Local work would be lost, the remote moved, a lock is held, already initialised."""

    exit_code = 12


class LockHeld(ConflictError):
    def __init__(self, lock_path: str):
        super().__init__(
            f"another mops process holds {lock_path}",
            hint="wait for it to finish; if none is running, remove the stale lock file",
        )


class Interrupted(MopsError):
    exit_code = 130

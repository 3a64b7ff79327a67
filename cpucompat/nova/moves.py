"""The kinds of scheduling request Nova makes (`MoveKind`), told from an
instance's task_state.

Which rule a request is judged by depends on its kind: only a live
migration carries the running guest, and so its CPU, to the destination.
Every other move (cold migration, resize, evacuation, unshelve) defines
the guest anew on the destination from that compute's configuration,
exactly as a boot does; a rebuild on its own host passes.  A move whose
kind Nova cannot tell us (`MoveKind.UNKNOWN`) is judged by the
live-migration rule when its source is known (the strict choice: a wrong
refusal is seen at once, a wrong acceptance fails late in libvirt).
"""
from __future__ import annotations

import enum

__all__ = ["MoveKind", "TASK_STATE_MOVES", "move_kind"]


class MoveKind(enum.StrEnum):
    """What a scheduling request is, as Nova tells it (docs/research/nova-moves.md §3)."""

    BOOT = "boot"
    LIVE_MIGRATION = "live migration"  # the guest keeps its CPU: the live-migration rule
    RESIZE = "resize or cold migration"
    EVACUATION = "evacuation"
    UNSHELVE = "unshelve"
    OTHER = "other move"  # a move in a task_state Nova 34 does not schedule: defined anew, the boot rule
    REBUILD = "rebuild"  # on its own host, with a new image: passes (Nova's rule for every filter)
    UNKNOWN = "move of an unknown kind"  # Nova cannot be asked: the live-migration rule when a source is named

    @property
    def keeps_cpu(self) -> bool:
        """Judged by the live-migration rule (given a source host)."""
        return self in (MoveKind.LIVE_MIGRATION, MoveKind.UNKNOWN)


# The instance's task_state as Nova's API sets it before conductor asks the
# scheduler (nova/compute/api.py); it stays set through conductor's retries.
# Only live_migrate sets 'migrating'; resize and cold migration use
# 'resize_prep', evacuate (and rebuild) 'rebuilding', unshelve 'unshelving'.
TASK_STATE_MOVES = {"migrating": MoveKind.LIVE_MIGRATION, "resize_prep": MoveKind.RESIZE,
                    "rebuilding": MoveKind.EVACUATION, "unshelving": MoveKind.UNSHELVE}


def move_kind(task_state: str | None) -> MoveKind:
    """The kind of a move (a request restricted to its instance's cell) from
    the instance's task_state; a rebuild is told apart by Nova's
    ``_nova_check_type`` hint before this is asked."""
    return TASK_STATE_MOVES.get(task_state or "", MoveKind.OTHER)

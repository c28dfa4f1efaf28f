"""Seeded fault schedule for the soak test: pure, so a seed replays exactly.

``schedule(seed, nodes, count)`` -> the same list of :class:`Fault` every time. The runner
(tests/soak/run.py) applies them one by one and checks the invariants after each settles.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pcmk_launch.procs import PACEMAKER_SUBDAEMONS

# kind -> relative weight. Partitions and power cuts are what break clusters, so they
# come up more often than the cheap faults.
KINDS: dict[str, int] = {
    "power_cut_keep": 2,  # SIGKILL everything, addresses stay (crashed --net=host container)
    "power_cut_drop": 2,  # SIGKILL everything, addresses dropped (a real power cut)
    "graceful_stop": 2,  # SIGTERM the launcher; it must exit 0
    "restart": 2,  # graceful stop, then start again at once
    "partition_carrier": 2,  # switch-side veth down (cable pull), then heal
    "partition_admin": 1,  # node's own eth0 admin down, then heal
    "link_flap": 1,  # carrier down/up a few times, quickly
    "kill_subdaemon": 1,  # SIGKILL one pacemaker subdaemon
    "kill_corosync": 1,  # SIGKILL corosync; the launcher exits, "restart policy" restarts it
    "standby": 1,  # crm_standby on, then off
    "resource_fail": 1,  # crm_resource --fail on one resource
}

SUBDAEMONS = PACEMAKER_SUBDAEMONS  # the same order as before: seeds keep their schedule
# Primitive ids: `crm_resource --fail` refuses a clone's id ("We can only process primitive
# resources", exit 70), which made resource_fail on a clone a silent no-op. Same length and
# order as before, so every seed keeps its schedule.
RESOURCES = ("vip", "dummy", "stateful")


@dataclass(frozen=True)
class Fault:
    step: int
    kind: str
    targets: tuple[str, ...]  # node names
    params: dict = field(default_factory=dict, compare=True, hash=False)

    def describe(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"step {self.step}: {self.kind} {','.join(self.targets)} {extra}".rstrip()


def _fault(rng: random.Random, step: int, kind: str, nodes: list[str]) -> Fault:
    minority = (len(nodes) - 1) // 2  # largest group whose loss keeps quorum
    if kind in ("partition_carrier", "partition_admin"):
        size = rng.randint(1, minority)
        cut = tuple(sorted(rng.sample(nodes, size)))
        # side: where the VIP's holder ends up. The runner knows the holder only when the
        # fault starts and swaps one cut node for it (or it out): cut_for_side().
        side = rng.choice(("minority", "majority"))
        return Fault(step, kind, cut, {"side": side, "hold": rng.choice((4, 8, 15))})
    target = (rng.choice(nodes),)
    if kind in ("power_cut_keep", "power_cut_drop"):
        # down: how long the host stays off; 3 s is the "restarted, stopped again before
        # pacemaker probed it" interleaving of the issue.
        return Fault(step, kind, target, {"down": rng.choice((3, 6, 12))})
    if kind == "graceful_stop":
        return Fault(step, kind, target, {"down": rng.choice((2, 8))})
    if kind == "link_flap":
        return Fault(step, kind, target, {"flaps": rng.randint(2, 5), "period": 0.5})
    if kind == "kill_subdaemon":
        return Fault(step, kind, target, {"daemon": rng.choice(SUBDAEMONS)})
    if kind == "standby":
        return Fault(step, kind, target, {"hold": rng.choice((3, 8))})
    if kind == "resource_fail":
        return Fault(step, kind, target, {"resource": rng.choice(RESOURCES)})
    return Fault(step, kind, target, {})


def schedule(seed: int, nodes: list[str], count: int, kinds: dict[str, int] = KINDS) -> list[Fault]:
    """``count`` faults for ``nodes``, the same for the same arguments."""
    if len(nodes) < 3:
        raise ValueError("the soak needs at least 3 nodes (a majority must survive a fault)")
    rng = random.Random(seed)
    names = sorted(kinds)
    weights = [kinds[k] for k in names]
    return [_fault(rng, step, rng.choices(names, weights)[0], nodes) for step in range(count)]


def cut_for_side(
    cut: tuple[str, ...], side: str, holder: str | None, nodes: list[str]
) -> tuple[str, ...]:
    """The nodes a partition cuts off, so that the VIP's holder is on `side`: in the cut-off
    minority (it must stop the VIP without quorum) or in the majority (the VIP must stay
    put). The same size as the scheduled cut; unchanged when nothing holds the VIP."""
    if holder is None or (holder in cut) == (side == "minority"):
        return cut
    if side == "minority":
        return tuple(sorted((*cut[:-1], holder)))
    spare = [n for n in nodes if n not in cut and n != holder]
    return tuple(sorted(n if n != holder else spare[0] for n in cut))

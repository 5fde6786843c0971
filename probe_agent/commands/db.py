"""``db repair``: re-fold the stored timelines ``db check`` finds inconsistent from their raw results."""

from __future__ import annotations

from pathlib import Path

import click

from probe_agent.commands.common import UsageProblem, config_option, load
from probe_agent.commands.results import _database_path, _open, database_option
from probe_agent.model import iso, now_ms
from probe_agent.repair import RepairPlan, RepairRefused, agents_locked, apply_repair, find_problems, plan_repair


def plan_text(plan: RepairPlan, *, dry_run: bool) -> str:
    """One line per pair: what is wrong, and what the re-fold writes (or would write)."""
    verb = "would re-fold" if dry_run else "re-folded"
    lines = []
    for p in plan.pairs:
        since = (
            "no raw results left"
            if p.first_result_ms is None
            else f"{p.results} raw results from {iso(p.first_result_ms)}"
        )
        lines.append(
            f"{p.agent}/{p.endpoint} ({', '.join(p.kinds)}): {verb} from {since}: {p.intervals_before} stored "
            f"interval(s) -> {len(p.intervals)} ({len(p.kept)} kept from before the first raw result)"
        )
    return "\n".join(lines)


@click.command("repair")
@config_option
@click.option("--dry-run", is_flag=True, help="Say what would be re-folded; write nothing.")
@click.option("--agent", "agents", multiple=True, help="Only this agent's timelines (repeatable; default: all).")
@database_option
def repair_command(config_path: Path | None, dry_run: bool, agents: tuple[str, ...], database: Path | None) -> None:
    """Re-fold the timelines 'db check' finds inconsistent (overlapping intervals, a fold state behind its
    intervals: two daemons of one agent id wrote at once) from their raw results.

    Each such (agent, endpoint) is re-folded as 'import' does, with the agent's runs, from its earliest raw
    result still stored; the intervals before that result are kept. Results and runs are not changed. Every pair
    is written in one transaction, while this command holds each agent's daemon lock: it refuses while a daemon
    of that agent runs (here, or with a fresh heartbeat on another host). The endpoints must be in the config
    (their interval, grace and confirm drive the fold).

    Exit status: 0 repaired, or nothing to repair; 1 problems remain after the repair; 2 refused, nothing written.
    """
    config = load(config_path).config
    path = _database_path(config, database)
    wanted = list(agents) or None
    conn = _open(path, readonly=dry_run)
    try:
        plan = plan_repair(conn, config, now_ms=now_ms(), agents=wanted)
        if not plan.problems:
            click.echo(f"{path}: every stored timeline is consistent; nothing to repair")
            return
        involved = sorted({p.agent for p in plan.problems})
        try:
            with agents_locked(path, involved):
                if not dry_run:  # the lock is ours now: plan again, as no daemon can write any more
                    plan = plan_repair(conn, config, now_ms=now_ms(), agents=wanted)
                    apply_repair(conn, config, plan, now_ms=now_ms())
        except RepairRefused as exc:
            refused = [*plan.refusals, *(r for r in exc.reasons if r not in plan.refusals)]
        else:
            refused = list(plan.refusals)  # a dry run writes nothing, but says whether the repair would refuse
        if refused:
            head = "db repair would refuse (--dry-run)" if dry_run else "db repair refused"
            raise UsageProblem(f"{head}, nothing was written:\n" + "\n".join(f"  {r}" for r in refused))
        click.echo(plan_text(plan, dry_run=dry_run))
        if dry_run:
            click.echo("nothing was written (--dry-run)")
            return
        left = [p for p in find_problems(conn) if wanted is None or p.agent in wanted]
    finally:
        conn.close()
    if left:
        click.echo("still inconsistent after the repair:", err=True)
        for p in left:
            click.echo(f"  {p.agent}/{p.endpoint}: {p.kind} ({p.detail})", err=True)
        raise SystemExit(1)
    click.echo(f"repaired {len(plan.pairs)} timeline(s) in one transaction; db check finds them consistent now")

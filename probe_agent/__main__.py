"""``python -m probe_agent``: the same command as ``probe-agent``."""

from probe_agent.cli import main

main(prog_name="probe-agent")

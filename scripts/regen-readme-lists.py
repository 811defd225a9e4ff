#!/usr/bin/env python3
"""Rewrites README.md's generated lists (supported commands, directives
without effect) from the code, via node/examples/command_list.rs.
node/tests/readme.rs fails when they are out of date."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def generated(*extra):
    cmd = ["cargo", "run", "-q", "-p", "redis-ha-node", "--example", "command_list"]
    if extra:
        cmd += ["--", *extra]
    return subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def replace_block(text, heading, is_generated, new):
    """Replaces the run of generated lines in the section under `heading`."""
    lines = text.split("\n")
    start = lines.index(heading)
    i = start + 1
    while i < len(lines) and not is_generated(lines[i]):
        if lines[i].startswith("## "):
            sys.exit(f"no generated block under {heading}")
        i += 1
    j = i
    while j < len(lines) and is_generated(lines[j]):
        j += 1
    return "\n".join(lines[:i] + new.rstrip("\n").split("\n") + lines[j:])


def main():
    path = ROOT / "README.md"
    text = path.read_text()
    text = replace_block(text, "## Supported commands", lambda l: l.startswith("- **"),
                         generated())
    text = replace_block(text, "## Config directives without effect",
                         lambda l: l.startswith("`"), generated("--ignored-directives"))
    path.write_text(text)


if __name__ == "__main__":
    main()

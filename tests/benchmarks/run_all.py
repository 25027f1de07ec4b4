"""Run every benchmark and rewrite the figures table in tests/benchmarks/README.md.

    python tests/benchmarks/run_all.py [--only engine,push,ui] [--timeout 600] [--dry-run]
                                       [--vendors N] [--memory-vendors N] [--samples N]

Each benchmark runs in a subprocess of its own (as a user would run it); its printed figures are read
back with the patterns below and written between the README's ``bench:begin`` / ``bench:end`` markers,
with the machine description (CPU, Python, OS, date, commit). A benchmark that takes longer than
``--timeout`` seconds is run again at the next smaller size, and the table says so. A figure the output
no longer contains shows as "not printed" rather than stopping the run, so a reworded line is visible in
the table instead of silently dropped.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


@dataclass
class Figure:
    name: str
    value: str
    note: str = ""


@dataclass
class Outcome:
    benchmark: str
    command: list[str]
    seconds: float = 0.0
    returncode: int | None = None
    figures: list[Figure] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    output: str = ""


# -- reading the printed figures ------------------------------------------------------------------
def _find(pattern: str, text: str) -> re.Match | None:
    return re.search(pattern, text, re.MULTILINE)


def parse_engine(text: str) -> list[Figure]:
    figures = []
    blocks = re.split(r"(?m)^(?=first sync large:|kill -9 during|second, unchanged run|vendors pass over)", text)
    for block in blocks:
        if m := _find(r"^first sync large:(\d+) \((\d+) vendors, (\d+) invoices\), BILL latency (\S+), hourly "
                      r"limit on: ([\d.]+) s wall, status (\w+)", block):
            where = f"first sync large:{m[1]}, BILL {m[4]}"
            counts = "; ".join(f"{c[1]} {c[2]} created, {c[5]} failed" for c in re.finditer(
                r"^\s+(accounts|vendors|invoices)\s+created (\d+) updated (\d+) held (\d+) failed (\d+)", block,
                re.MULTILINE))
            process = _find(r"^  (NAV and BILL each in a process of its own|both sandboxes in one separate process|"
                            r"sandboxes in a separate process); the engine's process used ([\d.]+) s of CPU, the "
                            r"sandboxes' ([\d.]+) s; load average (\S+) (\S+) (\S+)", block)
            where_run = (f"{process[1]} (CPU: engine {process[2]} s, sandboxes {process[3]} s), "
                         f"load average {process[4]}; "
                         if process else "")
            figures.append(Figure(f"{where}: wall time", f"{m[5]} s", f"{where_run}status {m[6]}; {counts}"))
            if r := _find(r"BILL requests: (\d+) \(goal <= 450\); lower bound (\d+) = (.*): ([\d.]+)x", block):
                figures.append(Figure(f"{where}: BILL requests", r[1],
                                      f"goal <= 450; {r[4]}x the lower bound {r[2]} ({r[3]})"))
            if r := _find(r"NAV requests: (\d+)", block):
                figures.append(Figure(f"{where}: NAV requests", r[1], "apart from BILL's budget"))
            if r := _find(r"the issue's lower bound \(list pages \+ creates / 100 a call\): (\d+) = (.*?); with", block):
                figures.append(Figure(f"{where}: the issue's lower bound", r[1],
                                      f"{r[2]}; below what BILL's 20 vendors a call allows"))
            if r := _find(r"wall against .*?: lower bound ([\d.]+) s \((.*?)\): ([\d.]+)x", block):
                figures.append(Figure(f"{where}: wall time against its lower bound", f"{r[3]}x",
                                      f"goal <= 1.3x; bound {r[1]} s = {r[2]}"))
            if r := _find(r"BILL round trips as the connector saw them: mean ([\d.]+) ms, median ([\d.]+) ms .*?; their "
                          r"sum / 3: ([\d.]+) s, wall against it ([\d.]+)x", block):
                figures.append(Figure(f"{where}: BILL round trip as the connector saw it", f"{r[1]} ms mean",
                                      f"median {r[2]} ms: the injected latency, the sandbox's handling, loopback and "
                                      f"waiting for the interpreter; sum / 3 = {r[3]} s, the wall time is {r[4]}x it"))
            if r := _find(r"inside one hour's budget with the headroom kept: (yes|no) \((.*)\)$", block):
                figures.append(Figure(f"{where}: inside one hour's budget, headroom kept", r[1], r[2]))
            if r := _find(r"with the sandboxes in the engine's process instead: ([\d.]+) s wall, ([\d.]+) s CPU .*?, "
                          r"(\d+) BILL requests, status (\w+): ([\d.]+)x the bound ([\d.]+) s", block):
                figures.append(Figure(f"{where}: wall time, sandboxes in the engine's process", f"{r[1]} s",
                                      f"{r[5]}x the bound {r[6]} s; {r[2]} s CPU (engine and sandboxes), {r[3]} BILL "
                                      f"requests, status {r[4]}; the same run with the sandboxes sharing the "
                                      "engine's interpreter, for comparison"))
        if m := _find(r"^kill -9 during bulk call (\d+) of (\d+) \(bills\), large:(\d+), BILL latency (\S+): worker "
                      r"exit (-?\d+).*restart exit (-?\d+) in ([\d.]+) s", block):
            where = f"kill -9 mid bulk write, large:{m[3]}, BILL {m[4]}"
            if r := _find(r"duplicates in BILL: (\d+); bills in BILL (\d+), linked (\d+)", block):
                figures.append(Figure(f"{where}: duplicates", r[1],
                                      f"killed during bulk call {m[1]} of {m[2]} (exit {m[5]}), restart exit {m[6]} "
                                      f"in {m[7]} s; bills in BILL {r[2]}, linked {r[3]}"))
            if r := _find(r"requests wasted on recovery: (\d+) lookup list call\(s\) \(goal <= 5\); the crashed run "
                          r"and the restart sent (\d+) BILL requests against (\d+) for a clean run \(\+(\d+)", block):
                figures.append(Figure(f"{where}: requests wasted on recovery", f"{r[1]} lookups",
                                      f"goal <= 5; crashed run + restart sent {r[2]} BILL requests, a clean run "
                                      f"{r[3]} (+{r[4]}: the restart's login and lists again, the lookups, the lost "
                                      "call)"))
            if r := _find(r"bill recognition list calls .*?: restart (\d+), a clean run (\d+)", block):
                figures.append(Figure(f"{where}: bill recognition list calls", f"restart {r[1]}",
                                      f"a clean run {r[2]}; bills already in BILL are looked for before creating "
                                      "(vendors the run did not create), so a lost store makes no duplicate"))
        if m := _find(r"^second, unchanged run large:(\d+) \((\d+) records\): (\d+) HTTP calls \(goal <= 8\): "
                      r"BILL (\d+), NAV (\d+), ([\d.]+) s", block):
            where = _find(r"^  (.*)$", block)
            figures.append(Figure(f"second, unchanged run, {int(m[2]):,} records", f"{m[3]} HTTP calls",
                                  f"goal <= 8; BILL {m[4]}, NAV {m[5]}; {m[6]} s"
                                  + (f"; {where[1]}" if where else "")))
        if m := _find(r"vendors pass over large:(\d+) \(dry run[^)]*\): (\d+) planned creates, ([\d.]+) s, "
                      r"peak traced memory ([\d.]+) MB", block):
            figures.append(Figure(f"vendors pass over large:{m[1]} (dry run): peak traced memory", f"{m[4]} MB",
                                  f"{m[2]} planned creates in {m[3]} s; sandboxes' request handling included"))
    return figures


def parse_push(text: str) -> list[Figure]:
    figures = []
    if m := _find(r"^modes: NAV (\w+), BILL (\w+)$", text):
        figures.append(Figure("push: modes reached", f"NAV {m[1]}, BILL {m[2]}"))
    for m in re.finditer(r"^(push NAV -> BILL|push BILL -> NAV|polling NAV -> BILL \([\d.]+ s\))\s+n=\s*(\d+)\s+"
                         r"min\s+([\d.]+) ms\s+median\s+([\d.]+) ms\s+max\s+([\d.]+) ms\s+lost (\d+)\s+\((.*)\)",
                         text, re.MULTILINE):
        figures.append(Figure(f"{m[1]}: change-to-effect median", f"{m[4]} ms",
                              f"n={m[2]}, min {m[3]} ms, max {m[5]} ms, lost {m[6]}; {m[7]}"))
    for m in re.finditer(r"^(push NAV -> BILL|push BILL -> NAV|polling NAV -> BILL.*?)\s+no change arrived "
                         r"\((\d+) lost\)", text, re.MULTILINE):
        figures.append(Figure(f"{m[1].strip()}", "no change arrived", f"{m[2]} lost"))
    if m := _find(r"full runs during the push samples: (\d+)", text):
        figures.append(Figure("full runs during the push samples", m[1], "0 expected"))
    return figures


def parse_ui(text: str) -> list[Figure]:
    return [Figure(f"table model, 50,000 rows: {m[1].strip()}", f"{m[2]} ms")
            for m in re.finditer(r"^(\S.*?)\s{2,}([\d.]+) ms\s*$", text, re.MULTILINE)]


EXPECTED = {  # figures each benchmark must print; missing ones are listed as "not printed"
    "engine": ["first sync large:", "BILL requests", "against its lower bound", "inside one hour's budget",
               "kill -9 mid bulk write", "requests wasted on recovery", "second, unchanged run", "peak traced memory"],
    "push": ["push NAV -> BILL", "push BILL -> NAV", "polling NAV -> BILL"],
    "ui": ["set 50,000 rows", "filter text", "sort by NAV name"],
}


# -- running --------------------------------------------------------------------------------------
def run(benchmark: str, command: list[str], timeout: float, env: dict | None = None) -> Outcome:
    outcome = Outcome(benchmark, command)
    started = time.perf_counter()
    print(f"$ {' '.join(command)}", flush=True)
    try:
        result = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True,
                                timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        outcome.returncode, outcome.output = result.returncode, result.stdout
        if result.returncode != 0:
            outcome.remarks.append(f"exit {result.returncode}: {result.stderr.strip().splitlines()[-1:]}")
    except subprocess.TimeoutExpired as exc:
        outcome.output = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        outcome.remarks.append(f"stopped after {timeout:.0f} s")
    outcome.seconds = time.perf_counter() - started
    print(outcome.output, flush=True)
    return outcome


def engine_runs(args) -> list[tuple[list[str], str]]:
    sizes = [(args.vendors, args.memory_vendors)]
    for vendors, memory in ((2000, 20_000), (500, 5000)):
        if vendors < sizes[-1][0]:
            sizes.append((vendors, memory))
    flat = ",".join(str(n) for n in (34, 1000, 10_000, 33_334) if n <= max(args.vendors, 34) * 4)
    return [(["tests/benchmarks/bench_engine.py", "--vendors", str(v), "--memory-vendors", str(m),
              "--flat-sizes", flat], f"large:{v} sync, large:{m} memory pass") for v, m in sizes]


def push_runs(args) -> list[tuple[list[str], str]]:
    return [(["tests/benchmarks/bench_push.py", "--samples", str(args.samples)], f"{args.samples} samples"),
            (["tests/benchmarks/bench_push.py", "--samples", "3", "--poll-samples", "2"], "3 samples")]


def ui_runs(args) -> list[tuple[list[str], str]]:
    return [(["tests/benchmarks/bench_ui.py"], "50,000 rows")]


BENCHMARKS = {"engine": (engine_runs, parse_engine), "push": (push_runs, parse_push), "ui": (ui_runs, parse_ui)}


def run_benchmark(name: str, args) -> Outcome:
    make_runs, parse = BENCHMARKS[name]
    runs = make_runs(args)
    kept: list[Figure] = []  # what a stopped run did print is kept; the smaller run adds what it lacked
    for attempt, (command, size) in enumerate(runs):
        outcome = run(name, command, args.timeout, {"QT_QPA_PLATFORM": "offscreen"} if name == "ui" else None)
        figures = parse(outcome.output)
        kinds = {re.sub(r"[\d,]+", "#", f.name) for f in kept}
        kept += [Figure(f.name, f.value, (f.note + "; " if f.note else "") + f"smaller size: {size}")
                 if attempt else f for f in figures if re.sub(r"[\d,]+", "#", f.name) not in kinds]
        if attempt:
            outcome.remarks.insert(0, f"the full size did not finish within {args.timeout:.0f} s; what it "
                                      f"printed is kept, the rest comes from a smaller run ({size})")
        if not any("stopped after" in r for r in outcome.remarks) or attempt == len(runs) - 1:
            break
    outcome.figures = kept
    names = " | ".join(f.name for f in outcome.figures)
    missing = [label for label in EXPECTED[name] if label not in names]
    if missing:
        outcome.remarks.append(f"not printed: {', '.join(missing)}")
    return outcome


# -- the table ------------------------------------------------------------------------------------
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        if commit and subprocess.run(["git", "status", "--porcelain", "app", "tests/benchmarks"], cwd=ROOT,
                                     capture_output=True, text=True, timeout=10).stdout.strip():
            commit += " + uncommitted changes in app/ or tests/benchmarks/"
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return (f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()} "
            f"{platform.release()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC" + (f", commit {commit}" if commit else ""))


def table(outcomes: list[Outcome], note: str = "", kept: tuple[list[str], dict[str, str]] = ([], {})) -> str:
    rows, measured_on = kept
    by_machine: dict[str, list[str]] = {}
    for name, where in sorted(measured_on.items()):
        by_machine.setdefault(where, []).append(name)
    for where, names in by_machine.items():
        note = (note + " " if note else "") + f"Rows of {', '.join(names)} are kept from an earlier run ({where})."
    lines = [BEGIN, "", f"Machine: {machine()}.", ""] + ([note, ""] if note else []) + [
             "| benchmark | figure | value | notes |", "|---|---|---|---|"]
    for outcome in outcomes:
        command = "python " + " ".join(outcome.command)
        for figure in outcome.figures:
            cells = (outcome.benchmark, figure.name, figure.value, figure.note)
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        remarks = "; ".join(outcome.remarks)
        lines.append(f"| {outcome.benchmark} | (run) | {outcome.seconds:.0f} s | `{command}`"
                     + (f"; **{remarks}**" if remarks else "") + " |")
    lines += rows
    lines += ["", END]
    return "\n".join(lines)


def kept_rows(readme: Path, rerun: list[str]) -> tuple[list[str], dict[str, str]]:
    """The table rows of benchmarks not run this time, and for each such benchmark the machine line it was
    measured on (rows kept once before keep the machine they came from)."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    if BEGIN not in text or END not in text:
        return [], {}
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    machine_line = next((line for line in block.splitlines() if line.startswith("Machine:")), "")
    measured_on = {}
    for names, where in re.findall(r"Rows of (.*?) are kept from an earlier run \((.*?)\)\.(?= |$)", block,
                                   re.MULTILINE):
        for name in names.split(", "):
            measured_on[name] = where
    rows = [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| benchmark")
            and line.split("|")[1].strip() not in rerun]
    names = {row.split("|")[1].strip() for row in rows}
    default = machine_line.removeprefix("Machine: ").rstrip(".")
    return rows, {name: measured_on.get(name, default) for name in names}


def rewrite(readme: Path, block: str) -> None:
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="engine,push,ui", help="comma-separated: engine, push, ui")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a smaller size is tried")
    parser.add_argument("--vendors", type=int, default=10_000)
    parser.add_argument("--memory-vendors", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--note", default="", help="a sentence printed above the table (e.g. why sizes differ)")
    parser.add_argument("--dry-run", action="store_true", help="print the table, leave the README alone")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    outcomes = [run_benchmark(name, args) for name in names]
    block = table(outcomes, args.note, kept_rows(README, names))
    print(block)
    if not args.dry_run:
        rewrite(README, block)
        print(f"rewrote {README.relative_to(ROOT)}")
    return 0 if all(o.figures and o.returncode == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())

"""PNG charts of make bench and make bench-scale results (matplotlib, no display needed).

python -m bench.chart bench/results/bench.json      re-draws bench/results/bench.png
python -m bench.chart --compare OUT.png RUN.txt...  requests/s per system and endpoint, from
                                                    the tables compare.py prints (one a database)
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _subtitle(out: dict[str, Any], note: str = "") -> str:
    m = out["machine"]
    a = out["args"]
    return (
        f"{m['date'][:16].replace('T', ' ')} UTC, {m['cores']} cores, Python {m['python']}, "
        f"{a['rounds']} rounds x {a['seconds']} s, wrk -c{a['connections']}: medians{note}"
    )


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def bench_chart(out: dict[str, Any], path: Path) -> Path:
    eps = out["endpoints"]
    sweep = out.get("list_vs_size") or []
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2))
    fig.suptitle(f"make bench: {out['name']}\n{_subtitle(out, ' (bars: min-max of rounds)')}", fontsize=10)

    names = list(eps)
    rps = [eps[n]["median"]["rps"] for n in names]
    lo = [eps[n]["median"]["rps"] - eps[n]["median"]["rps_min"] for n in names]
    hi = [eps[n]["median"]["rps_max"] - eps[n]["median"]["rps"] for n in names]
    bars = left.bar(names, rps, yerr=[lo, hi], capsize=4, color="#4878a8")
    for bar, n in zip(bars, names, strict=True):
        m = eps[n]["median"]
        left.annotate(
            f"{_num(m['rps'])}/s\np50 {_num(m['p50_ms'])} ms\np99 {_num(m['p99_ms'])} ms",
            (bar.get_x() + bar.get_width() / 2, m["rps_max"]),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    left.set_yscale("log")
    left.set_ylabel("requests/s (log scale)")
    left.set_title(
        f"throughput per endpoint (user1 holds {out['endpoints_table_tasks']:,} tasks)", fontsize=10
    )
    left.margins(y=0.35)

    if sweep:
        sizes = [s["tasks"] for s in sweep]
        right.plot(sizes, [s["median"]["p50_ms"] for s in sweep], "o-", label="p50 latency")
        right.plot(sizes, [s["median"]["p99_ms"] for s in sweep], "s--", label="p99 latency")
        right.set_xscale("log")
        right.set_xticks(sizes, [f"{s:,}" for s in sizes])
        right.minorticks_off()
        right.set_xlabel("user1's tasks (table size)")
        right.set_ylabel("latency, ms")
        right.set_ylim(bottom=0)
        twin = right.twinx()
        twin.plot(sizes, [s["median"]["rps"] for s in sweep], "^:", color="#2a9d55", label="requests/s")
        twin.set_ylabel("requests/s")
        twin.set_ylim(bottom=0)
        lines = right.get_lines() + twin.get_lines()
        right.legend(lines, [ln.get_label() for ln in lines], loc="lower left", fontsize=8)
        right.set_title("list (page_size=100) against table size", fontsize=10)
    else:
        right.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def scale_chart(out: dict[str, Any], path: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.2))
    fig.suptitle(f"make bench-scale: {out['name']}\n{_subtitle(out)}", fontsize=10)

    lists = out["list"]["cases"]
    ax = axes[0]
    labels = [textwrap.fill(c["label"], 16) for c in lists.values()]
    p50 = [c["median"]["p50_ms"] for c in lists.values()]
    p99 = [c["median"]["p99_ms"] for c in lists.values()]
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], p50, width=0.4, label="p50", color="#4878a8")
    ax.bar([x + 0.2 for x in xs], p99, width=0.4, label="p99", color="#a8c4e0")
    for x, c in zip(xs, lists.values(), strict=True):
        ax.annotate(
            f"{c['median']['rps']:.0f}/s",
            (x, max(c["median"]["p99_ms"], c["median"]["p50_ms"])),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    ax.set_xticks(list(xs), labels, fontsize=8)
    ax.set_ylabel("latency, ms")
    ax.set_title("list, page_size=100 (labels: requests/s)", fontsize=10)
    ax.legend(fontsize=8)

    ax = axes[1]
    rss = out.get("rss")
    if rss and rss.get("samples"):
        done = [s["requests"] for s in rss["samples"]]
        for i, _pid in enumerate(rss["workers"]):
            ax.plot(done, [s["rss_kib"][i] / 1024 for s in rss["samples"]], "o-", label=f"worker {i + 1}")
        warm = rss["warm_kib"]
        for i, w in enumerate(warm):
            ax.axhline(w * 1.1 / 1024, color=f"C{i}", linestyle=":", linewidth=0.8)
        ax.axvline(rss["warmup_requests"], color="#999999", linestyle="--", linewidth=0.8)
        ax.set_xlabel("requests served since a fresh start (dashed: end of warm-up)")
        ax.set_ylabel("VmRSS, MiB")
        lowest = min(min(s["rss_kib"]) for s in rss["samples"]) / 1024
        ax.set_ylim(bottom=lowest * 0.8)
        ax.set_title("worker memory (dotted: +10% of warm)", fontsize=10)
        ax.legend(fontsize=8)
    else:
        ax.set_axis_off()

    ax = axes[2]
    lg = out.get("login")
    if lg:
        names = ["bound:\ncores / hash time", "measured:\ncores processes\nonly hashing", "login\nachieved"]
        values = [lg["bound_rps"], lg.get("parallel_hasher_rps") or 0, lg["median"]["rps"]]
        ax.bar(names, values, color=["#999999", "#bbbbbb", "#4878a8"])
        for x, v in enumerate(values):
            ax.annotate(
                f"{v:.2f}/s", (x, v), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=8
            )
        ax.annotate(
            f"login: {lg['achieved_vs_bound']:.0%} of the bound",
            (0.5, 0.95),
            xycoords="axes fraction",
            ha="center",
            fontsize=9,
        )
        ax.margins(y=0.15)
        ax.set_ylabel("logins/s")
        ax.set_title(f"login vs {lg['cores']} cores / {lg['hash_s'] * 1000:.0f} ms per hash", fontsize=10)
    else:
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def compare_table(text: str) -> tuple[str, dict[str, dict[str, float | None]]]:
    """The database and the medians (endpoint -> system -> requests/s; None for "-") of the
    summary table that ``../shared/bench/compare.py`` prints last."""
    lines = text.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("endpoint "))
    header = lines[start].split()
    systems = header[1 : header.index("x")]
    database = header[-1].rstrip(")") if "--db" in header else "sqlite"
    medians: dict[str, dict[str, float | None]] = {}
    for line in lines[start + 1 :]:
        cells = line.split()
        if len(cells) < len(systems) + 1 or cells[0] not in ("detail", "list", "create"):
            break
        medians[cells[0]] = {
            system: None if cell == "-" else float(cell)
            for system, cell in zip(systems, cells[1 : len(systems) + 1], strict=True)
        }
    return database, medians


def compare_chart(runs: list[tuple[str, dict[str, dict[str, float | None]]]], path: Path, title: str) -> Path:
    """Grouped bars: requests/s of each system at each endpoint, a panel per database."""
    fig, axes = plt.subplots(1, len(runs), figsize=(6.5 * len(runs), 4.8), squeeze=False)
    fig.suptitle(title, fontsize=10)
    for ax, (database, medians) in zip(axes[0], runs, strict=True):
        endpoints = list(medians)
        systems = list(next(iter(medians.values())))
        width = 0.8 / len(systems)
        for k, system in enumerate(systems):
            xs = [i + (k - (len(systems) - 1) / 2) * width for i in range(len(endpoints))]
            values = [medians[e][system] or 0.0 for e in endpoints]
            bars = ax.bar(xs, values, width, label=system)
            for bar, value in zip(bars, values, strict=True):
                if value:
                    ax.annotate(
                        _num(value),
                        (bar.get_x() + bar.get_width() / 2, value),
                        ha="center",
                        va="bottom",
                        fontsize=7,
                    )
        ax.set_xticks(range(len(endpoints)), endpoints)
        ax.set_ylabel("requests/s (median)")
        ax.set_title(database, fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    if sys.argv[1:2] == ["--compare"]:
        out, *names = sys.argv[2:]
        runs = [compare_table(Path(name).read_text()) for name in names]
        title = "compare.py: the project, the plain DRF build, ninja and the floor (2 workers each, wrk -c8)"
        print(compare_chart(runs, Path(out), title))
        return
    for name in sys.argv[1:]:
        src = Path(name)
        out = json.loads(src.read_text())
        draw = scale_chart if out.get("kind") == "scale" else bench_chart
        print(draw(out, src.with_suffix(".png")))


if __name__ == "__main__":
    main()

"""The chart of compare.py's runs reads the summary table it prints (bench/chart.py)."""

from pathlib import Path

from bench.chart import compare_chart, compare_table

RUN = """\
round 5 create  project       977.8 rps  p99 16.86 ms  bad 0
endpoint   project  baseline     ninja     floor  x baseline   x ninja  of floor  (median requests/s, --db postgres)
detail      3547.5     952.3    1044.5    5955.2        3.73      3.40       60%
list        1166.8     210.0     424.7    1951.3        5.56      2.75       60%
create       977.2     589.6     857.7         -        1.66      1.14         -
done
"""
SQLITE_WITHOUT_NINJA = """\
endpoint   project  baseline     ninja     floor  x baseline   x ninja  of floor  (median requests/s, --db sqlite)
detail      4824.7    1007.2         -    9745.1        4.79         -       50%
"""


def test_the_summary_table_is_read_by_system_and_endpoint() -> None:
    database, medians = compare_table(RUN)

    assert database == "postgres"
    assert list(medians) == ["detail", "list", "create"]
    assert medians["list"] == {"project": 1166.8, "baseline": 210.0, "ninja": 424.7, "floor": 1951.3}
    assert medians["create"]["floor"] is None  # the floor does not create


def test_a_system_left_out_is_none() -> None:
    database, medians = compare_table(SQLITE_WITHOUT_NINJA)

    assert database == "sqlite"
    assert medians == {"detail": {"project": 4824.7, "baseline": 1007.2, "ninja": None, "floor": 9745.1}}


def test_the_committed_runs_draw_a_chart(tmp_path: Path) -> None:
    runs_dir = Path(__file__).resolve().parents[2] / "docs" / "benchmarks"
    runs = [compare_table((runs_dir / f"compare-{db}.txt").read_text()) for db in ("sqlite", "postgres")]

    assert [database for database, _ in runs] == ["sqlite", "postgres"]
    png = compare_chart(runs, tmp_path / "compare.png", "test")
    assert png.read_bytes().startswith(b"\x89PNG")

"""The gRPC benchmark's bookkeeping (bench/grpc_bench.py) on made-up load generator results:
summaries, issue 5's target evaluation, the Markdown report and the chart. Nothing is run or
timed here."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest
from support.free_threaded import missing

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH_DIR))

import grpc_bench  # noqa: E402


def _spread(value: float) -> dict[str, float]:
    return {"median": value, "min": value, "max": value}


def _summary(
    p50: dict[str, float],
    mb_per_s: dict[str, float],
    saturation: dict[str, float],
    saturation_timeout: dict[str, float],
    client_rps: dict[str, float],
    throughput: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    servers: dict[str, Any] = {}
    for name in grpc_bench.SERVERS:
        modes: dict[str, Any] = {}
        for mode, rates in (throughput or {}).items():
            if name in rates:
                modes[mode] = {"throughput": _spread(rates[name])}
        if name in p50:
            modes["unary_1"] = {"p50_us": p50[name]}
        if name in mb_per_s:
            modes["unary_100k"] = {"mb_per_s": _spread(mb_per_s[name])}
        if name in saturation:
            modes["saturation"] = {"server_cpu_us": _spread(saturation[name])}
        if name in saturation_timeout:
            modes["saturation_timeout"] = {"server_cpu_us": _spread(saturation_timeout[name])}
        servers[name] = {"modes": modes}
    clients = {name: {"rps": _spread(rps)} for name, rps in client_rps.items()}
    return {"servers": servers, "clients": clients}


def _by(rows: list[dict[str, Any]], key: str, subject: str) -> dict[str, Any]:
    (found,) = [r for r in rows if r["key"] == key and r["subject"] == subject]
    return found


def test_targets_met_and_not_met() -> None:
    summary = _summary(
        p50={"puregrpc": 110.0, "puregrpc-uvloop": 130.0, "grpc-go": 100.0},
        mb_per_s={
            "puregrpc": 300.0,
            "puregrpc-uvloop": 290.0,
            "grpcio-sync": 200.0,
            "grpcio-aio": 150.0,
            "grpclib": 50.0,
        },
        saturation={"puregrpc": 7.5, "puregrpc-uvloop": 8.5, "grpc-go": 5.0},
        saturation_timeout={"puregrpc": 12.0, "puregrpc-uvloop": 12.5, "grpc-go": 6.0},
        client_rps={"puregrpc": 31_000.0, "puregrpc-uvloop": 29_000.0, "grpcio-aio": 10_000.0},
        throughput={
            "unary": {"puregrpc": 100_000.0, "grpcio-sync": 9_000.0, "grpc-go": 90_000.0},
            "pingpong": {"puregrpc": 30_000.0, "grpclib": 20_000.0, "grpcio-aio": 22_000.0},
        },
    )
    rows = grpc_bench.evaluate_targets(summary)
    unary = _by(rows, "unary_rps_vs_peer", "puregrpc")
    assert unary["ratio"] == pytest.approx(100 / 9) and unary["met"] is True
    assert "grpcio-sync" in unary["measured"]
    assert _by(rows, "unary_rps_vs_go", "puregrpc")["met"] is True
    pingpong = _by(rows, "pingpong_rps_vs_peer", "puregrpc")
    assert pingpong["ratio"] == pytest.approx(30 / 22) and pingpong["met"] is False
    assert _by(rows, "server_stream_rps_vs_peer", "puregrpc")["met"] is None  # not measured
    assert [r["key"] for r in rows] == sorted(
        (r["key"] for r in rows), key=grpc_bench.TARGET_KEYS.index
    )
    assert len(rows) == 2 * len(grpc_bench.TARGET_KEYS)

    p50 = _by(rows, "unary_1_p50", "puregrpc")
    assert p50["ratio"] == pytest.approx(1.1)
    assert p50["met"] is True
    assert _by(rows, "unary_1_p50", "puregrpc-uvloop")["met"] is False

    large = _by(rows, "unary_100k_mb_per_s", "puregrpc")
    assert large["ratio"] == pytest.approx(1.5)  # against grpcio-sync, the best peer
    assert large["met"] is True
    assert "grpcio-sync" in large["measured"]
    assert _by(rows, "unary_100k_mb_per_s", "puregrpc-uvloop")["met"] is False

    saturation = _by(rows, "saturation_server_cpu", "puregrpc")
    assert saturation["met"] is True
    assert saturation["ratio"] == pytest.approx(1.5)  # against grpc-go, for reference
    assert _by(rows, "saturation_server_cpu", "puregrpc-uvloop")["met"] is False
    assert _by(rows, "saturation_timeout_server_cpu", "puregrpc")["met"] is True  # 12 <= 12
    assert _by(rows, "saturation_timeout_server_cpu", "puregrpc-uvloop")["met"] is False

    client = _by(rows, "client_rps", "puregrpc")
    assert client["ratio"] == pytest.approx(3.1)
    assert client["met"] is True
    assert _by(rows, "client_rps", "puregrpc-uvloop")["met"] is False


def test_targets_not_measured() -> None:
    summary = _summary(
        p50={"puregrpc": 110.0},  # no grpc-go figure
        mb_per_s={"puregrpc": 300.0},  # no Python peer
        saturation={},
        saturation_timeout={"grpc-go": 6.0},
        client_rps={"puregrpc": 1000.0},  # no grpcio-aio
    )
    summary["servers"] = {"puregrpc": summary["servers"]["puregrpc"]}
    rows = grpc_bench.evaluate_targets(summary)
    assert {r["key"] for r in rows} == set(grpc_bench.TARGET_KEYS)
    assert all(r["subject"] == "puregrpc" and r["met"] is None for r in rows)


def _loadgen_result(mode: str, units: int, cpu_s: float, p50_us: float) -> dict[str, Any]:
    return {
        "mode": mode,
        "rpcs": units if mode not in grpc_bench.STREAMING_MODES else units // 100,
        "msgs": units,
        "seconds": 2.0,
        "p50_us": p50_us,
        "p99_us": p50_us * 3,
        "p999_us": p50_us * 5,
        "loadgen_cpu_s": 0.1,
        "server_cpu_s": cpu_s,
        "errors": 0,
        "first_error": "",
    }


def _fake_report(tmp_path: Path) -> dict[str, Any]:
    settings, _ = grpc_bench.parse_args(["--reps", "2", "--servers", "puregrpc,grpcio-aio,grpc-go"])
    assert settings.concurrency == 64 and settings.connections == 1
    assert "client_stream" not in settings.modes and "saturation_timeout" in settings.modes
    runner = grpc_bench.Runner(settings, tmp_path, tmp_path, tmp_path, tmp_path, tmp_path)
    speed = {"puregrpc": 4.0, "grpcio-aio": 1.0, "grpc-go": 10.0}
    for rep in range(settings.reps):
        for server in settings.servers:
            for mode in settings.modes:
                units = int(10_000 * speed[server]) + rep
                result = _loadgen_result(mode, units, 1.0, 1000.0 / speed[server])
                runner.server_runs.append(
                    {"server": server, "mode": mode, "rep": rep, "result": result}
                )
            runner.rss.append({"server": server, "rep": rep, "peak_rss_kib": 30_000})
        for client in settings.clients:
            calls = 20_000 if client.startswith("puregrpc") else 5_000
            result = {
                "calls": calls,
                "rps": calls / 2.0,
                "cpu_us_per_call": 20.0,
                "server_cpu_s": 0.1,
                "p50_us": 900.0,
                "p99_us": 2000.0,
                "errors": 0,
                "first_error": "",
            }
            runner.client_runs.append({"client": client, "rep": rep, "result": result})
    runner.server_runs.append(
        {"server": "grpcio-aio", "mode": "unary", "rep": 2, "error": "exit 1: boom"}
    )
    return {
        "benchmark": "grpc",
        "date": "2026-01-01",
        "elapsed_s": 1.0,
        "machine": {
            "cpu": "test",
            "logical_cpus": 2,
            "memory_gib": 1.0,
            "kernel": "k",
            "os": "os",
            "python": "py",
        },
        "versions": dict.fromkeys(
            (
                "puregrpc",
                "puregrpc_commit",
                "grpcio",
                "grpclib",
                "uvloop",
                "protobuf",
                "golang-google-grpc-dev",
                "golang-goprotobuf-dev",
                "go",
            ),
            "1",
        ),
        "settings": dataclasses.asdict(settings),
        "summary": grpc_bench.summarize(runner),
        "server_runs": runner.server_runs,
        "server_rss": runner.rss,
        "client_runs": runner.client_runs,
    }


def test_report_of_fake_runs(tmp_path: Path) -> None:
    report = _fake_report(tmp_path)
    summary = report["summary"]
    large = summary["servers"]["puregrpc"]["modes"]["unary_100k"]
    # 40,000 or 40,001 RPCs of 100,000 bytes in 2 s
    assert large["mb_per_s"]["median"] == pytest.approx(2000.0, rel=1e-4)
    targets = {(t["key"], t["subject"]): t for t in summary["targets"]}
    assert targets["unary_1_p50", "puregrpc"]["ratio"] == pytest.approx(2.5)
    assert targets["unary_100k_mb_per_s", "puregrpc"]["met"] is True  # 4x grpcio-aio
    assert targets["client_rps", "puregrpc"]["ratio"] == pytest.approx(4.0)
    assert targets["saturation_server_cpu", "puregrpc"]["met"] is False  # 25 us
    markdown = grpc_bench.render_markdown(report)
    assert "## Targets (issue 5)" in markdown
    assert " unary_100k (8 x 100,000 B) |" in markdown
    assert "**not met**" in markdown and "| met |" in markdown
    assert "failed run(s): exit 1: boom" in markdown


def test_chart_of_fake_runs(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason=missing("matplotlib"))
    report = _fake_report(tmp_path)
    path = tmp_path / "chart.png"
    assert grpc_bench.write_chart(report, path)
    assert path.read_bytes().startswith(b"\x89PNG")

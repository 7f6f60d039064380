"""bench_concurrency's arithmetic: paired ratios, quartiles, rotation, the published table.

No server and no timing here: synthetic samples with known ratios go through the same
summary and rendering the benchmark publishes, so a slip in pairing or in which way a
ratio points shows up as a wrong figure.
"""

from __future__ import annotations

from benchmarks import bench_concurrency as bench
from benchmarks.__main__ import markdown


def samples(factor: dict[str, float]) -> bench.Samples:
    """Four rounds per level; each client's CPU per request is ``factor`` x bare's."""
    out: bench.Samples = {}
    for level in bench.LEVELS:
        for round_index in range(4):
            cpu = 0.001 * (1 + round_index)  # bare drifts between rounds: pairing cancels it
            for name in bench.CLIENTS:
                used = cpu * factor.get(name, 1.0)
                out.setdefault((level, name), []).append((1 / used, used, 10 * used))
    return out


def test_ratios_are_paired_within_rounds_and_point_the_same_way() -> None:
    summary = bench._summarise(samples({"@pooled": 1.0, "stack": 1.25}))
    row = summary["c=50"]
    assert row["@pooled"]["cpu"] == {"median": 1.0, "q1": 1.0, "q3": 1.0}
    assert row["stack"]["cpu"]["median"] == 0.8  # 25% more CPU: 0.8x bare, lower is worse
    assert row["stack"]["requests/s"]["median"] == 0.8
    assert row["stack"]["p99"]["median"] == 1.25  # p99: higher is worse
    assert row["bare"]["cpu_us_per_request"] == 2500  # median of 1000..4000 µs
    assert not bench._met(summary, "cpu")
    assert bench._met(bench._summarise(samples({"stack": 1.04})), "cpu")


def test_the_control_does_not_count_towards_the_target() -> None:
    summary = bench._summarise(samples({"bare again": 2.0}))
    assert summary["c=1"]["bare again"]["cpu"]["median"] == 0.5
    assert bench._met(summary, "cpu")


def test_quartiles() -> None:
    assert bench._quartiles([5.0, 1.0, 3.0, 2.0, 4.0]) == {"median": 3.0, "q1": 2.0, "q3": 4.0}
    assert bench._quartiles([0.9]) == {"median": 0.9, "q1": 0.9, "q3": 0.9}


def test_every_client_leads_a_round_in_turn() -> None:
    orders = bench._rounds(len(bench.CLIENTS))
    assert [order[0] for order in orders] == list(bench.CLIENTS)
    assert all(sorted(order) == sorted(bench.CLIENTS) for order in orders)


def test_the_published_section_has_the_table_and_median_iqr_rows() -> None:
    results = {
        "async": bench._summarise(samples({"stack": 1.25})),
        "sync (threads)": bench._summarise(samples({})),
    }
    results["table"] = bench._table(results)
    report = {
        "date": "2026-12-02",
        "quick": False,
        "command": "make bench",
        "machine": {"cores": 2, "platform": "Linux", "python": "3.11"},
        "benchmarks": {"bench_concurrency": results},
    }
    text = markdown(report)
    assert "| async.c=50.stack.cpu | 0.8 [0.8-0.8] |" in text
    header = "| mode | in flight | bare req/s | bare CPU µs/req |"
    assert header in text
    assert "| async | 50 | " in text
    assert text.count("| sync (threads) | ") == len(bench.LEVELS)
    assert "table" not in text.split(header)[0].split("### concurrency")[1]


def test_connections_opened_are_summarised_per_client_and_shown_in_the_table() -> None:
    measured = samples({})
    opened = {key: [0, 2, 30, 1] for key in measured}
    summary = bench._summarise(measured, opened)
    assert summary["c=50"]["@pooled"]["connections_opened"] == {"median": 1.5, "max": 30}
    assert summary["c=50"]["bare"]["connections_opened"] == {"median": 1.5, "max": 30}
    table = bench._table({"async": summary, "sync (threads)": bench._summarise(measured)})
    assert table[0][-1] == "connections opened per sample: bare / @pooled"
    assert table[1][-1] == "1.5 (max 30) / 1.5 (max 30)"
    assert table[-1][-1] == "- / -"  # not counted: said, not invented


def test_a_level_whose_control_reads_off_is_flagged_unresolved() -> None:
    off = bench._summarise(samples({"bare again": 1.1}))
    assert bench._unresolved(off, "cpu") == list(off)
    assert bench._unresolved(bench._summarise(samples({})), "cpu") == []


def test_the_target_is_set_at_one_to_two_hundred_not_after_the_burst() -> None:
    measured = samples({})
    measured[("1 after 200", "@pooled")] = [
        (s[0] / 2, s[1] * 2, s[2]) for s in measured[("1 after 200", "bare")]
    ]
    summary = bench._summarise(measured)
    assert summary["c=1 after 200"]["@pooled"]["cpu"]["median"] == 0.5
    assert bench._met(summary, "cpu", ("@pooled",))
    measured[("50", "@pooled")] = [(s[0] / 2, s[1] * 2, s[2]) for s in measured[("50", "bare")]]
    assert not bench._met(bench._summarise(measured), "cpu", ("@pooled",))


def test_a_level_left_out_of_a_run_is_left_out_of_its_summary() -> None:
    measured = {key: value for key, value in samples({}).items() if key[0] not in bench.PAUSES}
    summary = bench._summarise(measured)
    assert list(summary) == [f"c={level}" for level in bench.LEVELS if level not in bench.PAUSES]
    assert bench._met(summary, "cpu")

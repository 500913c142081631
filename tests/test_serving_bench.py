"""The serving benchmark's own logic: reading wrk's report, its command line, the payloads.
(No timing here: `make bench-serving` times.)"""

from __future__ import annotations

import json
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT))
from benchmarks.serving import WRK_SCRIPT, parse_wrk, payloads, wrk_command

WRK_OUTPUT = """\
Running 5s test @ http://127.0.0.1:8080/invocations
  2 threads and 256 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    65.12ms   20.28ms   1.36s    77.30%
    Req/Sec     1.96k   249.19     2.36k    90.00%
  Latency Distribution
     50%  812.00us
     75%    4.73ms
     90%    6.20ms
     99%    1.36s
  19618 requests in 5.01s, 3.07MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 15512
Requests/sec:   3905.47
Transfer/sec:    626.00KB
"""


def test_wrk_report_is_read_in_milliseconds():
    result = parse_wrk(WRK_OUTPUT)
    assert result.rps == 3905.47
    assert result.p50_ms == pytest.approx(0.812)
    assert result.p99_ms == pytest.approx(1360.0)
    assert (result.requests, result.non_2xx, result.socket_errors) == (19618, 15512, 3)


def test_a_clean_wrk_report_has_no_failures():
    clean = "\n".join(
        line
        for line in WRK_OUTPUT.splitlines()
        if not line.lstrip().startswith(("Socket errors", "Non-2xx"))
    )
    result = parse_wrk(clean)
    assert (result.non_2xx, result.socket_errors) == (0, 0)


def test_a_wrk_failure_is_not_read_as_figures():
    with pytest.raises(ValueError, match="no request rate"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_wrk_runs_bounded_with_at_most_one_thread_per_client(tmp_path):
    argv = wrk_command("http://127.0.0.1:9/invocations", 1, 4.6, tmp_path / "post.lua", 2)
    assert argv[0] == "wrk"
    assert "--threads=1" in argv and "--connections=1" in argv
    assert "--duration=5s" in argv and "--latency" in argv and "--timeout=10s" in argv
    assert "--threads=2" in wrk_command("http://127.0.0.1:9/", 64, 5, tmp_path / "s.lua", 2)
    assert 'os.getenv("BENCH_BODY")' in WRK_SCRIPT and 'wrk.method = "POST"' in WRK_SCRIPT


def test_payloads_are_a_row_of_json_a_row_of_csv_and_a_batch():
    small_json, small_csv, batch = payloads()
    assert json.loads(small_json.body) == {"instances": small_json.rows}
    assert len(small_json.rows) == 1 and small_csv.rows == small_json.rows
    assert small_csv.body.decode().count("\n") == 1 and small_csv.content_type == "text/csv"
    assert len(json.loads(batch.body)["instances"]) == 1000 == len(batch.rows)

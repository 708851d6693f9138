"""`--from-file`: attribution over a long table of journeys in CSV or Parquet (docs/attribution.md).

A three-journey file is worked out by hand below; the rest checks that the rows' order, the
file's format, the journey ids' type, the time's precision and the path taken (the packed fast
path or the portable Ibis one) change nothing, and that bad input is refused naming the file,
the column and the first bad line.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
from fractions import Fraction as F

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from truce.analytics.longfile import FileError
from truce.domain.attribution import FILE_MODELS
from truce.services.attribution_file import file_report
from truce.services.attribution_runner import ModelError, Settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")
HEADER = "journey_id,timestamp,channel,converted,revenue"
CONTRACT = {"model", "total_conversions", "total_revenue", "channels"}
ROW = {"channel", "conversions", "revenue", "share"}

# ---- three journeys by hand ---------------------------------------------------------------------
#
# J1: 03-01 email, 03-02 search, 03-05 email (converted on its last row, revenue 300) → converts, 300
# J2: 03-03 search (not converted, revenue 120), 03-04 webinar (converted, revenue 100)
#     → converts (one row says so), revenue 120 (the largest on its rows)
# J3: 03-01 webinar, 03-06 display → does not convert; display is in no converting journey
#
# Totals: 2 conversions, 420.
# linear:        J1 email ⅔ search ⅓ (200, 100); J2 search ½ webinar ½ (60, 60)
#                → search 5/6 (160), email ⅔ (200), webinar ½ (60), display 0
# first_touch:   J1 email (1, 300); J2 search (1, 120)
# last_touch:    J1 email (1, 300); J2 webinar (1, 120)
# position_based: J1 email 40 + 40 %, search 20 %; J2 50 / 50
#                → email 0.8 (240), search 0.2 + 0.5 (60 + 60), webinar 0.5 (60)
# Channels are listed most credited first (conversions, then revenue, then name); share = conversions / 2.
HAND_ROWS = [
    # journey, timestamp, channel, converted, revenue
    ("1", "2026-03-01T09:00:00Z", "email", "false", ""),
    ("1", "2026-03-02T09:00:00Z", "search", "no", "0"),
    ("1", "2026-03-05T09:00:00Z", "email", "true", "300"),
    ("2", "2026-03-03T09:00:00Z", "search", "0", "120"),
    ("2", "2026-03-04T09:00:00Z", "webinar", "yes", "100"),
    ("3", "2026-03-01T09:00:00Z", "webinar", "FALSE", ""),
    ("3", "2026-03-06T09:00:00Z", "display", "0", "0"),
]


def hand_expected(model: str) -> dict:
    credit = {
        "linear": {"search": (F(5, 6), 160), "email": (F(2, 3), 200), "webinar": (F(1, 2), 60), "display": (0, 0)},
        "first_touch": {"email": (1, 300), "search": (1, 120), "display": (0, 0), "webinar": (0, 0)},
        "last_touch": {"email": (1, 300), "webinar": (1, 120), "display": (0, 0), "search": (0, 0)},
        "position_based": {
            "email": (F(4, 5), 240),
            "search": (F(7, 10), 120),
            "webinar": (F(1, 2), 60),
            "display": (0, 0),
        },
    }[model]
    return {
        "model": model,
        "total_conversions": 2.0,
        "total_revenue": 420.0,
        "channels": [
            {"channel": c, "conversions": float(x), "revenue": float(y), "share": float(F(x) / 2)}
            for c, (x, y) in credit.items()
        ],
    }


def write_csv(path, rows, header=HEADER, delimiter=","):
    lines = [header] + [delimiter.join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_same_report(found: dict, expected: dict, tol: float = 1e-9) -> None:
    """The exact contract: the same keys, the same channels in the same order, numbers to `tol`."""
    assert set(found) == CONTRACT
    assert found["model"] == expected["model"]
    assert math.isclose(found["total_conversions"], expected["total_conversions"], abs_tol=tol)
    assert math.isclose(found["total_revenue"], expected["total_revenue"], rel_tol=tol, abs_tol=tol)
    assert [r["channel"] for r in found["channels"]] == [r["channel"] for r in expected["channels"]]
    for got, want in zip(found["channels"], expected["channels"], strict=True):
        assert set(got) == ROW
        for name in ("conversions", "share"):
            assert math.isclose(got[name], want[name], abs_tol=tol), (got, want)
        assert math.isclose(got["revenue"], want["revenue"], rel_tol=tol, abs_tol=tol), (got, want)


def assert_close_credit(found: dict, expected: dict, tol: float = 1e-9) -> None:
    """Equal credit per channel, in whatever order channels that tie happen to be listed."""
    assert set(found) == CONTRACT and found["model"] == expected["model"]
    assert math.isclose(found["total_conversions"], expected["total_conversions"], abs_tol=tol)
    assert math.isclose(found["total_revenue"], expected["total_revenue"], rel_tol=tol, abs_tol=tol)
    mine = {r["channel"]: r for r in found["channels"]}
    theirs = {r["channel"]: r for r in expected["channels"]}
    assert set(mine) == set(theirs)
    scale = max(1.0, expected["total_revenue"])
    for channel, want in theirs.items():
        got = mine[channel]
        assert set(got) == ROW
        assert math.isclose(got["conversions"], want["conversions"], abs_tol=tol), (channel, got, want)
        assert math.isclose(got["share"], want["share"], abs_tol=tol), (channel, got, want)
        assert math.isclose(got["revenue"], want["revenue"], abs_tol=tol * scale), (channel, got, want)


@pytest.mark.parametrize("model", ["linear", "first_touch", "last_touch", "position_based"])
def test_three_journeys_worked_out_by_hand(tmp_path, model):
    path = write_csv(tmp_path / "journeys.csv", HAND_ROWS)
    result = file_report(path, model)
    assert_same_report(result.report, hand_expected(model))
    assert result.path_taken == "fast"


def test_the_hand_worked_report_is_exactly_the_contract(tmp_path):
    path = write_csv(tmp_path / "journeys.csv", HAND_ROWS)
    found = file_report(path, "first_touch").report
    assert found == {
        "model": "first_touch",
        "total_conversions": 2.0,
        "total_revenue": 420.0,
        "channels": [
            {"channel": "email", "conversions": 1.0, "revenue": 300.0, "share": 0.5},
            {"channel": "search", "conversions": 1.0, "revenue": 120.0, "share": 0.5},
            {"channel": "display", "conversions": 0.0, "revenue": 0.0, "share": 0.0},
            {"channel": "webinar", "conversions": 0.0, "revenue": 0.0, "share": 0.0},
        ],
    }


def test_time_decay_on_the_hand_worked_journeys(tmp_path):
    # A journey's conversion time is its last touch. J1 (03-05 09:00): email 4 days before,
    # search 3, email 0; J2 (03-04 09:00): search 1 day before, webinar 0. Half-life 7 days.
    w1 = {"email": 2 ** (-4 / 7) + 1, "search": 2 ** (-3 / 7)}
    w2 = {"search": 2 ** (-1 / 7), "webinar": 1.0}
    credit = {c: [0.0, 0.0] for c in ("email", "search", "webinar", "display")}
    for weights, revenue in ((w1, 300), (w2, 120)):
        total = sum(weights.values())
        for channel, weight in weights.items():
            credit[channel][0] += weight / total
            credit[channel][1] += weight / total * revenue
    path = write_csv(tmp_path / "journeys.csv", HAND_ROWS)
    found = file_report(path, "time_decay").report
    assert_close_credit(
        found,
        {
            "model": "time_decay",
            "total_conversions": 2.0,
            "total_revenue": 420.0,
            "channels": [
                {"channel": c, "conversions": x, "revenue": y, "share": x / 2} for c, (x, y) in credit.items()
            ],
        },
    )
    # half-life from the settings: 1 day instead of 7
    slower = file_report(path, "time_decay", Settings(half_life_days=1.0)).report
    assert {r["channel"]: r["conversions"] for r in slower["channels"]}["email"] > credit["email"][0]


def test_rows_in_any_order_give_the_same_credit(tmp_path):
    models = ("linear", "first_touch", "time_decay", "markov", "shapley")
    ordered = write_csv(tmp_path / "ordered.csv", HAND_ROWS)
    expected = {model: file_report(ordered, model).report for model in models}
    rng = random.Random(11)
    for attempt in range(3):
        rows = HAND_ROWS[:]
        rng.shuffle(rows)
        path = write_csv(tmp_path / f"shuffled{attempt}.csv", rows)
        for model in models:
            assert_same_report(file_report(path, model).report, expected[model])
    assert_same_report(expected["linear"], hand_expected("linear"))


def test_a_journey_converts_if_any_row_says_so_and_earns_its_largest_revenue(tmp_path):
    # J1 says "converted" on its first row only and carries revenue on two rows (50 and 300);
    # J2 says so on two rows. J1: email, search, email → linear ⅔ / ⅓ of 300; J2: webinar, 80.
    rows = [
        ("1", "2026-03-01", "email", "yes", "50"),
        ("1", "2026-03-02", "search", "no", ""),
        ("1", "2026-03-05", "email", "no", "300"),
        ("2", "2026-03-04", "webinar", "1", "80"),
        ("2", "2026-03-04T10:00:00Z", "webinar", "true", "80"),
        ("3", "2026-03-04", "display", "no", "999"),  # revenue on a journey that did not convert: none
    ]
    found = file_report(write_csv(tmp_path / "any.csv", rows), "linear").report
    assert found["total_conversions"] == 2 and found["total_revenue"] == 380
    credit = {r["channel"]: (r["conversions"], r["revenue"]) for r in found["channels"]}
    assert credit["email"] == pytest.approx((2 / 3, 200))
    assert credit["search"] == pytest.approx((1 / 3, 100))
    assert credit["webinar"] == pytest.approx((1, 80))
    assert credit["display"] == (0, 0)


def test_the_same_journeys_in_parquet_with_every_kind_of_time_column(tmp_path):
    ids = [int(r[0]) for r in HAND_ROWS]
    moments = [dt.datetime.fromisoformat(r[1].replace("Z", "+00:00")) for r in HAND_ROWS]
    converted = [r[3].lower() in ("true", "yes", "1") for r in HAND_ROWS]
    revenue = [float(r[4] or 0) for r in HAND_ROWS]
    channels = [r[2] for r in HAND_ROWS]
    times = {
        "aware": pa.array(moments, pa.timestamp("us", tz="UTC")),
        "naive": pa.array([m.replace(tzinfo=None) for m in moments], pa.timestamp("ms")),
        "text": pa.array([r[1] for r in HAND_ROWS]),
        "date": pa.array([m.date() for m in moments], pa.date32()),
    }
    for kind, column in times.items():
        path = tmp_path / f"journeys-{kind}.parquet"
        pq.write_table(
            pa.table(
                {
                    "Journey_ID": ids,
                    "TIMESTAMP": column,
                    "channel": channels,
                    "converted": converted,
                    "revenue": revenue,
                }
            ),
            path,
        )
        for model in ("linear", "first_touch"):
            assert_same_report(file_report(path, model).report, hand_expected(model))


def test_other_columns_are_ignored_and_names_matched_without_case(tmp_path):
    rows = [(r[0], "x", r[1], r[2], r[3], r[4]) for r in HAND_ROWS]
    path = write_csv(tmp_path / "wide.csv", rows, header="Journey_Id,Note,TimeStamp,CHANNEL,Converted,Revenue")
    assert_same_report(file_report(path, "linear").report, hand_expected("linear"))


def test_semicolon_separated_csv(tmp_path):
    path = write_csv(tmp_path / "europe.csv", HAND_ROWS, header=HEADER.replace(",", ";"), delimiter=";")
    assert_same_report(file_report(path, "linear").report, hand_expected("linear"))


def test_journey_ids_that_are_not_numbers_take_the_portable_path_with_the_same_result(tmp_path):
    rows = [(f"lead-{r[0]}", *r[1:]) for r in HAND_ROWS]
    path = write_csv(tmp_path / "named.csv", rows)
    for model in ("linear", "first_touch"):
        result = file_report(path, model)
        assert result.path_taken == "portable"
        assert_same_report(result.report, hand_expected(model))


# ---- a generated file: both paths, both formats --------------------------------------------------

CHANNELS = ["email", "paid_search", "display", "webinar", "organic", "referral", "events", "sales_call"]


def generate(journeys: int = 5000, seed: int = 7) -> list[dict]:
    """Journeys of 1–7 touches with repeats, ties in the same second, conversion on any row,
    revenue on several rows of a journey; shuffled."""
    rng = random.Random(seed)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    rows = []
    for j in range(journeys):
        n = rng.randint(1, 7)
        converts = rng.random() < 0.35
        begin = rng.randint(0, 330 * 86_400)
        pool = CHANNELS[: rng.randint(2, len(CHANNELS))]
        flagged = rng.randrange(n)
        for k in range(n):
            second = begin if rng.random() < 0.1 else begin + rng.randint(0, 40 * 86_400)
            rows.append(
                {
                    "journey_id": 1000 + 3 * j,
                    "timestamp": start + dt.timedelta(seconds=second),
                    "channel": rng.choice(pool),
                    "converted": converts and k == flagged,
                    "revenue": float(rng.randint(0, 80) * 50) if converts and rng.random() < 0.6 else 0.0,
                }
            )
    rng.shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("journeys")
    rows = generate()
    table = pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("journey_id", pa.int64()),
                ("timestamp", pa.timestamp("us", tz="UTC")),
                ("channel", pa.string()),
                ("converted", pa.bool_()),
                ("revenue", pa.float64()),
            ]
        ),
    )
    pq.write_table(table, folder / "journeys.parquet")
    text = table.set_column(1, "timestamp", pa.array([r["timestamp"].strftime("%Y-%m-%dT%H:%M:%SZ") for r in rows]))
    pcsv.write_csv(text, folder / "journeys.csv")
    named = text.set_column(0, "journey_id", pa.array([f"J{r['journey_id']:07d}" for r in rows]))
    pcsv.write_csv(named, folder / "named.csv")
    return {"csv": folder / "journeys.csv", "parquet": folder / "journeys.parquet", "named": folder / "named.csv"}


@pytest.mark.parametrize("model", FILE_MODELS)
@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_the_fast_and_portable_paths_agree_on_every_model(generated, kind, model):
    fast = file_report(generated[kind], model)
    portable = file_report(generated[kind], model, fast=False)
    assert fast.path_taken == "fast" and portable.path_taken == "portable"
    assert fast.report["total_conversions"] > 1000
    assert_close_credit(fast.report, portable.report)
    assert math.isclose(sum(r["conversions"] for r in fast.report["channels"]), fast.report["total_conversions"])
    assert math.isclose(sum(r["revenue"] for r in fast.report["channels"]), fast.report["total_revenue"])


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_the_fast_and_portable_paths_agree_on_markov_of_every_order(generated, kind, order):
    settings = Settings(markov_order=order)
    fast = file_report(generated[kind], "markov", settings)
    portable = file_report(generated[kind], "markov", settings, fast=False)
    assert fast.path_taken == "fast" and portable.path_taken == "portable"
    assert_close_credit(fast.report, portable.report)


def test_csv_and_parquet_of_the_same_rows_agree(generated):
    for model in ("linear", "time_decay", "markov"):
        assert_close_credit(
            file_report(generated["csv"], model).report, file_report(generated["parquet"], model).report
        )


@pytest.mark.parametrize("model", ["first_touch", "position_based", "markov", "shapley"])
def test_journey_ids_as_text_give_what_whole_numbers_give(generated, model):
    named = file_report(generated["named"], model)
    assert named.path_taken == "portable"
    assert_close_credit(named.report, file_report(generated["csv"], model).report)


def test_rerunning_gives_identical_results(generated):
    # The fast path (numpy over sorted keys) is identical to the bit. The portable path sums
    # floats inside DuckDB in whatever order its threads finish, so its last bits may move
    # from run to run (reported as a bug); it must agree to 1e-12.
    for model in ("linear", "time_decay", "shapley"):
        first, again = file_report(generated["parquet"], model), file_report(generated["parquet"], model)
        assert first.path_taken == "fast"
        assert first.report == again.report and first.notes == again.notes
        slow, slow_again = (file_report(generated["parquet"], model, fast=False) for _ in range(2))
        assert_same_report(slow.report, slow_again.report, tol=1e-12)
        assert slow.notes == slow_again.notes


# ---- time: microseconds over ten years -----------------------------------------------------------
#
# J7: zeta at 2016-01-01 00:00:00.000001, alpha at .000002, mid at 2025-12-31 23:59:59.999999
#     (converted, 10). Ordered by time, zeta is first (by name alpha would be) and mid last.
# J8: beta at 2020-06-01 12:00:00.5, alpha at 12:00:00.25 (converted, 30) → alpha first, beta last.
# first_touch: zeta (1, 10), alpha (1, 30).  last_touch: mid (1, 10), beta (1, 30).
MICRO_ROWS = [
    ("7", "2016-01-01T00:00:00.000001Z", "zeta", "false", ""),
    ("7", "2016-01-01T00:00:00.000002Z", "alpha", "false", ""),
    ("7", "2025-12-31T23:59:59.999999Z", "mid", "true", "10"),
    ("8", "2020-06-01T12:00:00.500000Z", "beta", "true", "30"),
    ("8", "2020-06-01T12:00:00.250000Z", "alpha", "false", ""),
]


@pytest.mark.parametrize("zone", ["Z", "+00:00", ""])
def test_sub_second_times_over_ten_years(tmp_path, zone):
    rows = [(j, t.replace("Z", zone), c, v, r) for j, t, c, v, r in MICRO_ROWS]
    path = write_csv(tmp_path / "micro.csv", rows)
    for fast in (None, False):
        first = {r["channel"]: r["conversions"] for r in file_report(path, "first_touch", fast=fast).report["channels"]}
        last = {r["channel"]: r["conversions"] for r in file_report(path, "last_touch", fast=fast).report["channels"]}
        assert first == {"zeta": 1, "alpha": 1, "mid": 0, "beta": 0}
        assert last == {"mid": 1, "beta": 1, "zeta": 0, "alpha": 0}
    if zone == "Z":
        for model in ("linear", "time_decay", "position_based", "markov", "shapley"):
            assert_close_credit(file_report(path, model).report, file_report(path, model, fast=False).report)


def test_microseconds_in_parquet_and_journey_ids_too_far_apart_to_pack(tmp_path):
    moments = [dt.datetime.fromisoformat(t.replace("Z", "+00:00")) for _, t, *_ in MICRO_ROWS]
    columns = {
        "timestamp": pa.array(moments, pa.timestamp("us", tz="UTC")),
        "channel": [r[2] for r in MICRO_ROWS],
        "converted": [r[3] == "true" for r in MICRO_ROWS],
        "revenue": [float(r[4] or 0) for r in MICRO_ROWS],
    }
    near = tmp_path / "near.parquet"
    pq.write_table(pa.table({"journey_id": [int(r[0]) for r in MICRO_ROWS], **columns}), near)
    # ids 2^40 apart: 41 bits of journey + 49 of microseconds over ten years cannot fit in 63.
    far = tmp_path / "far.parquet"
    pq.write_table(pa.table({"journey_id": [int(r[0]) << 40 for r in MICRO_ROWS], **columns}), far)
    for model in FILE_MODELS:
        packed, unpacked = file_report(near, model), file_report(far, model)
        assert packed.path_taken == "fast" and unpacked.path_taken == "portable"
        assert_close_credit(packed.report, unpacked.report)
    first = {r["channel"]: r["revenue"] for r in file_report(near, "first_touch").report["channels"]}
    assert first == {"zeta": 10, "alpha": 30, "mid": 0, "beta": 0}


def test_microseconds_without_an_offset_are_exact_after_2038(tmp_path):
    # 2039-04-02T01:11:15.813511 and .813512, one microsecond apart: zeta is first. Written with
    # "Z" they are parsed exactly; without an offset each cell goes through datetime.timestamp()
    # (a float), and the second loses its microsecond, ties with the first and is ordered by name.
    for zone in ("Z", ""):
        rows = [
            ("1", f"2039-04-02T01:11:15.813511{zone}", "zeta", "false", ""),
            ("1", f"2039-04-02T01:11:15.813512{zone}", "alpha", "true", "5"),
        ]
        found = file_report(write_csv(tmp_path / f"late{zone}.csv", rows), "first_touch").report
        assert {r["channel"]: r["conversions"] for r in found["channels"]} == {"zeta": 1, "alpha": 0}, zone


# ---- bad input -----------------------------------------------------------------------------------


def refused(path, *parts: str) -> str:
    with pytest.raises(FileError) as caught:
        file_report(path, "linear")
    message = str(caught.value)
    assert str(path) in message, message
    for part in parts:
        assert re.search(part, message), (part, message)
    return message


GOOD = [("1", "2026-03-01", "email", "true", "10"), ("2", "2026-03-02", "search", "false", "")]


@pytest.mark.parametrize(
    "bad, column, why",
    [
        (("3", "2026-03-03", "email", "true", "ten"), "revenue", "'ten' is not a number"),
        (("3", "2026-03-03", "email", "true", "-5"), "revenue", "0 or more"),
        (("3", "2026-03-03", "email", "true", "inf"), "revenue", "finite"),
        (("3", "2026-02-30", "email", "true", "5"), "timestamp", "'2026-02-30' is not a time"),
        (("3", "yesterday", "email", "true", "5"), "timestamp", "'yesterday' is not a time"),
        (("3", "2026-03-03", "email", "maybe", "5"), "converted", "'maybe' is not true or false"),
        (("", "2026-03-03", "email", "true", "5"), "journey_id", "required"),
        (("3", "2026-03-03", " ", "true", "5"), "channel", "required"),
        (("3", "", "email", "true", "5"), "timestamp", "required"),
    ],
)
def test_a_bad_cell_names_the_file_the_column_and_the_line(tmp_path, bad, column, why):
    # header = line 1, the good rows lines 2 and 3, the bad one line 4
    path = write_csv(tmp_path / "bad.csv", [*GOOD, bad, *GOOD])
    refused(path, r"line 4\b", f"column {column}", re.escape(why))


def test_the_line_counts_physical_lines_across_a_quoted_multi_line_cell(tmp_path):
    path = tmp_path / "multi.csv"
    path.write_text(
        HEADER + "\n"  # line 1
        '1,2026-03-01,"email\nfrom the\nnewsletter",true,10\n'  # lines 2–4
        "2,2026-03-02,search,false,\n"  # line 5
        "3,2026-03-03,display,maybe,\n"  # line 6
    )
    refused(path, r"line 6\b", "column converted", "'maybe'")


def test_the_first_bad_line_is_named_whatever_its_column(tmp_path):
    rows = [*GOOD, ("3", "2026-03-03", "email", "maybe", "5"), ("4", "never", "email", "true", "5")]
    refused(write_csv(tmp_path / "two.csv", rows), r"line 4\b", "column converted")


def test_a_row_with_a_missing_cell_is_refused(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text(HEADER + "\n1,2026-03-01,email,true,10\n2,2026-03-02,search,false\n3,2026-03-03,ads,true,5\n")
    refused(path, r"line 3\b")


def test_a_missing_column_is_named(tmp_path):
    path = write_csv(tmp_path / "four.csv", [r[:4] for r in GOOD], header="journey_id,timestamp,channel,converted")
    message = refused(path, "missing column revenue")
    assert "the file has: journey_id, timestamp, channel, converted" in message


def test_a_file_without_a_header_is_refused_naming_the_missing_columns(tmp_path):
    path = write_csv(tmp_path / "headless.csv", GOOD[1:], header=",".join(GOOD[0]))
    refused(path, "missing columns journey_id, timestamp, channel, converted, revenue")


def test_an_empty_file_is_refused(tmp_path):
    path = tmp_path / "nothing.csv"
    path.write_text("")
    refused(path, "empty")


def test_a_file_with_a_header_and_no_rows_says_so(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text(HEADER + "\n")
    message = refused(path, "no rows")
    assert "missing" not in message


def test_an_unknown_kind_of_file_is_refused(tmp_path):
    path = tmp_path / "journeys.xlsx"
    path.write_text("journey_id\n")
    refused(path, r"not a CSV \(\.csv\) or Parquet \(\.parquet\) file")
    refused(tmp_path / "missing.csv", "no such file")


def good_parquet(**changes) -> pa.Table:
    columns = {
        "journey_id": [1, 2, 3, 4],
        "timestamp": ["2026-03-01", "2026-03-02T10:00:00Z", "2026-03-03", "2026-03-04"],
        "channel": ["email", "search", "email", "display"],
        "converted": ["true", "no", "1", "false"],
        "revenue": [10.0, 0.0, 5.0, None],
    }
    columns.update(changes)
    return pa.table(columns)


@pytest.mark.parametrize(
    "changes, column, why",
    [
        ({"converted": ["true", "no", "maybe", "false"]}, "converted", "'maybe' is not true or false"),
        ({"revenue": [10.0, 0.0, -1.0, None]}, "revenue", "0 or more"),
        ({"revenue": ["10", "0", "lots", None]}, "revenue", "'lots' is not a number"),
        ({"timestamp": ["2026-03-01", "2026-03-02", "soon", "2026-03-04"]}, "timestamp", "'soon' is not a time"),
        ({"channel": ["email", "search", None, "display"]}, "channel", "required"),
        ({"journey_id": [1, 2, None, 4]}, "journey_id", "required"),
    ],
)
def test_a_bad_parquet_cell_names_the_file_the_column_and_the_row(tmp_path, changes, column, why):
    path = tmp_path / "bad.parquet"
    pq.write_table(good_parquet(**changes), path)
    refused(path, r"row 3\b", f"column {column}", re.escape(why))


def test_an_empty_revenue_in_a_parquet_text_column_is_zero(tmp_path):
    path = tmp_path / "text.parquet"
    pq.write_table(good_parquet(revenue=["10", "", "5", None]), path)
    found = file_report(path, "linear").report
    assert found["total_conversions"] == 2 and found["total_revenue"] == 15


def test_the_first_bad_parquet_row_is_named_whatever_its_column(tmp_path):
    path = tmp_path / "two.parquet"
    pq.write_table(
        good_parquet(converted=["true", "maybe", "1", "false"], timestamp=["2026-03-01", "x", "y", "2026-03-04"]), path
    )
    refused(path, r"row 2\b")


def test_a_parquet_file_without_a_column_without_rows_or_that_is_not_parquet(tmp_path):
    path = tmp_path / "three.parquet"
    pq.write_table(good_parquet().drop_columns(["channel"]), path)
    refused(path, "missing column channel")
    pq.write_table(good_parquet().slice(0, 0), path)
    refused(path, "no rows")
    path.write_text("journey_id,timestamp\n")
    refused(path, "not a readable Parquet file")


def test_models_that_need_the_store_are_refused_for_a_file(tmp_path):
    path = write_csv(tmp_path / "journeys.csv", HAND_ROWS)
    for model in ("w_shaped", "full_path"):
        with pytest.raises(ModelError, match=f"{model} credits the lead- and opportunity-creation touches"):
            file_report(path, model)
    with pytest.raises(ModelError, match="unknown model 'u_shaped' for a journeys file"):
        file_report(path, "u_shaped")

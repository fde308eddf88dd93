"""The vulnerability audit (truthguard.experiments.audit, ``truthguard audit``): its curve, its bound and
recommendation, its files, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import assert_input_error, make_runner, page_sources
from truthguard.aggregators import CRH, Mean
from truthguard.attacks import OptimizedAttack, ThreatModel
from truthguard.core.bounds import Bounds
from truthguard.datasets import make_synthetic
from truthguard.defenses import MWA
from truthguard.errors import InputError
from truthguard.experiments import audit, run_attack
from truthguard.experiments.audit import DEFAULT_DEFENSES, Audit, audit_sizes
from truthguard.experiments.audit_report import write_audit
from truthguard.experiments.config import Entry
from truthguard.metrics import deviation

WEIGHTED_MEDIAN = Entry("mwa", {"n_groups": None, "weighted_median": True})


@pytest.fixture(scope="module")
def data() -> object:
    return make_synthetic(n_tasks=60, n_workers=10, seed=0)


@pytest.fixture(scope="module")
def undefended(data: object) -> Audit:
    """CRH alone, k = 1, 2, 4 (the default sizes at 30 % of 10 honest workers)."""
    return audit(data.answers, data.bounds, CRH(), defenses=[], truth=data.truth)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def defended(data: object) -> Audit:
    """CRH and the weighted median with CRH's weights, k = 2 and 4."""
    return audit(data.answers, data.bounds, CRH(), defenses=[WEIGHTED_MEDIAN], sizes=[2, 4])  # type: ignore[attr-defined]


def test_default_sizes_double_up_to_the_largest_fraction() -> None:
    # k_max = round(0.3 * n / 0.7): 16 for Emotion's 38 workers, 4 for 10, 1 for 2.
    assert audit_sizes(38) == (1, 2, 4, 8, 16)
    assert audit_sizes(10) == (1, 2, 4)
    assert audit_sizes(2) == (1,)
    assert audit_sizes(100, 0.1) == (1, 2, 4, 8, 11)


def test_the_deviation_does_not_decrease_with_k(undefended: Audit) -> None:
    curve = undefended.curve
    assert list(curve["k"]) == [1, 2, 4]
    assert (curve["protection"] == "none").all()
    assert np.all(np.diff(curve["deviation"].to_numpy()) >= 0), curve["deviation"].tolist()
    assert curve["deviation"].iloc[-1] > 3 * curve["deviation"].iloc[0]  # more attackers, much further
    assert np.all(np.diff(curve["weight_share"].to_numpy()) >= 0)


def test_the_curve_is_the_attack_run_directly(data: object, undefended: Audit) -> None:
    """Each point is the optimised attack with k workers and the audit's seed, as run_attack runs it alone."""
    for k in (1, 4):
        report, _ = run_attack(data.answers, data.bounds, CRH(), OptimizedAttack(ThreatModel(n_malicious=k)),  # type: ignore[attr-defined]
                               data.truth, random_state=0)  # type: ignore[attr-defined]  # fmt: skip
        row = undefended.curve[undefended.curve["k"] == k].iloc[0]
        assert row["deviation"] == pytest.approx(report.deviation, rel=1e-12)
        assert row["weight_share"] == pytest.approx(report.malicious_weight_share, rel=1e-12)
        assert report.after is not None and row["mae"] == pytest.approx(report.after.mae, rel=1e-12)


def test_the_most_moved_tasks(data: object, undefended: Audit) -> None:
    """Per k, the top tasks by |shift| in decreasing order, the shift being poisoned minus clean estimate;
    with every task attacked, each has k malicious and 10 honest answers."""
    clean = CRH().fit(data.answers).truths_  # type: ignore[attr-defined]
    for k, rows in undefended.tasks.groupby("k"):
        assert len(rows) == 20 and list(rows["rank"]) == list(range(1, 21))
        assert np.all(np.diff(np.abs(rows["shift"].to_numpy())) <= 0)
        np.testing.assert_allclose(rows["clean"], clean.loc[rows["task"]].to_numpy())
        np.testing.assert_allclose(rows["shift"], rows["poisoned"] - rows["clean"])
        assert (rows["malicious_answers"] == k).all() and (rows["honest_answers"] == 10).all()
    largest = undefended.tasks[undefended.tasks["k"] == 4]["shift"].abs().iloc[0]
    assert largest >= undefended.curve["deviation"].iloc[-1]  # the top task moves at least the mean


def test_defenses_are_measured_transferred_and_adaptive(data: object, defended: Audit) -> None:
    attacks, curve = defended.attacks, defended.curve
    label = WEIGHTED_MEDIAN.label
    assert set(zip(attacks["protection"], attacks["mode"], strict=True)) == {
        ("none", "adaptive"), (label, "transfer"), (label, "adaptive")}  # fmt: skip
    for k in (2, 4):
        mine = attacks[(attacks["k"] == k) & (attacks["protection"] == label)]
        point = curve[(curve["k"] == k) & (curve["protection"] == label)].iloc[0]
        assert point["deviation"] == mine["deviation"].max()
        # The clean cost, computed independently: |weighted median - CRH| on the clean answers.
        median = MWA(base=CRH(), n_groups=None, weighted_median=True).fit(data.answers).truths_  # type: ignore[attr-defined]
        cost = deviation(median, CRH().fit(data.answers).truths_)  # type: ignore[attr-defined]
        assert point["clean_cost"] == pytest.approx(cost, rel=1e-12)
        assert point["bound"] == pytest.approx(point["deviation"] + cost, rel=1e-12)
    # The adaptive attack is crafted against the defense itself: on its own objective it is no weaker than
    # the transferred one, and the weighted median holds far better than CRH at k = 4.
    at4 = curve[curve["k"] == 4].set_index("protection")
    assert at4.loc[label, "deviation"] < 0.5 * at4.loc["none", "deviation"]


def test_the_recommendation_is_the_smallest_bound(defended: Audit) -> None:
    for k, group in defended.curve.groupby("k"):
        best = group.loc[group["bound"].idxmin(), "protection"]
        assert defended.recommended(k) == best
    assert defended.recommended() == defended.recommended(4)
    with pytest.raises(InputError, match="k=3 was not audited"):
        defended.recommended(3)


def test_the_default_defenses_skip_those_that_cannot_wrap_the_method(data: object) -> None:
    found = audit(data.answers, data.bounds, Mean(), sizes=[1], top=3)  # type: ignore[attr-defined]
    from truthguard.defenses.registry import make_defense

    wrappable = []
    for entry in DEFAULT_DEFENSES:
        try:
            make_defense(entry.name, Mean(), {"n_malicious": 1}, **entry.options)
            wrappable.append(entry.label)
        except InputError:
            pass
    assert list(dict.fromkeys(found.curve["protection"])) == ["none", *wrappable]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bounds": None}, "needs each task's legal range"),
        ({"sizes": [0, 2]}, "sizes must be positive"),
        ({"sizes": [1000]}, "exceeds 99% of all workers"),
        ({"max_fraction": 0.0}, r"max_fraction must be in \(0, 0.99\]"),
        ({"max_fraction": 0.01, "sizes": None}, "allows no malicious worker"),
        ({"defenses": [Entry("shield")]}, "defense shield: unknown defense 'shield'"),
        ({"defenses": [Entry("mwa", {"groups": 3})]}, "defense mwa"),
        ({"defenses": [Entry("mwa"), Entry("mwa")]}, "listed twice"),
        ({"tasks_per_worker": "half"}, "tasks_per_worker"),
        ({"top": 0}, "top must be a positive"),
    ],
)
def test_bad_settings_fail_before_any_attack(data: object, kwargs: dict[str, object], message: str) -> None:
    settings: dict[str, object] = {"bounds": data.bounds, "sizes": [1]} | kwargs  # type: ignore[attr-defined]
    bounds = settings.pop("bounds")
    with pytest.raises(InputError, match=message):
        audit(data.answers, bounds, CRH(), **settings)  # type: ignore[arg-type, attr-defined]


def test_answers_outside_the_bounds_are_refused(data: object) -> None:
    with pytest.raises(InputError, match="outside"):
        audit(data.answers, Bounds(0, 1), CRH(), sizes=[1])  # type: ignore[attr-defined]


def test_processes_give_the_same_audit(data: object, undefended: Audit) -> None:
    twice = audit(data.answers, data.bounds, CRH(), defenses=[], truth=data.truth, jobs=2)  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(twice.curve, undefended.curve)
    pd.testing.assert_frame_equal(twice.tasks, undefended.tasks)


def test_the_files(defended: Audit, tmp_path: Path) -> None:
    """Tables, JSON, figures of the expected size, a self-contained HTML page; the same audit gives the same
    bytes."""
    import matplotlib.image

    written = write_audit(defended, tmp_path / "a", "synthetic")
    again = write_audit(defended, tmp_path / "b", "synthetic")
    names = sorted(p.relative_to(tmp_path / "a").as_posix() for p in written)
    assert names == sorted([
        "attacks.csv", "audit.json", "curve.csv", "tasks.csv", "report.md", "report.html",
        "figures/audit_curves.png", "figures/audit_curves.svg", "figures/audit_tasks.png", "figures/audit_tasks.svg",
    ])  # fmt: skip
    for first, second in zip(written, again, strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name
    curve = pd.read_csv(tmp_path / "a" / "curve.csv")
    assert len(curve) == 4 and {"k", "protection", "deviation", "clean_cost", "bound", "weight_share"} <= set(curve)
    summary = json.loads((tmp_path / "a" / "audit.json").read_text())
    assert summary["recommended"] == defended.recommended() and summary["sizes"] == [2, 4]
    image = matplotlib.image.imread(tmp_path / "a" / "figures" / "audit_curves.png")
    assert image.shape[:2] == (540, 1650)  # 11 x 3.6 inches at 150 dpi
    markdown = (tmp_path / "a" / "report.md").read_text()
    assert "](figures/audit_curves.png)" in markdown and "](figures/audit_tasks.png)" in markdown
    assert "## Recommendation" in markdown and f"publish with {defended.recommended()}" in markdown
    sources = page_sources((tmp_path / "a" / "report.html").read_text())
    assert len(sources) == 2 and all(s.startswith("data:image/png;base64,") for s in sources)


def test_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_runner(capsys)
    folder = tmp_path / "audit"
    code, out, err = run("audit", "--dataset", "synthetic", "--dataset-option", "n_tasks=40",
                         "--dataset-option", "n_workers=8", "--k", "1,2", "--defense", "none", "--top", "5",
                         "-o", folder, "--json", "--jobs", "1")  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)  # one JSON object, nothing else on standard output
    assert summary["sizes"] == [1, 2] and summary["recommended"] == "none"
    assert [row["protection"] for row in summary["curve"]] == ["none", "none"]
    assert (folder / "report.html").is_file() and len(pd.read_csv(folder / "tasks.csv")) == 10
    code, out, err = run("audit", "--dataset", "synthetic", "--dataset-option", "n_tasks=40",
                         "--dataset-option", "n_workers=8", "--k", "1", "--defense",
                         "mwa:n_groups=none,weighted_median=true", "-o", tmp_path / "text", "--jobs", "1")  # fmt: skip
    assert code == 0, err
    assert "recommended" in out
    protections = pd.read_csv(tmp_path / "text" / "curve.csv")["protection"].tolist()
    assert protections == ["none", "mwa(n_groups=None, weighted_median=True)"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--k", "1,two"], "--k takes positive integers"),
        (["--defense", "shield"], "unknown defense 'shield'"),
        (["--defense", "mwa:groups"], "takes KEY=VALUE"),
        (["--tasks-per-worker", "many"], "--tasks-per-worker takes"),
        (["--method", "nope"], "unknown"),
        (["--jobs", "0"], "--jobs takes a positive"),
        (["--max-fraction", "1.5"], "max_fraction must be in"),
    ],
)
def test_bad_commands(argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_runner(capsys)
    folder = tmp_path / "out"
    line = assert_input_error(*run("audit", "--dataset", "synthetic", "--dataset-option", "n_tasks=20", *argv,
                                   "-o", folder))  # fmt: skip
    assert message in line
    assert not folder.exists()  # refused before anything was written


def test_a_file_without_bounds_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = tmp_path / "answers.csv"
    answers.write_text("task,worker,value\n1,a,1\n1,b,2\n2,a,3\n2,b,4\n")
    line = assert_input_error(*make_runner(capsys)("audit", answers, "-o", tmp_path / "out"))
    assert "--bounds LOW HIGH" in line and not (tmp_path / "out").exists()


def test_the_report_says_when_attackers_are_a_majority(data: object, tmp_path: Path) -> None:
    """12 attackers on every task of 10 honest workers give 12 of its 22 answers: the report says that no
    aggregation can outvote them."""
    found = audit(data.answers, data.bounds, CRH(), defenses=[], sizes=[12], top=3)  # type: ignore[attr-defined]
    assert found.curve["task_share"].iloc[0] == pytest.approx(12 / 22)
    write_audit(found, tmp_path, "synthetic")
    assert "a majority that no aggregation of the answers can outvote" in (tmp_path / "report.md").read_text()

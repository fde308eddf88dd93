"""Experiment files: read, checked in full before anything runs, expanded into cells."""

from __future__ import annotations

import json
import tomllib
import warnings
from pathlib import Path

import pandas as pd
import pytest

from cli_helpers import assert_input_error, make_runner, page_sources
from truthguard import InputError
from truthguard.aggregators import CRH
from truthguard.attacks import MaximumAttack, OptimizedAttack, ThreatModel
from truthguard.datasets import make_synthetic
from truthguard.defenses import MWA
from truthguard.experiments import read_experiment, run_attack
from truthguard.experiments.runner import run_experiment

GRID = """
name = "quick"
seeds = [0, 1]
fractions = [0.0, 0.1, 0.3]
coverage = ["all", "mean"]
knowledge = ["full", "partial"]

[[dataset]]
name = "synthetic"
options = { n_tasks = 300, n_workers = 30 }

[[aggregator]]
name = "crh"

[[defense]]
name = "none"

[[defense]]
name = "mwa"
params = { n_groups = 3 }

[[attack]]
name = "optimized"
params = { steps = 20 }

[[attack]]
name = "optimized"
params = { steps = 20 }
against = "defense"
"""

MINIMAL = '[[dataset]]\nname = "synthetic"\n[[aggregator]]\nname = "crh"\n'


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_grid_expands_into_cells(tmp_path: Path) -> None:
    """Counted by hand: per seed, the undefended CRH has one clean cell and 2 fractions x 2 coverages x 2
    knowledge settings of the transferred attack (8; crafted against the defense is the same attack when there
    is none); MWA has one clean cell and 8 + 8 (transferred and adaptive): (9 + 17) x 2 seeds = 52."""
    experiment = read_experiment(_write(tmp_path, GRID))
    cells = experiment.cells()
    assert len(cells) == 52
    keys = [cell.key for cell in cells]
    assert len(set(keys)) == len(keys)
    assert keys[0] == "synthetic(n_tasks=300, n_workers=30) | crh | none | none | seed=0"
    adaptive = [c for c in cells if c.attack.against == "defense"]
    assert len(adaptive) == 16 and all(c.defense.name == "mwa" for c in adaptive)
    base, judged, attack = experiment.build(adaptive[0])
    assert isinstance(base, CRH) and isinstance(judged, MWA) and judged.n_groups == 3
    assert isinstance(attack, OptimizedAttack) and attack.steps == 20 and attack.threat is not None
    assert attack.threat.fraction == 0.1 and attack.threat.tasks_per_worker is None
    assert experiment.to_dict()["attack"][1] == {"name": "optimized", "params": {"steps": 20}, "against": "defense"}
    assert read_experiment(experiment.to_dict()).cells() == cells  # the resolved configuration reads back


def test_an_attack_narrows_the_grid(tmp_path: Path) -> None:
    """An attack table's own knowledge and coverage lists replace the grid's for that attack only: the random
    attack knows nothing, so one knowledge setting is enough (per seed and defense: 2 fractions x 2 coverages
    x 1, against 2 x 2 x 2 for the optimised attack)."""
    text = GRID + '[[attack]]\nname = "random"\nknowledge = ["full"]\ncoverage = ["mean"]\n'
    experiment = read_experiment(_write(tmp_path, text))
    random = [c for c in experiment.cells() if c.attack.name == "random"]
    assert len(random) == 2 * 2 * 2 * 1 * 1  # seeds x defenses x fractions x coverage x knowledge
    assert {(c.knowledge, c.coverage) for c in random} == {("full", "mean")}
    assert experiment.to_dict()["attack"][2] == {
        "name": "random", "params": {}, "against": "base", "knowledge": ["full"], "coverage": ["mean"],
    }  # fmt: skip
    assert read_experiment(experiment.to_dict()).cells() == experiment.cells()


def test_defaults_of_a_minimal_file(tmp_path: Path) -> None:
    experiment = read_experiment(_write(tmp_path, MINIMAL))
    assert [cell.key for cell in experiment.cells()] == ["synthetic | crh | none | none | seed=0"]
    assert experiment.to_dict()["defense"] == [{"name": "none", "params": {}}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1\n" + MINIMAL, "unknown key 'colour'; allowed: name, seeds, fractions"),
        ("seeds = [-1]\n" + MINIMAL, "seeds must be integers >= 0; got -1"),
        ("seeds = [0, 0]\n" + MINIMAL, "seeds lists a value twice"),
        ("fractions = [1.5]\n" + MINIMAL, "fractions must be numbers in [0, 0.99]; got 1.5"),
        ('coverage = ["some"]\n' + MINIMAL, 'coverage must list "all", "mean" or a positive number of tasks'),
        ('knowledge = ["most"]\n' + MINIMAL, "unknown knowledge 'most'; choose one of full, partial"),
        ("known_fraction = 0\n" + MINIMAL, "known_fraction must be a number in (0, 1]"),
        ('[[aggregator]]\nname = "crh"\n', "no [[dataset]] table"),
        ('[[dataset]]\nname = "nope"\n[[aggregator]]\nname = "crh"\n', "[[dataset]] 1: unknown dataset 'nope'"),
        ('[[dataset]]\nname = "synthetic"\noptions = { size = 3 }\n[[aggregator]]\nname = "crh"\n',
         "[[dataset]] 1: 'synthetic' has no option 'size'; valid options: n_tasks"),
        (MINIMAL + '[[aggregator]]\nname = "crh"\n', "[[aggregator]] 2: the same as an earlier [[aggregator]]"),
        (MINIMAL.replace('"crh"', '"crh"\nparams = { max_iter = 0 }'), "[[aggregator]] 1: CRH max_iter must be"),
        (MINIMAL + '[[defense]]\nname = "mwa"\nparams = { n_groups = 0 }\n', "[[defense]] 1: MWA n_groups must be"),
        (MINIMAL.replace('"crh"', '"median"') + '[[defense]]\nname = "mwa"\n',
         "[[defense]] 1: MWA base must be an iterative aggregator"),
        (MINIMAL + '[[attack]]\nname = "optimised"\n', "[[attack]] 1: unknown attack 'optimised'; choose one of"),
        (MINIMAL + '[[attack]]\nname = "optimized"\nagainst = "target"\n',
         "unknown [[attack]] 1 against 'target'; choose one of base, defense"),
        (MINIMAL + '[[attack]]\nname = "optimized"\nparms = {}\n', "[[attack]] 1: unknown key 'parms'; allowed"),
        (MINIMAL + '[[attack]]\nname = "optimized"\nparams = 3\n', "[[attack]] 1: params must be a table"),
        (MINIMAL + '[[attack]]\nname = "random"\nknowledge = ["most"]\n',
         "unknown [[attack]] 1 knowledge 'most'; choose one of full, partial"),
        (MINIMAL + '[[attack]]\nname = "random"\ncoverage = []\n', "[[attack]] 1 coverage must be a non-empty list"),
        ('detectors = ["nope"]\n' + MINIMAL, "unknown detector 'nope'; choose one of"),
        ('detectors = "collusion"\n' + MINIMAL, "detectors must be a list of distinct detector names"),
        ("name = [\n", "is not valid TOML"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        read_experiment(_write(tmp_path, text))
    line = str(caught.value)
    assert message in line and "\n" not in line and line.startswith("experiment file ")


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist; check the path"):
        read_experiment(tmp_path / "absent.toml")


# ----------------------------------------------------------------------------------- running a grid

SMALL = """
name = "small"
seeds = [0, 1]
fractions = [0.0, 0.2]
coverage = ["all", "mean"]

[[dataset]]
name = "synthetic"
options = { n_tasks = 60, n_workers = 10, density = 0.5 }

[[aggregator]]
name = "crh"

[[defense]]
name = "none"

[[defense]]
name = "mie"
params = { n_malicious = 2 }

[[defense]]
name = "mie"
params = { n_malicious = 99 }    # more than there are workers: every attacked cell of it fails at fit time

[[attack]]
name = "maximum"
params = { mode = "far" }
"""

TIMINGS = ["seconds", "attack_seconds"]


def test_a_grid_runs_end_to_end_and_resumes(tmp_path: Path) -> None:
    """Rows: per seed, 1 clean + 2 attacked cells for each of the 3 defenses = 18. The impossible MIE fails in
    every one of its cells (clean included) with the fit's message, the others succeed; their figures are
    run_attack's for the same cell; a second run adds nothing and runs again only the failed cells."""
    experiment = read_experiment(_write(tmp_path, SMALL))
    out = tmp_path / "results"
    seen: list[dict[str, object]] = []
    table = run_experiment(experiment, out, jobs=1, on_cell=seen.append)
    assert len(table) == len(seen) == 18
    assert list(table["key"]) == [cell.key for cell in experiment.cells()]
    failed = table[table["status"] == "error"]
    assert set(failed["defense"]) == {"mie(n_malicious=99)"} and len(failed) == 6
    assert failed["error"].str.contains("would remove every one of the").all()
    ok = table[table["status"] == "ok"]
    for column in ["mae_before", "mae_after", "deviation", "malicious_weight_share", "seconds"]:
        assert ok[column].notna().all(), column
    attacked = ok[(ok["defense"] == "mie(n_malicious=2)") & (ok["fraction"] > 0)]
    assert attacked["removed_recall"].between(0, 1).all() and (attacked["removed"] == 2).all()
    row = ok[(ok["defense"] == "none") & (ok["coverage"] == "mean") & (ok["seed"] == 1)].iloc[0]
    data = make_synthetic(n_tasks=60, n_workers=10, density=0.5)
    threat = ThreatModel(fraction=0.2, tasks_per_worker="mean")
    report, _ = run_attack(data.answers, data.bounds, CRH(), MaximumAttack(threat, mode="far"), data.truth, 1)
    assert report.after is not None and row["mae_after"] == pytest.approx(report.after.mae, rel=1e-12)
    assert row["malicious_weight_share"] == pytest.approx(report.malicious_weight_share, rel=1e-12)
    on_disk = pd.read_parquet(out / "results.parquet")
    pd.testing.assert_frame_equal(on_disk, table)
    assert len(pd.read_csv(out / "results.csv")) == 18
    assert json.loads((out / "experiment.json").read_text())["experiment"] == experiment.to_dict()
    again: list[dict[str, object]] = []
    resumed = run_experiment(experiment, out, jobs=1, on_cell=again.append)
    assert len(again) == 6 and {r["status"] for r in again} == {"error"}  # only the failed cells ran again
    pd.testing.assert_frame_equal(resumed.drop(columns=TIMINGS), table.drop(columns=TIMINGS))


def test_processes_give_the_same_table(tmp_path: Path) -> None:
    experiment = read_experiment(_write(tmp_path, SMALL.replace("[0, 1]", "[0]")))
    serial = run_experiment(experiment, tmp_path / "one", jobs=1)
    parallel = run_experiment(experiment, tmp_path / "two", jobs=2)
    pd.testing.assert_frame_equal(serial.drop(columns=TIMINGS), parallel.drop(columns=TIMINGS))


def test_an_interrupted_journal_resumes(tmp_path: Path) -> None:
    """A crash mid-line leaves a cut last line: it is ignored and that cell runs again; a corrupt line
    before the last is an error naming the file."""
    experiment = read_experiment(_write(tmp_path, SMALL.replace("[0, 1]", "[0]")))
    out = tmp_path / "results"
    run_experiment(experiment, out, jobs=1)
    journal = out / "cells.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:3]) + "\n" + lines[3][: len(lines[3]) // 2])
    ran: list[dict[str, object]] = []
    table = run_experiment(experiment, out, jobs=1, on_cell=ran.append)
    kept_ok = sum(json.loads(line)["status"] == "ok" for line in lines[:3])
    assert len(table) == 9 and len(ran) == 9 - kept_ok  # intact finished cells stay; the others (the cut one) run
    journal.write_text("{broken\n" + "\n".join(lines))
    with pytest.raises(InputError, match=r"cells\.jsonl' is corrupt at line 1; delete it to start over"):
        run_experiment(experiment, out, jobs=1)


def test_cli_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_runner(capsys)
    path = _write(tmp_path, SMALL.replace("[0, 1]", "[0]"))
    code, out, _ = run("run", path, "-o", tmp_path / "results", "--jobs", "1", "--json")
    summary = json.loads(out)
    assert code == 1 and summary["cells"] == 9 and len(summary["failed"]) == 3  # failures: exit status 1
    assert "would remove every one of the" in summary["failed"][0]["error"]
    assert_input_error(*run("run", tmp_path / "absent.toml", "-o", tmp_path / "x"))
    assert "--jobs takes a positive number" in assert_input_error(
        *run("run", path, "-o", tmp_path / "x", "--jobs", "0")
    )


def test_the_readmes_experiment_file_is_valid() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    experiment = read_experiment(tomllib.loads(block))
    assert len(experiment.cells()) == 2 * (2 + 2 * 2 * 2 * 2)  # seeds x defenses x (clean + f x coverage x knowledge)


def test_removing_defenses_assume_the_cells_number_of_attackers(tmp_path: Path) -> None:
    """MIE without n_malicious removes as many workers as the cell has attackers (0 in the clean cell, where
    it is then the base method), the figure run_attack gives for MIE built with that k by hand."""
    text = (
        SMALL.replace("[0, 1]", "[0]")
        .replace("params = { n_malicious = 2 }", "")
        .replace('[[defense]]\nname = "mie"\nparams = { n_malicious = 99 }', "")
    )
    experiment = read_experiment(_write(tmp_path, text))
    table = run_experiment(experiment, tmp_path / "results", jobs=1)
    mie = table[table["defense"] == "mie"]
    clean = mie[mie["attack"] == "none"].iloc[0]
    assert clean["mae_after"] == pytest.approx(
        table[(table["defense"] == "none") & (table["attack"] == "none")].iloc[0]["mae_after"]
    )
    attacked = mie[mie["attack"] != "none"]
    k = ThreatModel(fraction=0.2).n_malicious_for(10)
    assert (attacked["removed"] == k).all() and (attacked["n_malicious"] == k).all()


def test_the_quick_reproduction(main_job: tuple[int, str, Path]) -> None:
    """`truthguard reproduce --quick`, the README's main job (run once by conftest): every cell of the built-in
    reduced grid succeeds, and the study's headline holds on it: at 30 % the optimised attack moves the
    undefended estimates more than the random attack does, for both methods."""
    code, _, folder = main_job
    table = pd.read_parquet(folder / "results" / "results.parquet")
    assert code == 0 and len(table) == 108 and (table["status"] == "ok").all()
    undefended = table[(table["defense"] == "none") & (table["fraction"] == 0.3) & (table["knowledge"] == "full")]
    damage = undefended.assign(attack=undefended["attack"].str.split("(").str[0]).groupby(["aggregator", "attack"])
    deviation = damage["deviation"].mean()
    for method in ("crh", "gtm"):
        assert deviation[(method, "optimized")] > deviation[(method, "random")]
    # Every attacked cell has its detectors' AUC, and detection.parquet their scores (one per worker).
    attacked = table[table["attack"] != "none"]
    assert attacked[["auc_combined", "auc_collusion", "f1_combined", "f1_collusion"]].notna().all().all()
    scores = pd.read_parquet(folder / "results" / "detection.parquet")
    assert set(scores["key"]) == set(attacked["key"]) and set(scores["detector"]) == {"combined", "collusion"}


def test_warnings_go_into_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker process has no terminal: what the library warns about in a cell is kept in its row."""
    from truthguard.errors import DominatedEstimateWarning
    from truthguard.experiments import runner

    measure = runner._measure

    def warning_measure(*args: object) -> dict[str, object]:
        warnings.warn(DominatedEstimateWarning("task 7 is dominated"), stacklevel=1)
        warnings.warn(DominatedEstimateWarning("task 7 is dominated"), stacklevel=1)  # once in the row
        return measure(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "_measure", warning_measure)
    table = run_experiment(read_experiment(_write(tmp_path, MINIMAL)), tmp_path / "results", jobs=1)
    assert list(table["warnings"]) == ["DominatedEstimateWarning: task 7 is dominated"]


def test_the_figures(main_job: tuple[int, str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The quick reproduction draws its figures: each kind as PNG and SVG, images of the size the layout asks
    for (2 methods x 1 dataset: 8.4 x 3.4 inches at 150 dpi); `truthguard plot` redraws them byte for byte."""
    from PIL import Image

    code, out, folder = main_job
    figures = folder / "results" / "figures"
    names = sorted(path.name for path in figures.iterdir())
    kinds = ["attacks", "defenses", "knowledge", "weight_share", "detection"]
    assert names == sorted(f"{kind}_mean.{suffix}" for kind in kinds for suffix in ("png", "svg"))
    assert "figures     10 files" in out and "report      " in out
    for kind in kinds:
        with Image.open(figures / f"{kind}_mean.png") as image:  # ROC panels are square: 8 x 4 inches
            assert image.size == ((1200, 600) if kind == "detection" else (1260, 510))
        assert (figures / f"{kind}_mean.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    copy = tmp_path / "copy"
    copy.mkdir()
    for table in ("results.parquet", "detection.parquet"):
        (copy / table).write_bytes((folder / "results" / table).read_bytes())
    run = make_runner(capsys)
    code, out, _ = run("plot", copy, "--json")
    assert code == 0 and len(json.loads(out)["figures"]) == 10
    for name in names:
        assert (copy / "figures" / name).read_bytes() == (figures / name).read_bytes(), name
    assert "no results table in" in assert_input_error(*run("plot", tmp_path / "absent"))


def test_the_report(main_job: tuple[int, str, Path]) -> None:
    """report.md links every PNG figure and holds the tables and the claims section; report.html is one
    self-contained page: it parses, embeds every PNG (base64), and refers to no other file."""
    _, _, folder = main_job
    results = folder / "results"
    markdown = (results / "report.md").read_text(encoding="utf-8")
    pngs = sorted(path.name for path in (results / "figures").glob("*.png"))
    for name in pngs:
        assert f"](figures/{name})" in markdown
    assert "## Beside the study's headline claims" in markdown and "almost 94 %" in markdown
    assert "| dataset | aggregator | attack | f = 0 | f = 0.1 | f = 0.3 |" in markdown
    sources = page_sources((results / "report.html").read_text(encoding="utf-8"))
    assert len(sources) == len(pngs) and all(s.startswith("data:image/png;base64,") for s in sources)


def test_detectors_score_every_attacked_cell(tmp_path: Path) -> None:
    """With ``detectors``, each attacked cell's AUC and F1 are detection() of the detector's scores of the
    poisoned answers (run_attack's, computed here independently), detection.parquet holds those scores with
    the attackers last, and the ROC curve drawn from them has the table's AUC as its area."""
    import numpy as np

    from truthguard.defenses import CollusionDetector
    from truthguard.metrics import detection, roc_curve

    text = SMALL.replace("[0, 1]", "[0]").replace('name = "small"', 'name = "small"\ndetectors = ["collusion"]')
    out = tmp_path / "results"
    table = run_experiment(read_experiment(_write(tmp_path, text)), out, jobs=1)
    ok = table[(table["status"] == "ok") & (table["attack"] != "none")]
    assert ok["auc_collusion"].notna().all() and table[table["attack"] == "none"]["auc_collusion"].isna().all()
    scores = pd.read_parquet(out / "detection.parquet")
    assert set(scores["key"]) == set(ok["key"])
    row = ok[(ok["defense"] == "none") & (ok["coverage"] == "mean")].iloc[0]
    data = make_synthetic(n_tasks=60, n_workers=10, density=0.5)
    threat = ThreatModel(fraction=0.2, tasks_per_worker="mean")
    _, poisoned = run_attack(data.answers, data.bounds, CRH(), MaximumAttack(threat, mode="far"), data.truth, 0)
    expected = CollusionDetector().score(poisoned.answers)
    found = detection(expected, poisoned.worker_is_malicious)
    assert row["auc_collusion"] == pytest.approx(found.roc_auc, rel=1e-12)
    assert row["f1_collusion"] == pytest.approx(found.f1, rel=1e-12)
    mine = scores[scores["key"] == row["key"]].sort_values("worker")
    np.testing.assert_allclose(mine["score"], expected.to_numpy(), rtol=1e-12)
    assert mine["malicious"].tolist() == poisoned.worker_is_malicious.tolist()
    fpr, tpr = roc_curve(mine["score"], mine["malicious"])
    assert np.trapezoid(tpr, fpr) == pytest.approx(row["auc_collusion"], rel=1e-12)


def _bars_shown(_: object) -> bool:
    from truthguard.core.progress import progress_enabled

    return progress_enabled()


def test_worker_processes_show_no_progress_bars() -> None:
    """Spawned workers inherit standard error, here a terminal: their own bars would garble the caller's, which
    counts their work, so they show none; in the caller's process the caller's setting holds."""
    import os
    import pty

    from truthguard.core.progress import set_progress
    from truthguard.experiments.parallel import parallel_map

    master, terminal = pty.openpty()
    saved = os.dup(2)
    os.dup2(terminal, 2)  # what the workers inherit as standard error
    try:
        shown = list(parallel_map(_bars_shown, [1, 2], workers=2))
    finally:
        os.dup2(saved, 2)
        for fd in (saved, terminal, master):
            os.close(fd)
    assert shown == [False, False]
    set_progress(True)
    try:
        assert list(parallel_map(_bars_shown, [1], workers=1)) == [True]
    finally:
        set_progress(None)


def test_an_attack_measured_under_several_defenses_fits_its_target_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a shared cache, the attacked method is fitted on the poisoned answers once, however many defenses
    the attack is then measured under (each report still gives the figures under the method)."""
    from truthguard.defenses import WeightCap

    data = make_synthetic(n_tasks=60, n_workers=10, seed=0)
    fitted_on: list[int] = []
    fit = CRH.fit

    def counting(self: CRH, answers: object) -> CRH:
        if type(self) is CRH:
            fitted_on.append(getattr(answers, "n_workers", 0))
        return fit(self, answers)  # type: ignore[arg-type]

    monkeypatch.setattr(CRH, "fit", counting)
    cache: dict[tuple[object, ...], object] = {}
    attack = MaximumAttack(ThreatModel(n_malicious=3), mode="far")
    reports, poisoned_fits = [], []
    for judge in (MWA(base=CRH()), WeightCap(base=CRH())):
        reports.append(run_attack(data.answers, data.bounds, CRH(), attack, data.truth, 0, evaluate_with=judge,
                                  cache=cache)[0])  # fmt: skip
        poisoned_fits.append(fitted_on.count(13))  # 10 honest + 3 malicious workers: the poisoned answers
    # The first call fits CRH on them for the attack's own objective and for the report; the second, none.
    assert poisoned_fits[0] >= 1 and poisoned_fits[1] == poisoned_fits[0]
    assert reports[0].under_target == reports[1].under_target

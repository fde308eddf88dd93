"""Experiment files: read, checked in full before anything runs, expanded into cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from truthguard import InputError
from truthguard.aggregators import CRH
from truthguard.attacks import OptimizedAttack
from truthguard.defenses import MWA
from truthguard.experiments.config import read_experiment

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

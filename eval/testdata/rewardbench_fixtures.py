#!/usr/bin/python3
"""rewardbench_fixtures.py writes rewardbench.json: RewardBench's own scoring
code run on synthetic per-pair rewards, the fixture eval's RewardBench test
compares against.

  /usr/bin/python3 eval/testdata/rewardbench_fixtures.py PATH/TO/reward-bench > eval/testdata/rewardbench.json

PATH/TO/reward-bench is a checkout of github.com/allenai/reward-bench. The
script runs, from that checkout and unchanged: constants.py (EXAMPLE_COUNTS,
SUBSET_MAPPING), utils.py's calculate_scores_per_section, and
analysis/get_benchmark_results.py's get_average_over_rewardbench (the
leaderboard's score, with "Prior Sets" at half weight); and it groups
per-pair results into subset accuracies as rewardbench/rewardbench.py does
(1 if chosen > rejected else 0; the mean per subset). Needs numpy and pandas
(Debian: python3-numpy python3-pandas).
"""
import ast
import json
import random
import subprocess
import sys

import numpy as np
import pandas as pd

repo = sys.argv[1]


def functions(path, names):
    """The named top-level functions of a file, as a namespace."""
    src = open(f"{repo}/{path}").read()
    tree = ast.parse(src)
    keep = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    ns = {"np": np, "pd": pd}
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), ns)
    return ns


constants = {}
exec(open(f"{repo}/rewardbench/constants.py").read(), constants)
EXAMPLE_COUNTS, SUBSET_MAPPING = constants["EXAMPLE_COUNTS"], constants["SUBSET_MAPPING"]
utils = functions("rewardbench/utils.py", {"calculate_scores_per_section"})
analysis = functions("analysis/get_benchmark_results.py", {"get_average_over_rewardbench"})
analysis["SUBSET_MAPPING"] = SUBSET_MAPPING
analysis["EXAMPLE_COUNTS"] = EXAMPLE_COUNTS
commit = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
if not commit:  # a bare mirror: --git-dir
    commit = subprocess.run(["git", "--git-dir", repo, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()

PRIOR = ["anthropic_helpful", "anthropic_harmless", "anthropic_hhh", "mtbench_gpt4", "mtbench_human", "shp", "summarize"]
ALL = [s for tests in SUBSET_MAPPING.values() for s in tests]


def case(name, subsets, rng, n=(3, 30), identical=0.0, ties=0.05):
    pairs = []
    for s in subsets:
        skill = rng.uniform(0.2, 0.9)
        for _ in range(rng.randint(*n)):
            same = rng.random() < identical
            c = round(rng.gauss(0, 1), 6)
            if same:
                r = c  # the model gives one text one reward
            elif rng.random() < ties:
                r = c
            else:
                r = round(c - abs(rng.gauss(0.3, 1)) if rng.random() < skill else c + abs(rng.gauss(0.3, 1)), 6)
            pairs.append([s, c, r, int(same)])  # subset, chosen's reward, rejected's, identical responses
    # as rewardbench.py: results per pair, then the mean per subset
    results_grouped = {}
    for s in sorted({p[0] for p in pairs}):
        res = [1 if p[1] > p[2] else 0 for p in pairs if p[0] == s]
        results_grouped[s] = sum(res) / len(res)
    rb = {s: a for s, a in results_grouped.items() if s in EXAMPLE_COUNTS}
    sections = utils["calculate_scores_per_section"](EXAMPLE_COUNTS, SUBSET_MAPPING, rb)
    out = {"name": name, "pairs": pairs, "subset_accuracy": results_grouped, "sections": sections}
    # the leaderboard's score needs every section present (np.average of no
    # columns divides by zero)
    if all(any(s in rb for s in tests) for tests in SUBSET_MAPPING.values()):
        df = pd.DataFrame([{"model": "m", "model_type": "t", **rb}])
        prefs = {s: results_grouped.get(s, np.nan) for s in ["anthropic_helpful", "anthropic_hhh", "shp", "summarize"]}
        df_prefs = pd.DataFrame([{"model": "m", **prefs}])
        lb = analysis["get_average_over_rewardbench"](df, df_prefs)
        out["leaderboard"] = float(lb["average"].values[0])
        prior = lb["Prior Sets (0.5 weight)"].values[0]
        if not np.isnan(prior):
            out["prior_sets"] = float(prior)
    return out


rng = random.Random(20261129)
cases = [
    case("every subset", ALL, rng),
    case("every subset, identical responses", ALL, rng, identical=0.15),
    case("some subsets missing", [s for i, s in enumerate(ALL) if i % 3 != 1], rng),
    case("a section missing (Reasoning)", [s for s in ALL if s not in SUBSET_MAPPING["Reasoning"]], rng),
    case("one subset", ["donotanswer"], rng),
    case("every subset and the prior sets", ALL + PRIOR, rng),
    case("every subset and two prior sets", ALL + ["shp", "anthropic_harmless", "summarize"], rng),
]
json.dump({
    "reward_bench_commit": commit,
    "made_by": "eval/testdata/rewardbench_fixtures.py",
    "cases": cases,
}, sys.stdout, indent=None, separators=(",", ":"))
print()

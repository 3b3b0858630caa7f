"""Choose: score a row's candidates and write the best one the way the labels are written.

Two choosers (--chooser):
- 'learned' (default): gradient-boosted trees over the candidate features (see
  transforms/logic/features.py), trained by `make train` on dev OCR output with folds by image,
  shipped as transforms/data/chooser.json and evaluated here with plain Python, so workers
  need no scikit-learn. A candidate's score is its estimated probability of being right.
- 'rules': the first, hand-set rule, kept as the fallback and the baseline: text prominence,
  plus 0.5 when an entity keyword stands on its line, plus 0.1 per repetition; a bare number
  (printed without a unit, see transforms/logic/features.py) only when no quantity has a unit.
Either way the best allowed candidate wins (ties go to the one read first). A row where nothing
was read gets the value its product group's training labels give most often (candidate group
'usual'; --blank_when_unread leaves it blank); on dev it is right on 7 of the 79 rows with
nothing read.

The learned chooser also abstains: when its best candidate's probability is under the
model's `abstain_below`, the row is left blank. Under the challenge's F1 a wrong value costs
as much as a blank where the value is printed, but where it is not (a fifth of the hand-read
test rows in mix/: a depth asked of a picture that shows two sides) only a blank is right.
`make train` picks the thresholds (one for every entity, and the dimensions' own) with the
best mix-weighted F1 out of fold (pipeline/train_chooser.py); a usual-value guess scores the
share of such guesses that were right in training.
"""
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Optional, Sequence

from transforms.logic.features import DIMENSIONS, FEATURES, UNPRINTED_GROUPS, Scored, same_measure
from transforms.logic.priors import Priors
from transforms.logic.units import METRIC_UNITS, TO_BASE_UNIT, format_prediction
from transforms.records import Candidate

CHOOSER_PATH = Path(__file__).parent.parent / 'data' / 'chooser.json'
CHOOSERS = ('learned', 'rules')
KEYWORD_BONUS = 0.5
REPEAT_BONUS = 0.1
LINE_BONUS = 0.5  # a length beside a dimension line its entity's way (see transforms/logic/lines.py)
BARE_NUMBER_PENALTY = 10.0  # more than any score a quantity with a unit can reach


def rule_score(scored: Scored) -> float:
    candidate = scored.candidate
    score = candidate.prominence + KEYWORD_BONUS * candidate.keyword + REPEAT_BONUS * candidate.repeats
    score += LINE_BONUS * scored.features.line_agrees
    return score - BARE_NUMBER_PENALTY if candidate.group in UNPRINTED_GROUPS else score


class TreeModel:
    """A binary gradient-boosted tree ensemble exported by pipeline/train_chooser.py from
    scikit-learn: probability = sigmoid(baseline + sum of leaf values). A node sends a feature
    that is missing (NaN) to the side in missing_left; candidates' features are never NaN."""

    def __init__(self, data: dict):
        if tuple(data['features']) != FEATURES:
            raise ValueError('chooser model was trained on other features than transforms/logic/features.py '
                             'computes: rebuild it with `make train`')
        self.data = data
        self.baseline = data['baseline']
        self.trees = data['trees']
        self.abstain_below = data.get('abstain_below', {'*': 0.0})
        self.usual_value_score = data.get('usual_value_score', 0.0)
        self.calibration = data.get('calibration')  # see transforms/logic/confidence.py

    def raw(self, features: Sequence[float]) -> float:
        total = self.baseline
        for tree in self.trees:
            node = 0
            while not tree['leaf'][node]:
                x = features[tree['feature'][node]]
                if x != x:  # NaN
                    go_left = tree['missing_left'][node]
                else:
                    go_left = x <= tree['threshold'][node]
                node = tree['left'][node] if go_left else tree['right'][node]
            total += tree['value'][node]
        return total

    def probability(self, features: Sequence[float]) -> float:
        return 1.0 / (1.0 + math.exp(-self.raw(features)))


def threshold_for(thresholds: dict, entity_name: str) -> float:
    """The abstention threshold of an entity: its own, or the one for every entity ('*')."""
    return thresholds.get(entity_name, thresholds.get('*', 0.0))


def load_model(path=CHOOSER_PATH) -> TreeModel:
    with open(path, encoding='utf-8') as handle:
        return TreeModel(json.load(handle))


def score_candidates(scored: Sequence[Scored], model) -> tuple:
    """The candidates with their scores filled in: the model's probability, or the rule score
    when model is None. Candidates whose unit the entity does not allow score 0."""
    result = []
    for item in scored:
        if not item.candidate.allowed:
            score = 0.0
        elif model is None:
            score = rule_score(item)
        else:
            score = model.probability(item.features)
        result.append(replace(item.candidate, score=round(score, 4)))
    return tuple(result)


def best_candidate(candidates):
    """The highest-scoring allowed and plausible candidate (the first read on a tie), or None: a
    value far outside what the entity's training labels hold never wins ('118292 fluid ounce')."""
    best = None
    for candidate in candidates:
        if candidate.allowed and candidate.plausible and (best is None or candidate.score > best.score):
            best = candidate
    return best


def catalogue_unit(best: Candidate, candidates: Sequence[Candidate], entity_name: str, group_id: str,
                   priors: Optional[Priors]) -> Candidate:
    """Of a value printed in two units ('40 cm / 15.7 in', '200 g (7 oz)'), the candidate in the unit
    the catalogue keeps. Printed truth accepts either unit, so this costs nothing there; on dev's
    catalogue labels the unit alone cost 52 of 776 rows (stop 34).

    - A length: the inch or foot twin of a metric one. Of dev's 38 dimension rows whose labelled
      length is printed both ways, the catalogue took the inch or foot value 25 times; the product
      group's most common unit in the training labels (which favour centimetres) named the label's
      unit 15 times, the chooser 14. Cross-validated, dev's mix-weighted F1 rose on all 13 splits
      tried (mean +0.020).
    - Any other entity: the twin in the unit the product group's training labels use more often.
      Of dev's 77 such rows, that habit named the label's unit 48 times (metric units 45, the
      chooser 42); dev's F1 rose on all 13 splits (mean +0.005)."""
    if best.group == 'usual':
        return best
    base = best.value * TO_BASE_UNIT[best.unit]
    twins = [c for c in candidates if c.allowed and c.plausible and c.unit != best.unit
             and c.group not in UNPRINTED_GROUPS and same_measure(base, c.value * TO_BASE_UNIT[c.unit])]
    if not twins:
        return best
    if entity_name in DIMENSIONS:
        imperial = [c for c in twins if c.unit not in METRIC_UNITS]
        return imperial[0] if imperial and best.unit in METRIC_UNITS else best
    labelled = priors.group_unit_counts(entity_name, group_id) if priors is not None else {}
    usual = max(twins, key=lambda c: labelled.get(c.unit, 0))
    return usual if labelled.get(usual.unit, 0) > labelled.get(best.unit, 0) else best


def usual_value(entity_name: str, group_id: str, priors: Priors, score: float = 0.0) -> Optional[Candidate]:
    """The value the product group's training labels give most often, as a candidate read
    nowhere (group 'usual', no box): the last resort for a row whose image shows no quantity."""
    usual = priors.usual_values(entity_name, group_id) if priors is not None else []
    if not usual:
        return None
    value, unit = usual[0]
    return Candidate(value, unit, '', 0, 0, 0, 0, True, score, group='usual')


def write_value(value: float, unit: str, entity_name: str, group_id: str, priors: Priors) -> str:
    """'500.0 gram', or '500 gram' where the training labels of this entity, unit and product
    group mostly write whole numbers that way (the official scorer compares strings)."""
    if value == int(value) and priors is not None and priors.integer_share(entity_name, unit, group_id) > 0.5:
        return f'{int(value)} {unit}'
    return format_prediction(value, unit)


def choose(scored: Sequence[Scored], entity_name: str, group_id: str, priors: Priors, model,
           guess_usual_value: bool = True, abstain: bool = True) -> tuple:
    """(prediction string or '', candidates) for one row. A row with no allowed candidate gets
    the group's usual value, added to its candidates; guess_usual_value=False leaves it blank.
    The best candidate scoring under the model's abstain_below gives '' (abstain=False: never).
    The best is written in the unit the catalogue keeps (catalogue_unit)."""
    candidates = score_candidates(scored, model)
    best = best_candidate(candidates)
    if best is None and guess_usual_value:
        best = usual_value(entity_name, group_id, priors, model.usual_value_score if model else 0.0)
        candidates += (best,) if best else ()
    if best is not None and abstain and model is not None:
        if best.score < threshold_for(model.abstain_below, entity_name):
            best = None
    written = catalogue_unit(best, candidates, entity_name, group_id, priors) if best else None
    prediction = write_value(written.value, written.unit, entity_name, group_id, priors) if written else ''
    return prediction, candidates

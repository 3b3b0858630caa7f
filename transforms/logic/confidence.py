"""Confidence: the calibrated probability that a row's chosen value is right.

The learned chooser's score is the tree model's probability that one candidate is right. How
often the row's *chosen* value turns out right at a given score differs from that, and differs
between families of entities: a depth scored 0.9 is wrong more often than a height or a width
scored 0.9 (the depth may not be printed at all, and catalogues and readers disagree on which
length is one), and those more often than a weight. So `make train` fits, on out-of-fold
scores of the cross-validated chooser, one Platt scaling (a logistic regression on the logit of the score)
per family in FAMILIES, and ships the slopes and intercepts in chooser.json ('calibration').
Here they are applied with plain Python, so workers need no scikit-learn.

The regression has one more input: whether the chosen value is printed a second time in another
unit ('15.7 in / 40 cm'). The chooser's score says the measure is right; which of its two units
a catalogue lists is far less certain (dev's labels took the metric one 45 times and the other
32 for weights and volumes, the inch 25 times and the centimetre 13 for lengths; the chooser's
pick was right on 59% of such rows, 86% of the others, cross-validated), so such a row is less
sure than its score. Its coefficient is 'twin' (0 in a chooser.json from before it).

**Which truth.** A value can be right in two senses, and the same score means different odds in
each: what the catalogue holds (the official grader's truth, dev/'s labels: one unit of a length
printed twice, the longest length as depth) and what the picture prints (mix/'s labels, read by
eye, where either unit is right). Cross-validated, a dimension scored about 0.85 was right 57% of
the time on catalogue truth and 86-98% on printed truth, so one curve fitted on both sets pooled
was right only on their pool and off by 0.1-0.3 on each: why the confidence shipped before
missed on the hidden sets. `make train` fits the curves once per truth (TRUTHS) and
`--confidence_truth` picks which one the job's confidences estimate; the default is the
catalogue's, the stricter of the two (a threshold picked on it holds its precision on printed
truth too).

A row without a prediction has confidence 0. With the rule chooser the confidence is the
learned model's calibrated probability of the candidate the rules took.
"""
import math
from typing import Optional, Sequence

# entity families calibrated apart: depth, height and width, and every other entity ('*'). Depth
# apart from the other two: cross-validated on dev + mix (GroupKFold and 4 random deals), the
# precision of the surest half of the rows rose in every split, 0.941 -> 0.950 on average.
FAMILIES = {'depth': ('depth',), 'height_width': ('height', 'width'), '*': ()}
# the truths a confidence can estimate (see above): the catalogue's (default) and the picture's
TRUTHS = ('catalogue', 'printed')
DEFAULT_TRUTH = 'catalogue'
# scores are clipped to this before the logit: a tree model's 0 or 1 would give infinity
_EDGE = 1e-4


def family_of(entity_name: str) -> str:
    for family, entities in FAMILIES.items():
        if entity_name in entities:
            return family
    return '*'


def logit(probability: float) -> float:
    p = min(max(probability, _EDGE), 1.0 - _EDGE)
    return math.log(p / (1.0 - p))


def calibrate(calibration: Optional[dict], entity_name: str, score: float, twin: bool = False,
              truth: str = DEFAULT_TRUTH) -> float:
    """The confidence of a chosen value with this chooser score, printed in another unit too or
    not (twin), on this truth. calibration: chooser.json's {'truths': {truth: {'families': {family:
    {'slope': a, 'intercept': b, 'twin': c}}}}} (a file from before the truths: {'families': ...},
    the same for both); without one, the score itself."""
    if not calibration:
        return min(max(score, 0.0), 1.0)
    families = calibration['truths'][truth]['families'] if 'truths' in calibration else calibration['families']
    platt = families.get(family_of(entity_name)) or families['*']
    z = platt['slope'] * logit(score) + platt['intercept'] + platt.get('twin', 0.0) * float(twin)
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def chosen_position(candidates: Sequence, prediction: str) -> Optional[int]:
    """Where the candidate that gave the prediction stands: choose() took the best allowed,
    plausible candidate, or appended the usual value (None without a prediction)."""
    from transforms.logic.chooser import best_candidate
    best = best_candidate(candidates) if prediction else None
    return None if best is None else list(candidates).index(best)


def chosen_score(candidates: Sequence, position: Optional[int], model, scored: Sequence = (),
                 rescore: bool = False) -> float:
    """The learned model's score of the chosen candidate, at `position` (0 without one). With
    the learned chooser its score is already the model's; with the rules (rescore) the
    candidate's features in `scored` are scored by the model here."""
    if position is None:
        return 0.0
    best = candidates[position]
    if best.group == 'usual':
        return model.usual_value_score
    if rescore and position < len(scored):
        return model.probability(scored[position].features)
    return best.score


def chosen_twin(position: Optional[int], scored: Sequence) -> bool:
    """Whether the chosen candidate, at `position`, is printed in another unit too (its features
    in `scored`, which choose()'s candidates follow one for one; the usual value comes after)."""
    return position is not None and position < len(scored) and scored[position].features.has_twin_in_other_unit > 0


def confidence_of(calibration: Optional[dict], entity_name: str, score: float, prediction: str,
                  twin: bool = False, truth: str = DEFAULT_TRUTH) -> float:
    """What a row's confidence is, in the job and in train_chooser's cross-validation alike: its
    chosen score calibrated and rounded to 4 decimals, 0 when the row has no prediction."""
    return round(calibrate(calibration, entity_name, score, twin, truth), 4) if prediction else 0.0


def row_confidence(candidates: Sequence, prediction: str, entity_name: str, model, scored: Sequence = (),
                   rescore: bool = False, truth: str = DEFAULT_TRUTH) -> float:
    """The calibrated confidence of a row's prediction on this truth (0 when blank or without a
    model); scored: the row's candidates with their features, rescore: the rules chose (see
    chosen_score)."""
    if not prediction or model is None:
        return 0.0
    position = chosen_position(candidates, prediction)
    return confidence_of(model.calibration, entity_name, chosen_score(candidates, position, model, scored, rescore),
                         prediction, chosen_twin(position, scored), truth)

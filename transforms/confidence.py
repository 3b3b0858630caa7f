"""Confidence: the calibrated probability that a row's chosen value is right.

The learned chooser's score is the tree model's probability that one candidate is right. How
often the row's *chosen* value turns out right at a given score differs from that, and differs
between families of entities: a depth scored 0.9 is wrong more often than a height or a width
scored 0.9 (the depth may not be printed at all, and catalogues and readers disagree on which
length is one), and those more often than a weight. So `make train` fits, on out-of-fold
scores of the cross-validated chooser, one Platt scaling (a logistic regression on the logit of the score)
per family in FAMILIES, and ships the slopes and intercepts in chooser.json ('calibration').
Here they are applied with plain Python, so workers need no scikit-learn.

A row without a prediction has confidence 0. With the rule chooser the confidence is the
learned model's calibrated probability of the candidate the rules took.
"""
import math
from typing import Optional, Sequence

# entity families calibrated apart: depth, height and width, and every other entity ('*'). Depth
# apart from the other two: cross-validated on dev + mix (GroupKFold and 4 random deals), the
# precision of the surest half of the rows rose in every split, 0.941 -> 0.950 on average.
FAMILIES = {'depth': ('depth',), 'height_width': ('height', 'width'), '*': ()}
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


def calibrate(calibration: Optional[dict], entity_name: str, score: float) -> float:
    """The confidence of a chosen value with this chooser score. calibration: chooser.json's
    {'families': {family: {'slope': a, 'intercept': b}}}; without one, the score itself."""
    if not calibration:
        return min(max(score, 0.0), 1.0)
    families = calibration['families']
    platt = families.get(family_of(entity_name)) or families['*']
    z = platt['slope'] * logit(score) + platt['intercept']
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def chosen_score(candidates: Sequence, prediction: str, model, scored: Sequence = ()) -> float:
    """The learned model's score of the candidate that gave the prediction (0 without one).
    choose() took the best allowed, plausible candidate (or appended the usual value): with the
    learned chooser its score is already the model's; with the rules (model scores absent) the
    candidate's features in `scored` are scored by the model here."""
    from transforms.choose import best_candidate
    best = best_candidate(candidates) if prediction else None
    if best is None:
        return 0.0
    if best.group == 'usual':
        return model.usual_value_score
    position = list(candidates).index(best)
    if scored and position < len(scored):
        return model.probability(scored[position].features)
    return best.score


def confidence_of(calibration: Optional[dict], entity_name: str, score: float, prediction: str) -> float:
    """What a row's confidence is, in the job and in train_chooser's cross-validation alike: its
    chosen score calibrated and rounded to 4 decimals, 0 when the row has no prediction."""
    return round(calibrate(calibration, entity_name, score), 4) if prediction else 0.0


def row_confidence(candidates: Sequence, prediction: str, entity_name: str, model, scored: Sequence = ()) -> float:
    """The calibrated confidence of a row's prediction (0 when blank or without a model)."""
    if not prediction or model is None:
        return 0.0
    return confidence_of(model.calibration, entity_name, chosen_score(candidates, prediction, model, scored),
                         prediction)
